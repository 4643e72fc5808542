"""Explore the real teacher's attention: your sentence, any layer and head (notebook 01).

`AttentionExplorer` runs the teacher once per sentence (pre-softmax scores of every layer, through
`tinybert_ref.internals`), then draws one head with `viz.attention_heatmap` and lists, for each token,
the tokens it attends to most. `attention_explorer(...)` returns the ipywidgets object; the notebook
shows a static `viz.attention_heatmap` figure above it, since nbval and exported HTML have no widget
front end. Layers are numbered 1..N as in the paper; heads 0..H-1.
"""

from __future__ import annotations

import html
import io

import torch

from ..internals import forward_with_internals
from ..viz import attention_heatmap

__all__ = ["AttentionExplorer", "attention_explorer", "top_attended"]


def top_attended(probabilities: torch.Tensor, tokens: list[str], k: int = 3) -> list[tuple[str, list[tuple[str, float]]]]:
    """For each query token, its k most attended key tokens: [(query, [(key, probability), ...]), ...].

    probabilities: (L, L) of one head, rows = queries. Ties keep the earlier key."""
    if probabilities.shape != (len(tokens), len(tokens)):
        raise ValueError(f"probabilities {tuple(probabilities.shape)} do not match {len(tokens)} tokens")
    values, indices = probabilities.topk(min(k, len(tokens)), dim=-1)
    return [(tokens[q], [(tokens[int(i)], float(v)) for v, i in zip(values[q], indices[q], strict=True)])
            for q in range(len(tokens))]


class AttentionExplorer:
    """One sentence through the teacher; `view(layer, head)` gives the figure and the top-attended table.

    model: a `transformers` BertModel (e.g. `load_teacher()[0]`); tokenizer: its tokenizer.
    """

    def __init__(self, model, tokenizer, sentence: str, as_probabilities: bool = True, top_k: int = 3):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.as_probabilities, self.top_k = as_probabilities, top_k
        self.num_layers = model.config.num_hidden_layers
        self.num_heads = model.config.num_attention_heads
        self.set_sentence(sentence)

    def set_sentence(self, sentence: str) -> None:
        """Tokenise and run the teacher once; keeps tokens and the scores (N tensors (H, L, L))."""
        if not sentence.strip():
            raise ValueError("the sentence is empty; type a few words")
        encoded = self.tokenizer(sentence, return_tensors="pt", truncation=True, max_length=64)
        with torch.no_grad():
            internals = forward_with_internals(self.model, encoded["input_ids"], encoded["attention_mask"],
                                               encoded.get("token_type_ids"))
        self.sentence = sentence
        self.tokens = self.tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist())
        self.scores = [layer_scores[0] for layer_scores in internals.attention_scores]

    def _check(self, layer: int, head: int) -> None:
        if not 1 <= layer <= self.num_layers:
            raise ValueError(f"layer {layer} out of range: the teacher has layers 1..{self.num_layers}")
        if not 0 <= head < self.num_heads:
            raise ValueError(f"head {head} out of range: each layer has heads 0..{self.num_heads - 1}")

    def figure(self, layer: int, head: int):
        """Heat map of layer `layer` (1..N), head `head` (0..H-1): a matplotlib Figure."""
        self._check(layer, head)
        kind = "probabilities" if self.as_probabilities else "scores A"
        return attention_heatmap(self.scores[layer - 1][head], self.tokens, as_probabilities=self.as_probabilities,
                                 title=f"teacher layer {layer}, head {head}: {kind}")

    def table(self, layer: int, head: int) -> list[tuple[str, list[tuple[str, float]]]]:
        """`top_attended` for layer `layer`, head `head` (probabilities after softmax over keys)."""
        self._check(layer, head)
        return top_attended(self.scores[layer - 1][head].softmax(-1), self.tokens, self.top_k)

    def table_html(self, layer: int, head: int) -> str:
        rows = "".join(
            f"<tr><td><b>{html.escape(query)}</b></td><td>"
            + ", ".join(f"{html.escape(key)} ({p:.2f})" for key, p in keys) + "</td></tr>"
            for query, keys in self.table(layer, head))
        return f"<table><tr><th>token</th><th>attends most to (probability)</th></tr>{rows}</table>"

    def widget(self, layer: int = 1, head: int = 0):
        """The ipywidgets VBox: sentence box, layer and head sliders, the heat map and the table."""
        import ipywidgets as widgets

        sentence_box = widgets.Text(value=self.sentence, description="sentence", continuous_update=False,
                                    layout=widgets.Layout(width="95%"))
        layer_slider = widgets.IntSlider(value=layer, min=1, max=self.num_layers, description="layer")
        head_slider = widgets.IntSlider(value=head, min=0, max=self.num_heads - 1, description="head")
        # flex-start: in the HBox beside the taller table the browser would stretch the PNG vertically
        image = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))
        table, message = widgets.HTML(), widgets.HTML()

        def update(_change=None) -> None:
            try:
                if sentence_box.value != self.sentence:
                    self.set_sentence(sentence_box.value)
                figure = self.figure(layer_slider.value, head_slider.value)
                buffer = io.BytesIO()
                figure.savefig(buffer, format="png")
                image.value = buffer.getvalue()
                table.value = self.table_html(layer_slider.value, head_slider.value)
                message.value = ""
            except ValueError as error:  # an empty sentence: say so, keep the last picture
                message.value = f"<span style='color:#b00'>{html.escape(str(error))}</span>"

        for control in (sentence_box, layer_slider, head_slider):
            control.observe(update, names="value")
        update()
        box = widgets.VBox([sentence_box, widgets.HBox([layer_slider, head_slider]), message,
                            widgets.HBox([image, table])])
        box.update = update  # for tests and scripted use
        return box


def attention_explorer(model, tokenizer, sentence: str, layer: int = 1, head: int = 0, as_probabilities: bool = True):
    """The notebook-01 widget: pick layer and head of `model` on your own sentence (an ipywidgets VBox)."""
    return AttentionExplorer(model, tokenizer, sentence, as_probabilities).widget(layer, head)
