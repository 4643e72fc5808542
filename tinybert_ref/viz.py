"""Figures of the course: attention maps, loss curves, the layer mapping, results and GIFs.

Notebook 03 draws the mapping diagram, 05 and 07 the per-layer loss curves, 08 teacher-vs-student
attention (and the attention-transfer GIF), 09 the results bars; the pipeline writes the same figures
to RUN_DIR/figures/. Every function returns a matplotlib Figure and never calls show(). The figure
is already closed in pyplot's registry, so a notebook shows it once (as the cell's value) and
nothing needs plt.close(); savefig works as usual.

Attention matrices are (L, L) = (query, key), or (H, L, L) for all heads of one layer. TinyBERT
transfers the scores A = QK^T/sqrt(d_k) before softmax (Eq. 7); masked keys carry a large negative
value, so entries <= -100 (the official code's clip) are treated as masked and drawn grey.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .io import open_atomic

__all__ = [
    "attention_heatmap",
    "teacher_student_attention",
    "loss_curves",
    "mapping_diagram",
    "results_bar",
    "save_gif",
]

log = logging.getLogger(__name__)

MASKED_BELOW = -1e2  # the official TinyBERT code treats scores <= -1e2 as masked
NOT_LOSSES = ("step", "dev", "lr", "learning_rate", "epoch")  # history columns that are not losses


def _figure(**kwargs):
    """A new Figure with axes, closed in pyplot at once (shown once in notebooks, never leaks)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(**kwargs)
    plt.close(fig)
    return fig, axes


def _to_numpy(values) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def _masked_matrix(matrix, as_probabilities: bool, key_mask=None) -> np.ma.MaskedArray:
    """(L, L) scores -> masked array, masked where keys are padding; optional softmax over keys."""
    values = _to_numpy(matrix)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(f"expected one attention matrix (L, L), got shape {values.shape}; "
                         "pick a head first, e.g. scores[layer][example, head]")
    hidden = values <= MASKED_BELOW
    if key_mask is not None:
        pad = _to_numpy(key_mask) == 0
        hidden |= pad[None, :] | pad[:, None]
    if as_probabilities:
        logits = np.where(hidden, -np.inf, values)
        with np.errstate(invalid="ignore"):  # a padding row is all -inf: -inf - -inf = nan, hidden below
            logits = logits - np.max(logits, axis=-1, keepdims=True)
            exp = np.exp(logits)
            values = exp / exp.sum(-1, keepdims=True)
        hidden |= ~np.isfinite(values)
    return np.ma.masked_where(hidden, values)


def _draw_matrix(ax, matrix: np.ma.MaskedArray, tokens, vmin=None, vmax=None, x_labels=True, y_labels=True):
    import matplotlib

    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="lightgrey")
    image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    length = matrix.shape[0]
    if tokens is not None:
        if len(tokens) != length:
            raise ValueError(f"{len(tokens)} tokens for an attention matrix of length {length}; pass the tokens "
                             "of exactly this example (tokenizer.convert_ids_to_tokens(input_ids))")
        ax.set_xticks(range(length), list(tokens) if x_labels else [], rotation=90, fontsize=7)
        ax.set_yticks(range(length), list(tokens) if y_labels else [], fontsize=7)
    return image


def attention_heatmap(scores_or_probs, tokens: Sequence[str] | None = None, ax=None, title: str | None = None,
                      as_probabilities: bool = False, mask=None, colorbar: bool = True):
    """Heat map of one attention matrix (L, L): rows = queries, columns = keys (notebooks 01, 04, 08).

    scores_or_probs: (L, L) scores (pre-softmax) or probabilities, tensor or array. as_probabilities:
    apply softmax over keys for display. mask: optional (L,) attention mask, 0 = padding. Masked
    entries are grey. ax: draw into an existing Axes. Returns the Figure (1 axes + 1 colorbar).
    """
    matrix = _masked_matrix(scores_or_probs, as_probabilities, mask)
    if ax is None:
        fig, ax = _figure(figsize=(4.8, 4.0), layout="constrained")
    image = _draw_matrix(ax, matrix, tokens)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="probability" if as_probabilities else "score A (pre-softmax)")
    return ax.figure


def _heads(scores) -> np.ndarray:
    values = _to_numpy(scores)
    if values.ndim == 4 and values.shape[0] == 1:
        values = values[0]
    if values.ndim == 2:
        values = values[None]
    if values.ndim != 3:
        raise ValueError(f"expected (H, L, L) or (L, L) attention scores, got shape {values.shape}; "
                         "select one example and one layer, e.g. internals.attention_scores[layer][0]")
    return values


