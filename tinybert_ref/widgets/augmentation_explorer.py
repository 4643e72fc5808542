"""Algorithm 1 on your own sentence: each word's candidates and the augmented copies, with sources (notebook 06).

`AugmentationExplorer` runs the package's own Algorithm 1 on one sentence: `augment.algorithm.candidate_sets`
(the masked LM for single-piece words, GloVe neighbours for multi-piece words), then
`augment.algorithm.sample_copies` (N_a copies, each word replaced with probability p_t), the same functions the
pipeline's augmentation stage runs. Static outputs first: `candidates_frame` (a pandas table of every word, its
source and its candidates) and `copies_figure` (a matplotlib Figure, the original on top and one row per copy,
each replaced word coloured by where it came from). nbval and exported HTML have no widget front end, so the
notebook shows those above the widget; `augmentation_explorer(...)` returns the ipywidgets VBox (sentence box,
p_t, K, N_a and seed).
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

from ..augment.algorithm import AugmentedExample, WordCandidates, candidate_sets, sample_copies

__all__ = ["SOURCE_COLOURS", "SOURCE_NAMES", "AugmentationExplorer", "augmentation_explorer", "candidates_frame",
           "copies_figure", "copy_words"]

SOURCE_COLOURS = {"mlm": "#2b6cb0", "glove": "#c05621"}
SOURCE_NAMES = {
    "mlm": "masked LM (single piece)",
    "glove": "GloVe (several pieces)",
    "none": "no candidate left: kept",
    "skip": "never replaced (stop word, number, punctuation)",
}
_KEPT_COLOUR, _SKIP_COLOUR = "#222222", "#9a9a9a"


def copy_words(words: Sequence[WordCandidates], example: AugmentedExample) -> list[tuple[str, str | None]]:
    """The words of one output sentence as (word, source of its replacement or None when unchanged)."""
    row: list[tuple[str, str | None]] = [(w.word, None) for w in words]
    for change in example.replacements:
        row[change.position] = (change.replacement, change.source)
    return row


def candidates_frame(words: Sequence[WordCandidates], show: int = 8):
    """A pandas DataFrame, one row per word: the word, where its candidates come from, how many there are
    and the first `show` of them (best first)."""
    import pandas as pd

    return pd.DataFrame({
        "word": [w.word for w in words],
        "source": [SOURCE_NAMES[w.source] for w in words],
        "candidates": [len(w.candidates) for w in words],
        f"first {show}": [", ".join(w.candidates[:show]) + (" ..." if len(w.candidates) > show else "")
                          for w in words],
    })


def _figure(figsize):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    plt.close(fig)  # as in `viz`: shown once as the cell's value, never leaks
    return fig, ax


def _row_box(label: str, row, skip: set[int]):
    """One sentence as packed text boxes: a monospace label, then each word in its colour."""
    from matplotlib.offsetbox import HPacker, TextArea

    boxes = [TextArea(f"{label:<9}", textprops={"family": "monospace", "size": 9, "color": "#555555"})]
    for j, (word, source) in enumerate(row):
        colour = SOURCE_COLOURS[source] if source else (_SKIP_COLOUR if j in skip else _KEPT_COLOUR)
        boxes.append(TextArea(word, textprops={"family": "monospace", "size": 9, "color": colour,
                                               "weight": "bold" if source else "normal"}))
    return HPacker(children=boxes, pad=0, sep=6, align="baseline")


def copies_figure(words: Sequence[WordCandidates], examples: Sequence[AugmentedExample], title: str | None = None):
    """The original sentence on top, then one row per augmented copy: a replaced word is bold and coloured by its
    source (masked LM or GloVe), a word Algorithm 1 never replaces is grey. Returns a matplotlib Figure."""
    from matplotlib.offsetbox import AnchoredOffsetbox, VPacker
    from matplotlib.patches import Patch

    copies = [e for e in examples if not e.is_original]
    rows = [("original", [(w.word, None) for w in words])]
    rows += [(f"copy {i}", copy_words(words, e)) for i, e in enumerate(copies, start=1)]
    skip = {j for j, w in enumerate(words) if w.source == "skip"}
    chars = max(10 + sum(len(word) + 1 for word, _ in row) for _, row in rows)
    fig, ax = _figure((max(7.0, 0.08 * chars + 0.4), 0.215 * len(rows) + 0.75))
    column = VPacker(children=[_row_box(label, row, skip) for label, row in rows], pad=0, sep=5, align="left")
    ax.add_artist(AnchoredOffsetbox(loc="upper left", child=column, frameon=False, pad=0.2, borderpad=0))
    ax.axis("off")
    counts = {source: sum(r.source == source for e in copies for r in e.replacements) for source in SOURCE_COLOURS}
    labels = {"mlm": "masked LM", "glove": "GloVe"}
    ax.legend(handles=[Patch(color=SOURCE_COLOURS[s], label=f"{labels[s]}: {counts[s]} replacements")
                       for s in SOURCE_COLOURS] + [Patch(color=_SKIP_COLOUR, label="never replaced")],
              loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, fontsize=8, frameon=False, borderaxespad=0.2)
    fig.suptitle(title or f"{len(copies)} distinct copies", fontsize=9, x=0.99, ha="right")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.6 / fig.get_figheight())
    return fig


class AugmentationExplorer:
    """Algorithm 1 on one sentence: candidates once per (sentence, K), copies for any p_t, N_a and seed.

    mlm: a masked LM (e.g. `load_pretrained_mlm(stage_dir / "model")[0]`); tokenizer: its tokenizer;
    word_vectors: `augment.wordvectors.WordVectors`. Raises ValueError for an empty sentence.
    """

    def __init__(self, mlm, tokenizer, word_vectors, sentence: str, k: int = 15):
        self.mlm, self.tokenizer, self.word_vectors = mlm, tokenizer, word_vectors
        self.sentence, self.k, self.words = None, None, []
        self.set_sentence(sentence, k)

    def set_sentence(self, sentence: str, k: int | None = None) -> None:
        """Compute the candidates of every word of `sentence` (the batched path, one sentence)."""
        k = self.k if k is None else k
        if not sentence.strip():
            raise ValueError("the sentence is empty; type a few words")
        words = candidate_sets([sentence], mlm=self.mlm, tokenizer=self.tokenizer, word_vectors=self.word_vectors,
                               k=k, progress=False)[0]
        if not words:
            raise ValueError(f"{sentence!r} has no words after tokenisation; type a few words")
        self.sentence, self.k, self.words = sentence, k, words

    def copies(self, p: float = 0.4, n_copies: int = 20, seed: int = 0) -> list[AugmentedExample]:
        """The original, then the distinct copies (Algorithm 1's sampling loop, as the pipeline runs it)."""
        if not 0 <= p <= 1 or n_copies < 0:
            raise ValueError(f"p_t = {p}, N_a = {n_copies}: need 0 <= p_t <= 1 and N_a >= 0")
        return sample_copies(0, self.sentence, self.words, p=p, n_copies=n_copies, seed=seed)

    def table(self, show: int = 8):
        """`candidates_frame` of the current sentence."""
        return candidates_frame(self.words, show)

    def figure(self, p: float = 0.4, n_copies: int = 20, seed: int = 0):
        """`copies_figure` of the copies for these settings."""
        examples = self.copies(p, n_copies, seed)
        title = f"p_t = {p:g}, K = {self.k}, N_a = {n_copies}: {len(examples) - 1} distinct copies"
        return copies_figure(self.words, examples, title)

    def widget(self, p: float = 0.4, n_copies: int = 20, seed: int = 0):
        """The ipywidgets VBox: sentence box; p_t, K, N_a and seed controls; the copies figure and the table."""
        import ipywidgets as widgets

        sentence_box = widgets.Text(value=self.sentence, description="sentence", continuous_update=False,
                                    layout=widgets.Layout(width="95%"))
        p_slider = widgets.FloatSlider(value=p, min=0.0, max=1.0, step=0.05, description="p_t")
        k_slider = widgets.IntSlider(value=self.k, min=1, max=30, description="K", continuous_update=False)
        n_slider = widgets.IntSlider(value=n_copies, min=0, max=30, description="N_a")
        seed_box = widgets.IntText(value=seed, description="seed")
        image, table, message = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start")), widgets.HTML(), widgets.HTML()

        def update(_change=None) -> None:
            try:
                if sentence_box.value != self.sentence or k_slider.value != self.k:
                    self.set_sentence(sentence_box.value, k_slider.value)
                figure = self.figure(p_slider.value, n_slider.value, seed_box.value)
                buffer = io.BytesIO()
                figure.savefig(buffer, format="png")
                image.value = buffer.getvalue()
                table.value = self.table().to_html(index=False)
                message.value = ""
            except ValueError as error:  # an empty sentence: say so, keep the last picture
                message.value = f"<span style='color:#b00'>{html.escape(str(error))}</span>"

        for control in (sentence_box, p_slider, k_slider, n_slider, seed_box):
            control.observe(update, names="value")
        update()
        box = widgets.VBox([sentence_box, widgets.HBox([p_slider, k_slider]), widgets.HBox([n_slider, seed_box]),
                            message, image, table])
        box.update = update  # for tests and scripted use
        return box


def augmentation_explorer(mlm, tokenizer, word_vectors, sentence: str, p: float = 0.4, k: int = 15,
                          n_copies: int = 20, seed: int = 0):
    """The notebook-06 widget: type a sentence, see its augmented copies and each replacement's source."""
    return AugmentationExplorer(mlm, tokenizer, word_vectors, sentence, k).widget(p, n_copies, seed)
