"""Checkers of notebook 00 (welcome): the harness's table for each exercise, and the reference on real models."""

from exercise_harness import Table, exercise_tests

from tinybert_ref.exercises import nb00


def _count(model):
    return sum(p.numel() for p in model.parameters())


def _shape(**changes):
    shape = {"num_hidden_layers": 4, "hidden_size": 312, "intermediate_size": 1200, "num_attention_heads": 12}
    return lambda: {**shape, **changes}


TABLES = {
    "q1": Table("count_parameters", wrong=[
        ("counted_tensors", lambda m: len(list(m.parameters()))),
        ("trainable_only", lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad)),
        ("counted_tied_twice", lambda m: sum(v.numel() for v in m.state_dict().values())),
        ("encoder_only", lambda m: sum(p.numel() for p in getattr(m, "bert", m).encoder.parameters())),
        ("wrong_type", lambda m: _count(m) / 1e6),
        ("values", lambda m: _count(m) + 1),
        ("raises", lambda m: m.no_such_attribute),
    ], passes=[lambda m: sum(p.numel() for p in m.parameters())]),
    "q2": Table("tinybert4_shape", wrong=[
        ("tinybert6_shape", _shape(num_hidden_layers=6, hidden_size=768, intermediate_size=3072)),
        ("teacher_shape", _shape(num_hidden_layers=12, hidden_size=768, intermediate_size=3072)),
        ("minilm_shape", _shape(num_hidden_layers=6, hidden_size=384, intermediate_size=1536)),
        ("missing_keys", lambda: {"num_hidden_layers": 4, "hidden_size": 312, "intermediate_size": 1200}),
        ("values", _shape(num_attention_heads=4)),
        ("wrong_type", lambda: [4, 312, 1200, 12]),
    ], passes=[_shape(hidden_act="gelu")]),
}

test_passes, test_not_attempted, test_wrong_answer, test_catalogue = exercise_tests(nb00, TABLES)


def test_q1_on_the_real_teacher_size():
    """The count the notebook prints for MiniLM-L6 (22.7M, DESIGN.md section 3) is what the reference gives."""
    from tinybert_ref.models import count_parameters, load_teacher

    teacher, _ = load_teacher()
    assert count_parameters(teacher) == 22_713_216


def test_q2_shape_builds_the_student():
    from tinybert_ref.models import build_student, count_parameters, load_teacher

    config = load_teacher(config_only=True)
    student = build_student(nb00.tinybert4_shape(), config)
    assert 14.0e6 < count_parameters(student) < 14.6e6  # the paper's 14.5M (Section 4.2)
