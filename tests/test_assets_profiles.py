"""The offline assets are found and the profiles reject bad keys."""

import subprocess
import sys

import numpy as np
import pytest

from tinybert_ref import assets, profiles


def test_offline_assets_exist():
    assert (assets.minilm_path() / "model.safetensors").is_file()
    topics = sorted(p.name for p in assets.bbc_root().iterdir() if p.is_dir())
    assert tuple(topics) == assets.BBC_TOPICS
    matrix, _index = assets.glove_files()
    assert np.load(matrix, mmap_mode="r").shape == (400000, 50)


def test_import_needs_no_network_and_no_torch():
    code = "import sys, tinybert_ref; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env={"HF_HUB_OFFLINE": "1", "PATH": ""})


def test_profiles():
    assert profiles.get_profile("ci").name == "ci"
    with pytest.raises(ValueError, match="valid profiles"):
        profiles.get_profile("huge")
    with pytest.raises(ValueError, match="valid keys"):
        profiles.override(profiles.get_profile("ci"), gd_stepz=3)
    with pytest.raises(TypeError, match="gd_steps"):
        profiles.override(profiles.get_profile("ci"), gd_steps="many")
    assert profiles.override(profiles.get_profile("ci"), gd_steps=7).gd_steps == 7


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("TINYBERT_PROFILE", "paper")
    assert profiles.get_profile().name == "paper"
