"""Layer mapping g(m) (Eq. 6): strategies, the non-divisible rule, explicit lists and their errors."""

import pytest

from tinybert_ref.mapping import layer_mapping, mapping_table, uniform_mapping, validate_mapping


def test_uniform_divisible_is_the_papers_3m():
    assert layer_mapping(4, 12) == [0, 3, 6, 9, 12]
    assert layer_mapping(6, 12, "uniform") == [0, 2, 4, 6, 8, 10, 12]
    assert layer_mapping(3, 6) == [0, 2, 4, 6]


def test_uniform_non_divisible_rounds_half_up_and_ends_on_last_teacher_layer():
    # 6 -> 4: m * 1.5 = 1.5, 3, 4.5, 6 -> halves go to the deeper layer (documented in uniform_mapping).
    assert layer_mapping(4, 6) == [0, 2, 3, 5, 6]
    assert layer_mapping(5, 12) == [0, 2, 5, 7, 10, 12]
    assert layer_mapping(3, 7) == [0, 2, 5, 7]


@pytest.mark.parametrize("teacher_layers", range(1, 25))
def test_uniform_is_strictly_increasing_and_ends_at_n_for_every_depth(teacher_layers):
    for student_layers in range(1, teacher_layers + 1):
        mapping = uniform_mapping(student_layers, teacher_layers)
        assert mapping[0] == 0 and mapping[-1] == teacher_layers and len(mapping) == student_layers + 1
        assert all(b > a for a, b in zip(mapping[:-1], mapping[1:], strict=True))
        if teacher_layers % student_layers == 0:
            step = teacher_layers // student_layers
            assert mapping == [step * m for m in range(student_layers + 1)]


def test_equal_depths_map_layer_to_layer():
    for strategy in ("uniform", "top", "bottom"):
        assert layer_mapping(6, 6, strategy) == [0, 1, 2, 3, 4, 5, 6]


def test_top_and_bottom():
    assert layer_mapping(4, 12, "top") == [0, 9, 10, 11, 12]
    assert layer_mapping(4, 12, "bottom") == [0, 1, 2, 3, 4]
    assert layer_mapping(4, 6, "top") == [0, 3, 4, 5, 6]


def test_explicit_lists_with_and_without_leading_zero():
    assert layer_mapping(4, 6, [2, 4, 5, 6]) == [0, 2, 4, 5, 6]
    assert layer_mapping(4, 6, (0, 2, 4, 5, 6)) == [0, 2, 4, 5, 6]
    assert layer_mapping(2, 6, [1, 6]) == [0, 1, 6]


def test_student_deeper_than_teacher_errors_with_fix():
    with pytest.raises(ValueError, match="cannot map 4 student layers onto 3 teacher layers.*explicit layer list"):
        layer_mapping(4, 3)
    with pytest.raises(ValueError, match="top strategy"):
        layer_mapping(4, 3, "top")


@pytest.mark.parametrize("student, teacher", [(0, 12), (-1, 12), (4, 0), (4, -3), (2.0, 6), (True, 6)])
def test_bad_depths_error(student, teacher):
    with pytest.raises(ValueError, match="positive whole number of layers"):
        layer_mapping(student, teacher)


def test_unknown_strategy_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown layer-mapping strategy 'middle'.*uniform, top, bottom"):
        layer_mapping(4, 12, "middle")


@pytest.mark.parametrize("layers, message", [
    ([3, 3, 6, 9], "not strictly increasing"),
    ([6, 3, 9, 12], "not strictly increasing"),
    ([3, 6, 9], "has 3 entries but the student has 4 layers"),
    ([3, 6, 9, 12, 12, 12], "has 6 entries"),
    ([3, 6, 9, 13], "teacher layer 13 .* out of range.*1..12"),
    ([0, 3, 6, 9], "teacher layer 0 .* out of range"),
    ([1, 3, 6, 9, 12], "must start with the embedding layer 0"),
    ([3, 6.5, 9, 12], "whole numbers"),
    (None, "list of ints"),
])
def test_bad_explicit_lists_name_the_problem(layers, message):
    with pytest.raises(ValueError, match=message):
        layer_mapping(4, 12, layers)


def test_validate_mapping():
    assert validate_mapping((0, 3, 6)) == [0, 3, 6]
    with pytest.raises(ValueError, match="g\\(0\\) = 0"):
        validate_mapping([3, 6, 9])
    with pytest.raises(ValueError, match="g\\(0\\) = 0"):
        validate_mapping([0])
    with pytest.raises(ValueError, match="out of range"):
        validate_mapping([0, 3, 7], teacher_layers=6)


def test_mapping_table_rows():
    assert mapping_table(layer_mapping(2, 6)) == [
        ("student embeddings", "teacher embeddings"),
        ("student layer 1", "teacher layer 3"),
        ("student layer 2", "teacher layer 6"),
    ]
    rows = mapping_table([0, 3, 6, 9, 12], include_prediction=True)
    assert len(rows) == 6 and rows[-1] == ("student prediction layer", "teacher prediction layer")
