"""benchmarks.retention: collecting `seeds.json` of seeded runs, and --keep adding to the committed file."""

import json

import pytest

from benchmarks import retention


def _run(tmp_path, name, mean):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "seeds.json").write_text(json.dumps({"seeds": [42, 43, 44], "test_metric_mean": mean,
                                                   "test_metric_sd": 0.01, "scratch": "not kept"}))
    return folder


def test_collect_writes_each_preset_and_drops_other_fields(tmp_path):
    out = tmp_path / "retention_seeds.json"
    retention.main(["--run", f"tinybert4={_run(tmp_path, 'a', 0.84)}", "--command", "run a", "--out", str(out)])
    written = json.loads(out.read_text())
    assert written == {"command": "run a", "tinybert4": {"seeds": [42, 43, 44], "test_metric_mean": 0.84,
                                                          "test_metric_sd": 0.01, "command": "run a"}}


def test_keep_adds_a_preset_and_joins_the_commands(tmp_path):
    out = tmp_path / "retention_seeds.json"
    retention.main(["--run", f"tinybert4={_run(tmp_path, 'a', 0.84)}", "--command", "run a", "--out", str(out)])
    retention.main(["--run", f"small={_run(tmp_path, 'b', 0.80)}:a label", "--command", "run b", "--keep",
                    "--out", str(out)])
    written = json.loads(out.read_text())
    assert written["command"] == "run a; run b"
    assert written["tinybert4"]["test_metric_mean"] == 0.84
    assert written["small"]["test_metric_mean"] == 0.80 and written["small"]["label"] == "a label"


def test_keep_replacing_a_preset_drops_its_old_command(tmp_path):
    out = tmp_path / "retention_seeds.json"
    retention.main(["--run", f"tinybert4={_run(tmp_path, 'a', 0.84)}", "--run", f"small={_run(tmp_path, 'b', 0.80)}",
                    "--command", "run a and b", "--out", str(out)])
    retention.main(["--run", f"tinybert4={_run(tmp_path, 'c', 0.85)}", "--command", "run c", "--keep",
                    "--out", str(out)])
    written = json.loads(out.read_text())
    assert written["command"] == "run c; run a and b"
    assert (written["tinybert4"]["command"], written["small"]["command"]) == ("run c", "run a and b")


def test_without_keep_the_file_is_replaced(tmp_path):
    out = tmp_path / "retention_seeds.json"
    retention.main(["--run", f"tinybert4={_run(tmp_path, 'a', 0.84)}", "--command", "run a", "--out", str(out)])
    retention.main(["--run", f"small={_run(tmp_path, 'b', 0.80)}", "--command", "run b", "--out", str(out)])
    assert set(json.loads(out.read_text())) == {"command", "small"}


def test_keep_without_a_file_says_how_to_start(tmp_path):
    with pytest.raises(SystemExit, match="without --keep"):
        retention.main(["--run", f"small={_run(tmp_path, 'b', 0.80)}", "--command", "run b", "--keep",
                        "--out", str(tmp_path / "missing.json")])
