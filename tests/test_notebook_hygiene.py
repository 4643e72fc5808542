"""The committed-notebook rule (README, "Notebooks"): notebooks are committed WITHOUT outputs.

Why: outputs would have to come from a laptop-profile execution of all ten notebooks, which would
change on every package change; stripped notebooks keep diffs reviewable and CI repeatable. Readers
see results by running a notebook (ci: about a minute each) or by opening the run folder's report.
"""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted(Path(__file__).resolve().parents[1].glob("notebooks/**/*.ipynb"))
NUMBERED = [p for p in NOTEBOOKS if p.parent.name == "notebooks" and p.name[:2].isdigit()]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped_and_clean(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name}: a code cell has outputs; strip them"
            assert cell.get("execution_count") is None, f"{path.name}: execution counts must be empty"
    assert "widgets" not in nb["metadata"], f"{path.name}: metadata.widgets breaks GitHub's viewer"
    assert set(nb["metadata"]) <= {"kernelspec", "language_info"}, f"{path.name}: machine-specific metadata"
    assert path.stat().st_size < 200_000, f"{path.name}: over its 200 kB budget"


@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.name)
def test_notebook_anatomy(path):
    nb = json.loads(path.read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"])
    first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert "tinybert_ref" in text and "setup(" in "".join(first_code["source"]), "first code cell calls setup()"
    assert "You will be able to" in text, "objectives at the top"
    assert "What to remember" in text, "a 'What to remember' section at the end"
    assert text.count(".check(") >= 2, "at least two checked exercises"
    assert "!pip" not in text, "no pip cells: the environment comes from the project's files"
