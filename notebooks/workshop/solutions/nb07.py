"""Workshop solutions for notebook 07 (task distillation). Each function passes `tinybert_ref.exercises.nb07`."""

import torch

from tinybert_ref.losses import prediction_loss


def retention(checkpoints, teacher):
    """q3: select the checkpoint on dev (the earlier one on a tie), report its test score over the teacher's."""
    best = checkpoints[0]
    for checkpoint in checkpoints[1:]:
        if checkpoint["dev"] > best["dev"]:
            best = checkpoint
    return best["test"] / teacher["test"]


def soft_targets(teacher_logits, temperature):
    """q1: the targets of Eq. 10, softmax(z^T / t) over the classes."""
    return torch.softmax(teacher_logits / temperature, dim=-1)


def my_prediction_step(student, teacher, batch, optimizer, temperature):
    """q2: one step of prediction-layer distillation (Eq. 10): the frozen teacher's logits, the student's, the soft
    cross-entropy at t; old gradients cleared before backward (backward adds to .grad), then the update."""
    with torch.no_grad():
        teacher_logits = teacher(**batch).logits
    loss = prediction_loss(student(**batch).logits, teacher_logits, temperature)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