def _pick_head(heads: np.ndarray, head: int, whose: str) -> np.ndarray:
    if len(heads) == 1:
        return heads[0]  # a single (L, L) matrix was given: the head is already chosen
    if not 0 <= head < len(heads):
        raise ValueError(f"head {head} out of range: the {whose} has {len(heads)} heads (0..{len(heads) - 1})")
    return heads[head]


def _shared_range(matrices) -> tuple[float, float]:
    visible = np.concatenate([m.compressed() for m in matrices])
    return (float(visible.min()), float(visible.max())) if visible.size else (0.0, 1.0)


def teacher_student_attention(teacher_scores, student_scores, tokens: Sequence[str] | None = None,
                              head: int | None = None, teacher_layer: int | None = None,
                              student_layer: int | None = None, as_probabilities: bool = False, mask=None):
    """Teacher vs student attention of one mapped layer pair n = g(m), on one shared colour scale.

    teacher_scores, student_scores: (H, L, L) or (L, L) for one example and layer. head: one head
    side by side (3 axes: teacher, student, colorbar); None: every head, teacher row above student
    row (2*H + 1 axes; both need the same H, as TinyBERT's Eq. 7 compares head by head).
    Used by notebook 08 and the pipeline's RUN_DIR/figures/attention_layer{m}.png.
    """
    teacher, student = _heads(teacher_scores), _heads(student_scores)
    if teacher.shape[-1] != student.shape[-1]:
        raise ValueError(f"teacher length {teacher.shape[-1]} != student length {student.shape[-1]}; "
                         "run both models on the same batch")
    t_name = "teacher" + (f" layer {teacher_layer}" if teacher_layer is not None else "")
    s_name = "student" + (f" layer {student_layer}" if student_layer is not None else "")
    if head is not None:
        heads, pairs = [head], [(_pick_head(teacher, head, "teacher"), _pick_head(student, head, "student"))]
    else:
        if len(teacher) != len(student):
            raise ValueError(f"teacher has {len(teacher)} heads, student {len(student)}: a grid over heads needs "
                             "equal head counts; pass head=<index> to compare one head")
        heads, pairs = list(range(len(teacher))), list(zip(teacher, student, strict=True))
    matrices = [_masked_matrix(m, as_probabilities, mask) for pair in pairs for m in pair]
    vmin, vmax = _shared_range(matrices)
    if head is not None:
        fig, axes = _figure(ncols=2, figsize=(9.0, 4.2), layout="constrained")
        axes = np.asarray(axes).reshape(1, 2).T  # rows: teacher, student
    else:
        fig, axes = _figure(nrows=2, ncols=len(heads), figsize=(1.7 * len(heads) + 1.5, 4.2),
                            layout="constrained", squeeze=False)
    image = None
    for col, h in enumerate(heads):
        for row, name in enumerate((t_name, s_name)):
            ax = axes[row, col]
            image = _draw_matrix(ax, matrices[2 * col + row], tokens, vmin, vmax,
                                 x_labels=head is not None or row == 1, y_labels=head is not None or col == 0)
            ax.set_title(f"{name}, head {h}", fontsize=8)
    fig.colorbar(image, ax=list(np.ravel(axes)), label="probability" if as_probabilities else "score A (pre-softmax)")
    return fig


def _loss_series(history) -> dict[str, tuple[list, list]]:
    """{key: (steps, values)} from {key: [values]} or from rows [{"step": s, key: value, ...}]."""
    series: dict[str, tuple[list, list]] = {}
    if isinstance(history, Mapping):
        for key, values in history.items():
            if key not in NOT_LOSSES:
                series[key] = (list(range(1, len(values) + 1)), [float(v) for v in values])
        return series
    for i, row in enumerate(history):
        step = row.get("step", i + 1)
        for key, value in row.items():
            if key not in NOT_LOSSES and isinstance(value, int | float) and not isinstance(value, bool):
                steps, values = series.setdefault(key, ([], []))
                steps.append(step)
                values.append(float(value))
    return series


def _smoothed(steps, values, window: int):
    if window <= 1 or len(values) < 2 * window:
        return np.asarray(steps), np.asarray(values)
    kernel = np.ones(window) / window
    return np.asarray(steps)[window - 1:], np.convolve(values, kernel, mode="valid")


