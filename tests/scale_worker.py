"""The `ci` profile's general distillation as `tests/test_scale.py` launches it, under torchrun or alone.

    python tests/scale_worker.py OUT [--dropout-off] [--kill-at="STAGE:STEP"]
    torchrun --standalone --nproc_per_node 2 tests/scale_worker.py OUT [--dropout-off] [--kill-at=...]

Runs `pipeline.prepare` and `pipeline.stage_general_distillation` unchanged (the run's batch size is
the global batch, so one process and two see the same batches). --dropout-off sets the student's dropout
to 0 (the teacher runs in eval mode anyway), so the two runs can be compared step by step. --kill-at
makes every process kill itself after that step's checkpoint (`faults.kill_after_checkpoint`). The main
process writes OUT/result.json: the processes, the loss history and the stage folder.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_name, "1")


def main(out: Path, dropout_off: bool, kill_at: str) -> None:
    from faults import kill_after_checkpoint
    from torch import nn

    from tinybert_ref import pipeline, stages
    from tinybert_ref.config import RunConfig
    from tinybert_ref.runtime import configure_logging

    configure_logging(quiet_libraries=True)
    kill_after_checkpoint(kill_at)
    if dropout_off:
        build_student = stages.build_student

        def without_dropout(*args, **kwargs):
            student = build_student(*args, **kwargs)
            for module in student.modules():
                if isinstance(module, nn.Dropout):
                    module.p = 0.0
            return student

        stages.build_student = without_dropout
    run = pipeline.prepare(RunConfig(profile="ci"), out)
    stage_dir, result = pipeline.stage_general_distillation(run)
    gathered = _gathered_predictions(run, stage_dir)
    if run.accelerator.is_main_process:
        history = json.loads((stage_dir / "history.json").read_text())
        (out / "result.json").write_text(json.dumps({
            "processes": run.accelerator.num_processes, "stage_dir": str(stage_dir), "history": history,
            "resumed": result["resumed"], "gathered": gathered}))


def _gathered_predictions(run, stage_dir: Path) -> dict:
    """Dev predictions of the general student with a seeded head, each process scoring its shard of an
    odd-sized dev set (63 examples), gathered, against one process predicting the whole set."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader
    from transformers import BertForSequenceClassification

    from tinybert_ref.evaluate import predict, shard

    torch.manual_seed(0)  # the same classifier head on every process
    model = BertForSequenceClassification.from_pretrained(stage_dir / "model", num_labels=5).eval()
    dev = run.tokenized["dev"].select(range(63))
    loader = DataLoader(shard(dev, run.accelerator), batch_size=16, collate_fn=run.collate)
    logits, labels = predict(model, loader, progress=False, accelerator=run.accelerator)
    whole, _ = predict(model, DataLoader(dev, batch_size=16, collate_fn=run.collate), progress=False)
    return {"rows": len(logits), "labels_in_order": labels.tolist() == dev["label"],
            "max_logit_difference": float(np.abs(logits - whole).max())}


if __name__ == "__main__":
    kill_at = next((arg.partition("=")[2] for arg in sys.argv[2:] if arg.startswith("--kill-at=")), "")
    main(Path(sys.argv[1]), "--dropout-off" in sys.argv[2:], kill_at)
