"""Watch attention transfer: teacher vs student scores over the distillation checkpoints (notebook 08).

For a student layer m and a head, the teacher's scores of layer g(m) sit beside the student's at a
checkpoint (before GD, after GD, after TD step 1, after TD step 2), with the per-layer attention loss
(Eq. 7) of general distillation and task distillation step 1 below, the checkpoint marked on it.

Static figures first (`checkpoint_grid`, `transfer_figure`, `loss_figure`, `mse_figure`), drawn with
`tinybert_ref.viz`; `transfer_explorer(...)` wraps the same functions in ipywidgets, and
`TransferExplorer.save_gif` writes the checkpoints as an animated GIF with `viz.save_gif`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .. import viz
from ..snapshots import AttentionSnapshots

__all__ = ["TransferExplorer", "checkpoint_grid", "transfer_figure", "loss_figure", "mse_figure", "distance_by_run_figure",
           "transfer_explorer"]


def _figure(nrows: int, ncols: int, figsize):
    """A Figure with a grid of axes, closed in pyplot at once as in `viz` (shown once, never leaks)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, layout="constrained", squeeze=False)
    plt.close(fig)
    return fig, axes


def _visible_range(matrices) -> tuple[float, float]:
    """(min, max) over the real (unpadded, unmasked) entries of (L, L) score matrices."""
    values = [np.asarray(m, dtype=np.float64) for m in matrices]
    visible = np.concatenate([v[v > viz.MASKED_BELOW].ravel() for v in values])
    return (float(visible.min()), float(visible.max())) if visible.size else (0.0, 1.0)


def _head_pair(attention: AttentionSnapshots, name: str, layer: int, head: int, example: int):
    teacher_scores, student_scores = attention.pair(name, layer)
    heads = student_scores.shape[1]
    if not 0 <= head < heads:
        raise ValueError(f"head {head} out of range: each layer has heads 0..{heads - 1}")
    if not 0 <= example < len(attention.tokens):
        raise ValueError(f"example {example} out of range: {len(attention.tokens)} sentences were run")
    return (attention.example(example, teacher_scores)[head].numpy(),
            attention.example(example, student_scores)[head].numpy())


def checkpoint_grid(attention: AttentionSnapshots, layer: int, head: int = 0, example: int = 0):
    """One head over every checkpoint: teacher layer g(m) on top, student layer m below, one colour scale.

    Returns a Figure with 2 x K heat maps (K checkpoints) and one colorbar."""
    names = attention.names
    pairs = [_head_pair(attention, name, layer, head, example) for name in names]
    vmin, vmax = _visible_range([m for pair in pairs for m in pair])
    fig, axes = _figure(2, len(names), (2.6 * len(names) + 1.2, 5.4))
    tokens, teacher_layer = attention.tokens[example], attention.mapping[layer]
    for col, (name, pair) in enumerate(zip(names, pairs, strict=True)):
        for row, (whose, matrix) in enumerate(zip((f"teacher L{teacher_layer}", f"student L{layer}"), pair, strict=True)):
            ax = axes[row, col]
            viz.attention_heatmap(matrix, tokens, ax=ax, colorbar=False,
                                  title=f"{attention.labels[name]}\n{whose}, head {head}")
            ax.images[0].set_clim(vmin, vmax)
            ax.set_xlabel("")
            ax.set_ylabel("" if col else ax.get_ylabel())
    fig.colorbar(axes[0, 0].images[0], ax=list(axes.ravel()), label="score A (pre-softmax)")
    return fig


def transfer_figure(attention: AttentionSnapshots, name: str, layer: int, head: int = 0, example: int = 0,
                    clim: tuple[float, float] | None = None):
    """`viz.teacher_student_attention` for one checkpoint, layer m (teacher layer g(m)) and head.

    clim: a fixed (min, max) colour range, so that frames of a GIF share one scale."""
    teacher_matrix, student_matrix = _head_pair(attention, name, layer, head, example)
    fig = viz.teacher_student_attention(teacher_matrix, student_matrix, attention.tokens[example], head=head,
                                        teacher_layer=attention.mapping[layer], student_layer=layer)
    if clim is not None:
        for ax in fig.axes:
            for image in ax.images:
                image.set_clim(*clim)
    fig.suptitle(attention.labels[name], fontsize=10)
    return fig