def _plot_series(ax, series: dict, keys: list[str], smooth: int | None, log_y: bool | None):
    import matplotlib

    colours = matplotlib.colormaps["tab10"]
    styles = {"attention": "-", "hidden": "--", "embedding": ":"}
    for i, key in enumerate(keys):
        steps, values = series[key]
        window = smooth if smooth is not None else max(1, len(values) // 50)
        part, _, layer = key.partition("/")
        colour = colours(int(layer) % 10) if layer.isdigit() else colours(i % 10)
        xs, ys = _smoothed(steps, values, window)
        if window > 1:
            ax.plot(steps, values, color=colour, alpha=0.2, linewidth=0.8)
        ax.plot(xs, ys, styles.get(part, "-"), color=colour, label=key, linewidth=1.4)
    every = np.concatenate([series[k][1] for k in keys])
    if log_y is None:
        log_y = bool(np.all(every > 0) and every.max() / max(every.min(), 1e-12) > 30)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend(fontsize=7, ncol=2 if len(keys) > 6 else 1)
    ax.grid(alpha=0.3)


def loss_curves(history, title: str | None = None, keys: Sequence[str] | None = None,
                log_y: bool | None = None, smooth: int | None = None):
    """Distillation losses over training steps, per layer (notebooks 05, 07; RUN_DIR/figures/loss_*.png).

    history: {key: [value per step]} or rows [{"step": s, "total": ..., "attention/1": ...}] as
    train.py writes to history.json. Per-layer keys ("embedding", "attention/m", "hidden/m") go to the
    left axes, sums ("total", "attention", "hidden", ...) to the right; "step", "dev" and "lr" are not
    drawn. keys: draw only these. log_y: None = log scale when values span more than 30x. smooth:
    moving-average window (None = steps / 50; the raw curve stays faint behind). 1 or 2 axes.
    """
    series = _loss_series(history)
    if keys is not None:
        missing = [k for k in keys if k not in series]
        if missing:
            raise ValueError(f"keys {missing} not in the history; available: {', '.join(series)}")
        series = {k: series[k] for k in keys}
    if not series:
        raise ValueError("no loss columns in the history; expected keys such as 'total', 'attention/1'")
    layer_keys = [k for k in series if "/" in k or k == "embedding"]
    total_keys = [k for k in series if k not in layer_keys]
    panels = [(keys_, name) for keys_, name in ((layer_keys, "per layer"), (total_keys, "totals")) if keys_]
    fig, axes = _figure(ncols=len(panels), figsize=(5.2 * len(panels), 3.8), layout="constrained", squeeze=False)
    for ax, (panel_keys, name) in zip(axes[0], panels, strict=True):
        _plot_series(ax, series, panel_keys, smooth, log_y)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("loss")
    if title:
        fig.suptitle(title)
    return fig


def _check_mapping(mapping, teacher_layers: int) -> list[int]:
    values = [int(v) for v in mapping]
    ok = len(values) >= 2 and values[0] == 0 and all(a < b for a, b in zip(values, values[1:], strict=False))
    if not ok or values[-1] > teacher_layers:
        raise ValueError(f"cannot draw mapping {values} onto {teacher_layers} teacher layers: a mapping is "
                         "[g(0)=0, g(1), ..., g(M)], strictly increasing, with g(M) <= N; build one with "
                         "tinybert_ref.mapping.layer_mapping(student_layers, teacher_layers)")
    return values


def _box(ax, x: float, y: float, text: str, active: bool):
    from matplotlib.patches import FancyBboxPatch

    face, edge, colour = ("#cfe3f7", "#2b6cb0", "black") if active else ("#f0f0f0", "#b0b0b0", "#888888")
    ax.add_patch(FancyBboxPatch((x - 0.8, y - 0.3), 1.6, 0.6, boxstyle="round,pad=0.02", facecolor=face,
                                edgecolor=edge))
    ax.text(x, y, text, ha="center", va="center", fontsize=8, color=colour)


def mapping_diagram(mapping: Sequence[int], teacher_layers: int, title: str | None = None):
    """The layer mapping n = g(m) as two stacks of boxes with arrows (notebook 03, RUN_DIR/figures/mapping.png).

    mapping: [g(0)=0, g(1), ..., g(M)] as tinybert_ref.mapping builds it; teacher_layers: N. The
    teacher column holds embeddings (0), layers 1..N and the prediction layer (N+1); the student
    column 0..M+1. Arrows: embeddings (Eq. 9), each mapped layer (attention Eq. 7 + hidden Eq. 8),
    prediction layer (Eq. 10, dashed). Unmapped teacher layers are grey. Returns a Figure (1 axes).
    """
    values = _check_mapping(mapping, teacher_layers)
    n_teacher, n_student = teacher_layers, len(values) - 1
    fig, ax = _figure(figsize=(6.0, 0.5 * (n_teacher + 2) + 1.3), layout="constrained")
    student_y = [m * (n_teacher + 1) / (n_student + 1) for m in range(n_student + 2)]
    names = {0: "embeddings"}
    for n in range(n_teacher + 2):
        label = names.get(n, "prediction" if n == n_teacher + 1 else f"layer {n}")
        _box(ax, 0.0, n, label, active=n in values or n == n_teacher + 1)
    for m in range(n_student + 2):
        _box(ax, 4.0, student_y[m], names.get(m, "prediction" if m == n_student + 1 else f"layer {m}"), True)
    targets = [*values, n_teacher + 1]
    for m, n in enumerate(targets):
        label = "Eq. 9" if m == 0 else ("Eq. 10" if m == n_student + 1 else f"g({m}) = {n}")
        ax.annotate("", xy=(3.2, student_y[m]), xytext=(0.8, n),
                    arrowprops={"arrowstyle": "->", "color": "#2b6cb0",
                                "linestyle": "--" if m == n_student + 1 else "-"})
        ax.text(2.0, (student_y[m] + n) / 2 + 0.12, label, ha="center", fontsize=7, color="#2b6cb0")
    ax.text(0.0, n_teacher + 1.8, f"teacher (N = {n_teacher})", ha="center", fontsize=9, weight="bold")
    ax.text(4.0, n_teacher + 1.8, f"student (M = {n_student})", ha="center", fontsize=9, weight="bold")
    ax.set_xlim(-1.1, 5.1)
    ax.set_ylim(-0.7, n_teacher + 2.3)
    ax.axis("off")
    ax.set_title(title or f"layer mapping g = {values}", fontsize=9)
    return fig


def results_bar(rows, name_key: str = "name", value_key: str = "metric", title: str | None = None,
                reference: float | None = None, error_key: str | None = None, chance: float | None = None):
    """Horizontal bars of a results table (notebook 09): one bar per row, its value written beside it.

    rows: dicts with `name_key` and `value_key`, or (name, value) pairs; rows whose value is None are
    skipped. reference: a value drawn as a dashed line (e.g. the teacher's score). error_key: a key of
    the dicts holding a spread (e.g. the sd over seeds), drawn as an error bar. chance: the score of
    guessing (e.g. one class in five), drawn as a dash-dot line, so a bar near it reads as "learned
    nothing". 1 axes.
    """
    errors = {str(r[name_key]): r.get(error_key) or 0.0 for r in rows if isinstance(r, Mapping)} if error_key else {}
    pairs = [(r[name_key], r[value_key]) if isinstance(r, Mapping) else tuple(r) for r in rows]
    pairs = [(str(name), float(value)) for name, value in pairs if value is not None]
    if not pairs:
        raise ValueError(f"no rows with a value under {value_key!r} to draw")
    fig, ax = _figure(figsize=(6.0, 0.45 * len(pairs) + 1.2), layout="constrained")
    names, values = zip(*pairs, strict=True)
    ax.barh(range(len(values)), values, color="#5b8fd1",
            xerr=[errors.get(name, 0.0) for name in names] if error_key else None, capsize=4)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    for i, value in enumerate(values):
        ax.text(value, i, f" {value:.3f}", va="center", fontsize=8)
    top = max(values + ((reference,) if reference is not None else ()))
    ax.set_xlim(min(0.0, min(values)), top * 1.15 if top > 0 else 1.0)
    if reference is not None:
        ax.axvline(reference, linestyle="--", color="grey", linewidth=1)
    if chance is not None:
        ax.axvline(chance, linestyle="-.", color="#c44e52", linewidth=1)
        ax.text(chance, -0.6, " chance", color="#c44e52", fontsize=8, va="bottom")
    ax.set_xlabel(value_key)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def _frame_image(frame, dpi: int):
    from PIL import Image

    if isinstance(frame, Image.Image):
        return frame.convert("RGB")
    if isinstance(frame, str | os.PathLike):
        with Image.open(frame) as image:
            return image.convert("RGB")
    if hasattr(frame, "savefig"):
        buffer = io.BytesIO()
        frame.savefig(buffer, format="png", dpi=dpi)
        buffer.seek(0)
        with Image.open(buffer) as image:
            return image.convert("RGB")
    raise TypeError(f"cannot make a GIF frame from {type(frame).__name__}; pass Figures, PNG paths or PIL images")


def save_gif(frames, path, duration_ms: int = 600, loop: int = 0, dpi: int = 80) -> Path:
    """Write an animated GIF, one frame per Figure / PNG path / PIL image (notebook 08, CLI GIFs).

    Frames are resized to the first frame's size. duration_ms: time per frame; loop: 0 = forever.
    Written atomically (temporary file + rename). Pillow merges identical consecutive frames.
    """
    images = [_frame_image(frame, dpi) for frame in frames]
    if not images:
        raise ValueError("no frames to write; pass at least one Figure or PNG path")
    size = images[0].size
    images = [image if image.size == size else image.resize(size) for image in images]
    path = Path(path)
    with open_atomic(path, "wb") as file:
        images[0].save(file, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms,
                       loop=loop, disposal=2)
    log.info("wrote %s (%d frames)", path, len(images))
    return path
