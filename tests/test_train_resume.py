"""Resuming a stage in a fresh process, when the process that was killed had trained earlier stages
with the same accelerator (the pipeline's case: teacher, then general distillation, then kill -9)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from tinybert_ref.train import Schedule, make_accelerator, train


class _Regression(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.layer = nn.Linear(width, 1)

    def forward(self, batch):
        return {"total": ((self.layer(batch["x"]).squeeze(-1) - batch["y"]) ** 2).mean()}


def _data(width: int, n: int = 24):
    g = torch.Generator().manual_seed(width)
    x = torch.randn(n, width, generator=g)
    return [{"x": x[i], "y": x[i].sum()} for i in range(n)]


def _collate(rows):
    return {"x": torch.stack([r["x"] for r in rows]), "y": torch.stack([r["y"] for r in rows])}


def test_a_checkpoint_holds_only_its_own_stage_and_resumes_in_a_fresh_process(tmp_path):
    accelerator = make_accelerator(cpu=True)
    first = Schedule(max_steps=3, lr=1e-2, batch_size=8, checkpoint_every=1)
    train(_Regression(3), _data(3), _collate, first, accelerator, tmp_path / "a", progress=False)
    torch.manual_seed(0)
    second = _Regression(5)
    partial = Schedule(max_steps=2, lr=1e-2, batch_size=8, checkpoint_every=1)
    train(second, _data(5), _collate, partial, accelerator, tmp_path / "b", progress=False)
    saved = sorted(p.name for p in (tmp_path / "b" / "state").glob("model*.safetensors"))
    assert saved == ["model.safetensors"], f"the second stage's checkpoint also holds the first stage: {saved}"

    # a "fresh process": a new accelerator that never saw the first stage resumes the second at step 2
    torch.manual_seed(1)
    resumed = _Regression(5)
    full = Schedule(max_steps=4, lr=1e-2, batch_size=8, checkpoint_every=1)
    result = train(resumed, _data(5), _collate, full, make_accelerator(cpu=True), tmp_path / "b", progress=False)
    assert result.steps == 4 and [row["step"] for row in result.history] == [1, 2, 3, 4]


_SCRIPT = """
import logging, sys, torch
from torch import nn
logging.basicConfig(level=logging.INFO)
sys.path.insert(0, {tests!r})
from faults import kill_after_checkpoint
from test_train_resume import _collate, _data
from tinybert_ref.train import Schedule, make_accelerator, train

kill_after_checkpoint(sys.argv[3])

class Dropped(nn.Module):  # dropout: the resumed run must also restore the RNG, not only the weights
    def __init__(self):
        super().__init__()
        self.drop, self.layer = nn.Dropout(0.3), nn.Linear(5, 1)
    def forward(self, batch):
        return {{"total": ((self.layer(self.drop(batch["x"])).squeeze(-1) - batch["y"]) ** 2).mean()}}

torch.manual_seed(int(sys.argv[2]))
model = Dropped()
schedule = Schedule(max_steps=7, lr=1e-2, batch_size=8, checkpoint_every=1)  # 24 rows: 3 steps an epoch
train(model, _data(5), _collate, schedule, make_accelerator(cpu=True), sys.argv[1], desc="toy", progress=False)
torch.save(model.state_dict(), sys.argv[1] + "/final.pt")
"""


def _toy(folder, seed: int, kill_at: str = ""):
    script = _SCRIPT.format(tests=str(Path(__file__).parent))
    return subprocess.run([sys.executable, "-c", script, str(folder), str(seed), kill_at], capture_output=True,
                          text=True, timeout=300)


def test_kill_9_in_the_second_epoch_resumes_to_the_same_weights_with_dropout(tmp_path):
    straight = _toy(tmp_path / "straight", seed=0)
    assert straight.returncode == 0, straight.stderr[-2000:]
    killed = _toy(tmp_path / "killed", seed=0, kill_at="toy:4")  # step 4 = epoch 2, batch 2
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (tmp_path / "killed" / "final.pt").exists()
    resumed = _toy(tmp_path / "killed", seed=123)  # another init: the weights must come from the checkpoint
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "at step 4" in resumed.stderr, resumed.stderr[-2000:]  # train() logs "resuming <dir> at step 4"
    a, b = (torch.load(tmp_path / run / "final.pt") for run in ("straight", "killed"))
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst == 0.0, f"resumed weights differ from an uninterrupted run by up to {worst}"
