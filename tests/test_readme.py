"""The README quotes no hand-typed figure: its generated blocks equal what benchmarks/readme.py renders
from the committed JSON in benchmarks/results (fix a failure with `python -m benchmarks.readme`)."""

from __future__ import annotations

import json

import pytest

from benchmarks import readme


def test_readme_blocks_match_the_committed_results():
    assert readme.stale_blocks() == [], "README is stale: run `python -m benchmarks.readme` and commit"


def test_a_changed_result_makes_the_block_stale(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "inference.json").write_text(json.dumps({"ratios": {
        "reference": "bert_base", "student": "tinybert4", "params_with_projection": 7.5, "flops": 17.9,
        "latency_batch_1": 1.0}}))
    page = tmp_path / "README.md"
    page.write_text("# x\n\n<!-- begin:speed -->\nold\n<!-- end:speed -->\n"
                    + "".join(f"<!-- begin:{b} -->\n<!-- end:{b} -->\n" for b in readme.BLOCKS if b != "speed"))
    assert "speed" in readme.stale_blocks(page, folder)
    readme.update_readme(page, folder)
    assert readme.stale_blocks(page, folder) == []
    assert "| CPU latency, batch 1 | 1.0x | 9.4x (GPU) |" in page.read_text()


def test_missing_results_say_which_command_makes_them(tmp_path):
    blocks = readme.render_blocks(tmp_path)
    assert "tinybert-ref run" in blocks["results"] and "tinybert-ref ablate" in blocks["ablation"]
    assert "benchmarks.notebooks" in blocks["timetable"]


def test_a_readme_without_a_block_gets_a_clear_error(tmp_path):
    page = tmp_path / "README.md"
    page.write_text("# nothing generated here\n")
    with pytest.raises(ValueError, match="no block 'results'"):
        readme.update_readme(page, tmp_path)
