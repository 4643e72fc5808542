"""Checkers of notebook 00: reference and workshop solutions pass, the starter is `not_attempted`, and every
catalogued mistake, written the way a learner would write it, is named by its code."""

import importlib.util
from pathlib import Path

import pytest

from tinybert_ref.exercises import nb00

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "workshop" / "solutions" / "nb00.py"


def _solutions():
    spec = importlib.util.spec_from_file_location("nb00_solutions", SOLUTIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _starter(*args):
    raise NotImplementedError


@pytest.mark.parametrize("exercise", [nb00.q1, nb00.q2], ids=["q1", "q2"])
def test_starter_reference_hints(exercise):
    assert exercise.check(_starter).code == "not_attempted"
    assert exercise.check(exercise.reference).passed
    assert 1 <= len(exercise.hints) <= 3
    assert exercise.hint(9).startswith(f"Hint {len(exercise.hints)}/")
    assert "def " in exercise.solution()


def test_solutions_pass():
    solutions = _solutions()
    assert nb00.q1.check(solutions.count_parameters).code == "correct"
    assert nb00.q2.check(solutions.tinybert4_shape).code == "correct"


@pytest.mark.parametrize("answer, code", [
    (lambda m: len(list(m.parameters())), "counted_tensors"),
    (lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad), "trainable_only"),
    (lambda m: sum(v.numel() for v in m.state_dict().values()), "counted_tied_twice"),
    (lambda m: sum(p.numel() for p in getattr(m, "bert", m).encoder.parameters()), "encoder_only"),
    (lambda m: sum(p.numel() for p in m.parameters()) / 1e6, "wrong_type"),
    (lambda m: sum(p.numel() for p in m.parameters()) + 1, "values"),
    (lambda m: m.no_such_attribute, "raises"),
])
def test_q1_mistakes(answer, code):
    assert nb00.q1.check(answer).code == code


def test_q1_on_the_real_teacher_size():
    """The count the notebook prints for MiniLM-L6 (22.7M, DESIGN.md section 3) is what the reference gives."""
    from tinybert_ref.models import count_parameters, load_teacher

    teacher, _ = load_teacher()
    assert count_parameters(teacher) == 22_713_216


@pytest.mark.parametrize("shape, code", [
    ({"num_hidden_layers": 6, "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12},
     "tinybert6_shape"),
    ({"num_hidden_layers": 12, "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12},
     "teacher_shape"),
    ({"num_hidden_layers": 6, "hidden_size": 384, "intermediate_size": 1536, "num_attention_heads": 12},
     "minilm_shape"),
    ({"num_hidden_layers": 4, "hidden_size": 312, "intermediate_size": 1200}, "missing_keys"),
    ({"num_hidden_layers": 4, "hidden_size": 312, "intermediate_size": 1200, "num_attention_heads": 4}, "values"),
    ([4, 312, 1200, 12], "wrong_type"),
])
def test_q2_mistakes(shape, code):
    assert nb00.q2.check(lambda: shape).code == code


def test_q2_accepts_extra_keys_and_builds_the_student():
    from tinybert_ref.models import build_student, count_parameters, load_teacher

    shape = {**nb00.tinybert4_shape(), "hidden_act": "gelu"}
    assert nb00.q2.check(lambda: shape).passed
    config = load_teacher(config_only=True)
    student = build_student(nb00.tinybert4_shape(), config)
    assert 14.0e6 < count_parameters(student) < 14.6e6  # the paper's 14.5M (Section 4.2)
