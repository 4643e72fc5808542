"""The workshop benchmark (`python -m benchmarks.workshop`) at `ci` size: it runs from an empty store, times the
run and measures notebook 08's attention distance at every checkpoint, without writing into benchmarks/results."""

import json

from benchmarks import RESULTS_DIR, workshop


def test_the_quick_path_is_timed_and_its_attention_distance_measured(tmp_path):
    before = sorted(p.name for p in RESULTS_DIR.iterdir())
    result = workshop.run(tmp_path, tiny=True)
    assert sorted(p.name for p in RESULTS_DIR.iterdir()) == before
    written = json.loads((tmp_path / "workshop.json").read_text())
    assert written["profile"] == "ci" and written["minutes"] > 0
    distances = written["attention_distance"]
    assert set(distances) == {"before_gd", "after_gd", "after_td1", "after_td2"}
    assert all(value > 0 for value in distances.values())
    assert result["ratio_after_td1_to_random"] == distances["after_td1"] / distances["before_gd"]
    assert written["met"]["ratio"] == (result["ratio_after_td1_to_random"] <= workshop.TARGET_RATIO)