def loss_figure(rows: list[dict], boundaries: dict[str, int], layer: int | None = None, checkpoint: str | None = None,
                labels: dict[str, str] | None = None):
    """Per-layer attention loss (Eq. 7) over GD then TD step 1, with the checkpoints as vertical lines.

    rows, boundaries: from `snapshots.attention_loss_history`. layer: draw only "attention/m".
    checkpoint: the one drawn bold (the widget's current position)."""
    keys = sorted({k for row in rows for k in row if k.startswith("attention/")})
    if layer is not None:
        keys = [key for key in keys if key == f"attention/{layer}"]
    if keys:
        fig = viz.loss_curves(rows, keys=keys, title="attention loss per student layer (Eq. 7)", smooth=1)
        ax = fig.axes[0]
    else:  # a run without the attention loss (ablation no_attention_loss) has no curve to draw
        fig, axes = _figure(1, 1, (5.2, 3.8))
        ax = axes[0, 0]
        ax.text(0.5, 0.5, "no attention loss recorded in this run", ha="center", va="center", transform=ax.transAxes)
    labels = labels or {}
    for name, step in boundaries.items():
        bold = name == checkpoint
        ax.axvline(step, color="crimson" if bold else "grey", linewidth=2.0 if bold else 0.8,
                   linestyle="-" if bold else ":")
        if bold:
            ax.set_title(f"per layer; marked: {labels.get(name, name)} (step {step})", fontsize=9)
    return fig


def mse_figure(mse: dict, labels: dict[str, str] | None = None):
    """Per-head score MSE (teacher g(m) vs student m) at each checkpoint: the mean per layer as lines
    (left) and every head of every layer as a heat map per checkpoint (right panels).

    mse: {checkpoint: (M, H) tensor} from `snapshots.transfer_mse`."""
    names, labels = list(mse), labels or {}
    values = {name: np.asarray(mse[name], dtype=np.float64) for name in names}
    fig, axes = _figure(1, len(names) + 1, (3.4 + 2.6 * len(names), 3.4))
    layers = values[names[0]].shape[0]
    for m in range(layers):
        axes[0, 0].plot(range(len(names)), [values[n][m].mean() for n in names], marker="o", label=f"layer {m + 1}")
    axes[0, 0].set_xticks(range(len(names)), [labels.get(n, n) for n in names], rotation=30, fontsize=7)
    axes[0, 0].set_ylabel("mean per-head MSE")
    axes[0, 0].legend(fontsize=7)
    axes[0, 0].grid(alpha=0.3)
    top = max(v.max() for v in values.values())
    for ax, name in zip(axes[0, 1:], names, strict=True):
        image = ax.imshow(values[name], vmin=0, vmax=top, cmap="magma_r", aspect="auto")
        ax.set_yticks(range(layers), [str(m + 1) for m in range(layers)])
        ax.set_xlabel("head")
        ax.set_ylabel("student layer")
        ax.set_title(labels.get(name, name), fontsize=9)
    fig.colorbar(image, ax=list(axes[0, 1:]), label="MSE of scores")
    return fig


