"""Widgets of notebooks 01 and 03, driven programmatically (widgets do not render under nbval)."""

import pytest
import torch

from tinybert_ref.widgets.attention_explorer import AttentionExplorer, attention_explorer, top_attended
from tinybert_ref.widgets.mapping_explorer import mapping_explorer, mapping_view, parse_layers


@pytest.fixture(scope="module")
def teacher():
    from tinybert_ref.models import load_teacher

    return load_teacher()


def test_top_attended():
    probabilities = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25], [0.0, 0.0, 1.0]])
    table = top_attended(probabilities, ["a", "b", "c"], k=2)
    assert table[0] == ("a", [("b", pytest.approx(0.7)), ("c", pytest.approx(0.2))])
    assert table[2][1][0][0] == "c"


def test_attention_explorer_view_matches_internals(teacher):
    from tinybert_ref.internals import forward_with_internals

    model, tokenizer = teacher
    explorer = AttentionExplorer(model, tokenizer, "The bank raised interest rates.")
    assert explorer.tokens[0] == "[CLS]" and explorer.tokens[-1] == "[SEP]"
    encoded = tokenizer("The bank raised interest rates.", return_tensors="pt")
    with torch.no_grad():
        scores = forward_with_internals(model, encoded["input_ids"], encoded["attention_mask"]).attention_scores
    torch.testing.assert_close(explorer.scores[5][11], scores[5][0, 11])
    figure = explorer.figure(6, 11)
    assert "layer 6, head 11" in figure.axes[0].get_title()
    table = explorer.table(2, 3)
    assert len(table) == len(explorer.tokens) and len(table[0][1]) == 3
    with pytest.raises(ValueError, match="layers 1..6"):
        explorer.figure(7, 0)


def test_attention_widget_updates(teacher):
    model, tokenizer = teacher
    box = attention_explorer(model, tokenizer, "Shares rise.")
    sentence, (layer, head), message, (image, table) = (box.children[0], box.children[1].children,
                                                         box.children[2], box.children[3].children)
    first = image.value
    assert first[:4] == b"\x89PNG" and "shares" in table.value
    layer.value, head.value = 4, 7
    assert image.value != first and message.value == ""
    sentence.value = "   "
    assert "empty" in message.value  # shown, not raised
    sentence.value = "Rates fell sharply."
    assert "rates" in table.value and message.value == ""


def test_widget_images_are_not_stretched(teacher):
    """An Image in a flex box (HBox/VBox) is stretched to the box unless align_self is set: JupyterLab drew the
    384x320 heat map of notebook 01 at 384x450 beside its taller table (seen in docs/screenshots)."""
    model, tokenizer = teacher
    for box in (attention_explorer(model, tokenizer, "Shares rise."), mapping_explorer(4, 12)):
        image = box.children[3].children[0]
        assert image.__class__.__name__ == "Image" and image.layout.align_self == "flex-start"


def test_mapping_view_and_errors():
    assert mapping_view(4, 12).mapping == [0, 3, 6, 9, 12]
    assert mapping_view(4, 6).mapping == [0, 2, 3, 5, 6]
    assert mapping_view(4, 12, "top").mapping == [0, 9, 10, 11, 12]
    assert mapping_view(4, 12, "explicit", "2, 5, 8, 12").mapping == [0, 2, 5, 8, 12]
    impossible = mapping_view(5, 4)
    assert impossible.mapping is None and "deeper than its teacher" in impossible.error
    assert "not strictly increasing" in mapping_view(3, 12, "explicit", "6, 3, 9").error
    assert parse_layers("3 6,9") == [3, 6, 9]
    with pytest.raises(ValueError, match="not a layer number"):
        parse_layers("3, six")


def test_mapping_widget_updates():
    box = mapping_explorer(4, 12)
    (_teacher, student), (menu, explicit), message, (image, table) = (
        box.children[0].children, box.children[1].children, box.children[2], box.children[3].children)
    assert message.value == "g = [0, 3, 6, 9, 12]" and image.value[:4] == b"\x89PNG"
    assert "Eq. 10" in table.value
    menu.value = "bottom"
    assert message.value == "g = [0, 1, 2, 3, 4]"
    student.value = 13
    assert "cannot map" in message.value and table.value == ""
    student.value, menu.value, explicit.value = 3, "explicit", "4, 8, 12"
    assert message.value == "g = [0, 4, 8, 12]"
