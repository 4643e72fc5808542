"""Resuming a stage in a fresh process, when the process that was killed had trained earlier stages
with the same accelerator (the pipeline's case: teacher, then general distillation, then kill -9)."""

from __future__ import annotations

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