def distance_by_run_figure(rows: list[dict]):
    """The attention distance (left) and the correlation with the teacher's pattern (right), each the mean over
    layers and heads, at each checkpoint, one line per run: solid where the run trained with the attention
    loss (Eq. 7), dashed where it did not.

    rows: `benchmarks/results/attention_transfer.json`'s rows ({"variant", "seed", "losses", "checkpoints":
    {name: {"mean", "correlation"}}}, `benchmarks.attention_transfer`)."""
    from ..snapshots import CHECKPOINTS

    fig, axes = _figure(1, 2, (10.5, 3.6))
    for row in rows:
        names = [name for name in CHECKPOINTS if name in row["checkpoints"]]
        with_attention = row["losses"]["attention_loss"]
        style = {"marker": "o", "linestyle": "-" if with_attention else "--",
                 "label": f"{row['variant']}, seed {row['seed']}" + ("" if with_attention else " (no Eq. 7)")}
        x = [list(CHECKPOINTS).index(n) for n in names]
        line = axes[0, 0].plot(x, [row["checkpoints"][n]["mean"] for n in names], **style)[0]
        axes[0, 1].plot(x, [row["checkpoints"][n]["correlation"] for n in names], color=line.get_color(), **style)
    for ax, label in zip(axes[0], ("distance: MSE of scores", "correlation with the teacher's pattern"), strict=True):
        ax.set_xticks(range(len(CHECKPOINTS)), [label for label, _, _ in CHECKPOINTS.values()], fontsize=8)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylim(bottom=0)
    axes[0, 1].set_ylim(-0.2, 1)
    axes[0, 1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


class TransferExplorer:
    """Attention of one run's checkpoints on a batch of sentences; figures for any checkpoint/layer/head.

    attention: `snapshots.snapshot_attention(...)`; rows, boundaries: `snapshots.attention_loss_history`.
    """

    def __init__(self, attention: AttentionSnapshots, rows: list[dict], boundaries: dict[str, int]):
        self.attention, self.rows, self.boundaries = attention, rows, boundaries
        self.layers = len(attention.mapping) - 1
        self.heads = attention.student[attention.names[0]][0].shape[1]

    def view(self, checkpoint: str, layer: int, head: int = 0, example: int = 0, clim=None):
        """(attention figure, loss figure) for one checkpoint, student layer m (1..M) and head."""
        return (transfer_figure(self.attention, checkpoint, layer, head, example, clim),
                loss_figure(self.rows, self.boundaries, layer, checkpoint, self.attention.labels))

    def shared_range(self, layer: int, head: int, example: int = 0) -> tuple[float, float]:
        """One colour range over every checkpoint of this layer and head (teacher and student)."""
        pairs = [_head_pair(self.attention, name, layer, head, example) for name in self.attention.names]
        return _visible_range([m for pair in pairs for m in pair])

    def save_gif(self, path, layer: int, head: int = 0, example: int = 0, duration_ms: int = 900) -> Path:
        """One frame per checkpoint (fixed colour scale), written with `viz.save_gif`."""
        clim = self.shared_range(layer, head, example)
        frames = [transfer_figure(self.attention, name, layer, head, example, clim) for name in self.attention.names]
        return viz.save_gif(frames, path, duration_ms=duration_ms)

    def widget(self, layer: int = 1, head: int = 0, example: int = 0):
        """The ipywidgets view: a slider over the checkpoints, layer, head and sentence menus."""
        import ipywidgets as widgets

        labels = self.attention.labels
        checkpoint = widgets.SelectionSlider(options=[(labels[n], n) for n in self.attention.names],
                                             description="checkpoint", continuous_update=False)
        layer_menu = widgets.Dropdown(options=[(f"{m} (teacher {self.attention.mapping[m]})", m)
                                               for m in range(1, self.layers + 1)], value=layer, description="layer m")
        head_slider = widgets.IntSlider(value=head, min=0, max=self.heads - 1, description="head",
                                        continuous_update=False)
        sentence = widgets.Dropdown(options=[(" ".join(t[1:-1])[:50], i) for i, t in enumerate(self.attention.tokens)],
                                    value=example, description="sentence")
        # A VBox is a flex column whose children stretch to its width: without align_self the browser blew the
        # PNGs up (the 416 px loss plot to ~960 px, blurred). flex-start keeps the figure's own size.
        attention_image, loss_image = (widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))
                                       for _ in range(2))

        def update(_change=None):
            fixed = self.shared_range(layer_menu.value, head_slider.value, sentence.value)
            figures = self.view(checkpoint.value, layer_menu.value, head_slider.value, sentence.value, fixed)
            attention_image.value, loss_image.value = _png(figures[0]), _png(figures[1])
            return figures

        for control in (checkpoint, layer_menu, head_slider, sentence):
            control.observe(update, names="value")
        update()
        box = widgets.VBox([widgets.HBox([checkpoint, layer_menu]), widgets.HBox([head_slider, sentence]),
                            attention_image, loss_image])
        box.update = update  # for tests and scripted use
        box.controls = {"checkpoint": checkpoint, "layer": layer_menu, "head": head_slider, "sentence": sentence}
        return box


def transfer_explorer(attention: AttentionSnapshots, rows: list[dict], boundaries: dict[str, int], layer: int = 1,
                      head: int = 0, example: int = 0):
    """The notebook-08 widget (see `TransferExplorer.widget`)."""
    return TransferExplorer(attention, rows, boundaries).widget(layer, head, example)
