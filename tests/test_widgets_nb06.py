"""augmentation_explorer.py: the candidate table, the copies figure and the notebook-06 widget, driven
programmatically (widgets do not render under nbval). A small random masked LM with wide logits stands in
for the trained one: its candidates are noise, but the routes, sources and sampling are the real code's."""

from __future__ import annotations

import pytest
import torch

from tinybert_ref.augment.algorithm import candidate_sets, sample_copies
from tinybert_ref.augment.wordvectors import WordVectors
from tinybert_ref.widgets import augmentation_explorer as ae

SENTENCE = "Oil prices soar as hurricane hits Gulf refineries, says report from 2005"


@pytest.fixture(scope="module")
def parts(teacher_tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(vocab_size=30522, hidden_size=48, num_hidden_layers=2, num_attention_heads=12,
                        intermediate_size=96, initializer_range=0.2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        mlm = BertForMaskedLM(config).eval()
    return mlm, teacher_tokenizer, WordVectors.from_glove_package(limit=50_000)


@pytest.fixture(scope="module")
def explorer(parts):
    return ae.AugmentationExplorer(*parts, SENTENCE, k=15)


def test_explorer_runs_the_packages_algorithm(explorer, parts):
    mlm, tokenizer, vectors = parts
    assert explorer.words == candidate_sets([SENTENCE], mlm=mlm, tokenizer=tokenizer, word_vectors=vectors, k=15,
                                            progress=False)[0]
    assert explorer.copies(0.4, 20, 3) == sample_copies(0, SENTENCE, explorer.words, p=0.4, n_copies=20, seed=3)
    sources = {w.word: w.source for w in explorer.words}
    assert sources["refineries"] == "glove" and sources["hurricane"] == "mlm"
    assert sources["as"] == sources[","] == sources["2005"] == "skip"


def test_candidates_frame(explorer):
    table = explorer.table(show=3)
    assert list(table["word"]) == [w.word for w in explorer.words]
    row = table[table["word"] == "refineries"].iloc[0]
    assert row["source"] == ae.SOURCE_NAMES["glove"] and row["candidates"] == 15
    assert row["first 3"].endswith(" ...") and row["first 3"].count(",") == 2
    assert table[table["word"] == "as"].iloc[0]["candidates"] == 0


def test_copy_words_marks_each_replacement(explorer):
    examples = explorer.copies(1.0, 3, 0)
    for example in examples[1:]:
        row = ae.copy_words(explorer.words, example)
        assert " ".join(word for word, _ in row) == example.text
        assert {j for j, (_, source) in enumerate(row) if source} == {r.position for r in example.replacements}
        assert all(source in (None, "mlm", "glove") for _, source in row)


def test_copies_figure_colours_words_by_source(explorer):
    examples = explorer.copies(0.4, 6, 1)
    fig = ae.copies_figure(explorer.words, examples)
    texts = [t for t in fig.findobj(lambda artist: hasattr(artist, "get_text") and hasattr(artist, "get_color"))
             if t.get_text().strip()]
    by_text = {}
    for text in texts:
        by_text.setdefault(text.get_text().strip(), set()).add(text.get_color())
    assert "original" in by_text and f"copy {len(examples) - 1}" in by_text
    replaced = [(r.replacement, r.source) for e in examples[1:] for r in e.replacements]
    assert replaced
    for word, source in replaced:
        assert ae.SOURCE_COLOURS[source] in by_text[word]
    assert "#9a9a9a" in by_text["as"]  # never replaced: grey
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    counts = {s: sum(r.source == s for e in examples[1:] for r in e.replacements) for s in ae.SOURCE_COLOURS}
    assert legend[0] == f"masked LM: {counts['mlm']} replacements"
    assert legend[1] == f"GloVe: {counts['glove']} replacements"


def test_explorer_errors(parts):
    with pytest.raises(ValueError, match="empty"):
        ae.AugmentationExplorer(*parts, "   ")
    explorer = ae.AugmentationExplorer(*parts, "Shares rise")
    with pytest.raises(ValueError, match="p_t"):
        explorer.copies(1.5, 2, 0)


def test_widget_updates(parts):
    box = ae.augmentation_explorer(*parts, "Shares rise in Tokyo", n_copies=4)
    sentence, (p, k), (n_copies, seed), message, image, table = (
        box.children[0], box.children[1].children, box.children[2].children, *box.children[3:])
    first = image.value
    assert first[:4] == b"\x89PNG" and "tokyo" in table.value and message.value == ""
    p.value = 0.0
    assert image.value != first
    k.value = 3
    assert "masked LM" in table.value and message.value == ""
    sentence.value = "   "
    assert "empty" in message.value  # shown, not raised
    sentence.value = "Oil prices soar"
    assert "soar" in table.value and message.value == ""
    n_copies.value, seed.value = 2, 5
    assert message.value == ""
