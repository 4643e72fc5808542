"""The committed-notebook rule (README, "The notebooks"): notebooks are committed WITH the outputs of a
`laptop` execution made by the project's script (`python -m benchmarks.notebooks --profile laptop
--save`), top to bottom in a fresh kernel, so that people can read them without running anything.

Under nbval (CI, `ci` profile) those outputs are compared only in cells marked `# NBVAL_CHECK_OUTPUT`:
shapes, parameter counts and mapping tables, which do not depend on the profile; everything else must
only run without error (STYLE.md section 5).
"""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted(Path(__file__).resolve().parents[1].glob("notebooks/**/*.ipynb"))
NUMBERED = [p for p in NOTEBOOKS if p.parent.name == "notebooks" and p.name[:2].isdigit()]
BUDGET_BYTES = 1_500_000  # PNG figures at modest resolution; a notebook over this has a figure too large


def _code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.name)
def test_notebook_holds_one_laptop_execution(path):
    nb = json.loads(path.read_text())
    cells = _code_cells(nb)
    counts = [c.get("execution_count") for c in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..N: execute it with "
        f"`python -m benchmarks.notebooks --profile laptop --only {path.name[:2]} --save`, never by hand")
    setup_output = "".join("".join(o.get("text", "")) for o in cells[0]["outputs"] if o.get("output_type") == "stream")
    assert "profile laptop" in setup_output, f"{path.name}: the run-info line does not say laptop: {setup_output!r}"
    errors = [o for c in cells for o in c["outputs"] if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: a committed output is an error"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_metadata_and_size(path):
    nb = json.loads(path.read_text())
    assert "widgets" not in nb["metadata"], f"{path.name}: metadata.widgets breaks GitHub's viewer"
    assert set(nb["metadata"]) <= {"kernelspec", "language_info"}, f"{path.name}: machine-specific metadata"
    assert path.stat().st_size < BUDGET_BYTES, f"{path.name}: over its {BUDGET_BYTES // 1000} kB budget"


@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.name)
def test_notebook_anatomy(path):
    nb = json.loads(path.read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"])
    first_code = _code_cells(nb)[0]
    assert "tinybert_ref" in text and "setup(" in "".join(first_code["source"]), "first code cell calls setup()"
    assert "You will be able to" in text, "objectives at the top"
    assert "What to remember" in text, "a 'What to remember' section at the end"
    assert text.count(".check(") >= 2, "at least two checked exercises"
    assert "!pip" not in text, "no pip cells: the environment comes from the project's files"
