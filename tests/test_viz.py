"""Figures (tinybert_ref/viz.py): each returns a Figure with the expected axes and saves to PNG."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from tinybert_ref import viz  # noqa: E402

TOKENS = ["[CLS]", "stocks", "fall", "[SEP]", "[PAD]"]
MASK = -torch.finfo(torch.float32).max  # what transformers puts on padded keys


def _scores(heads=3, length=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(heads, length, length, generator=generator)
    scores[..., -1] = MASK  # last key is padding
    return scores


def _saves(fig, tmp_path, name="fig.png"):
    assert isinstance(fig, Figure)
    fig.savefig(tmp_path / name, dpi=50)
    assert (tmp_path / name).stat().st_size > 0


def test_attention_heatmap_scores_and_probabilities(tmp_path):
    fig = viz.attention_heatmap(_scores()[0], TOKENS, title="layer 1, head 0")
    assert len(fig.axes) == 2  # heat map + colour bar
    image = fig.axes[0].images[0].get_array()
    assert image.mask[:, -1].all() and not image.mask[:, :-1].any()
    _saves(fig, tmp_path)
    fig = viz.attention_heatmap(_scores()[0].numpy(), TOKENS, as_probabilities=True, colorbar=False)
    assert len(fig.axes) == 1
    probabilities = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-6)  # masked key excluded
    _saves(fig, tmp_path, "probs.png")


def test_attention_heatmap_into_given_axes_and_mask_argument():
    fig = Figure()
    ax = fig.add_subplot()
    scores = torch.randn(4, 4)
    assert viz.attention_heatmap(scores, None, ax=ax, mask=torch.tensor([1, 1, 1, 0])) is fig
    assert ax.images[0].get_array().mask[-1].all()


def test_attention_heatmap_errors_name_the_fix():
    with pytest.raises(ValueError, match="pick a head"):
        viz.attention_heatmap(torch.randn(2, 4, 4), None)
    with pytest.raises(ValueError, match="4 tokens"):
        viz.attention_heatmap(torch.randn(5, 5), TOKENS[:4])


def test_teacher_student_one_head(tmp_path):
    fig = viz.teacher_student_attention(_scores(12), _scores(12, seed=1), TOKENS, head=2, teacher_layer=3,
                                        student_layer=1)
    assert len(fig.axes) == 3
    assert "teacher layer 3, head 2" in fig.axes[0].get_title()
    assert "student layer 1, head 2" in fig.axes[1].get_title()
    assert fig.axes[0].images[0].get_clim() == fig.axes[1].images[0].get_clim()  # one colour scale
    _saves(fig, tmp_path)


def test_teacher_student_all_heads_and_2d_inputs(tmp_path):
    fig = viz.teacher_student_attention(_scores(3), _scores(3, seed=1), TOKENS)
    assert len(fig.axes) == 2 * 3 + 1
    _saves(fig, tmp_path)
    fig = viz.teacher_student_attention(_scores(1)[0], _scores(1)[0], TOKENS, head=0)
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match="equal head counts"):
        viz.teacher_student_attention(_scores(3), _scores(2), TOKENS)
    with pytest.raises(ValueError, match="out of range"):
        viz.teacher_student_attention(_scores(3), _scores(3), TOKENS, head=3)


def test_loss_curves_from_rows_and_dict(tmp_path):
    rows = [{"step": s, "total": 10.0 / s, "embedding": 1.0 / s, "attention": 4.0 / s, "hidden": 5.0 / s,
             "attention/1": 2.0 / s, "attention/2": 2.0 / s, "hidden/1": 2.5 / s, "hidden/2": 2.5 / s}
            for s in range(1, 201)]
    rows[99]["dev"] = 0.8
    fig = viz.loss_curves(rows, title="general distillation")
    assert len(fig.axes) == 2
    labels = [line.get_label() for line in fig.axes[0].lines if not line.get_label().startswith("_")]
    assert set(labels) == {"embedding", "attention/1", "attention/2", "hidden/1", "hidden/2"}
    assert fig.axes[0].get_yscale() == "log"  # values span 200x
    _saves(fig, tmp_path)
    fig = viz.loss_curves({"total": [0.7, 0.6, 0.65, 0.5]})
    assert len(fig.axes) == 1 and fig.axes[0].get_yscale() == "linear"
    fig = viz.loss_curves(rows, keys=["hidden/1"])
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="not in the history"):
        viz.loss_curves(rows, keys=["prediction"])
    with pytest.raises(ValueError, match="no loss columns"):
        viz.loss_curves([{"step": 1, "dev": 0.5}])


@pytest.mark.parametrize("mapping, teacher_layers", [([0, 3, 6, 9, 12], 12), ([0, 2, 3, 5, 6], 6), ([0, 1], 1)])
def test_mapping_diagram(tmp_path, mapping, teacher_layers):
    fig = viz.mapping_diagram(mapping, teacher_layers)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.patches) == (teacher_layers + 2) + (len(mapping) + 1)  # boxes incl. embeddings, prediction
    texts = [t.get_text() for t in ax.texts]
    assert "Eq. 10" in texts and "Eq. 9" in texts and "prediction" in texts
    assert f"g({len(mapping) - 1}) = {mapping[-1]}" in texts
    _saves(fig, tmp_path)


def test_mapping_diagram_rejects_bad_mappings():
    with pytest.raises(ValueError, match="layer_mapping"):
        viz.mapping_diagram([0, 3, 14], 12)
    with pytest.raises(ValueError, match="strictly increasing"):
        viz.mapping_diagram([1, 3], 12)


def test_results_bar(tmp_path):
    rows = [{"name": "teacher", "metric": 0.885}, {"name": "student", "metric": 0.878},
            {"name": "tfidf", "metric": 0.79}, {"name": "missing", "metric": None}]
    fig = viz.results_bar(rows, title="BBC headlines", reference=0.885)
    assert len(fig.axes) == 1 and len(fig.axes[0].patches) == 3
    _saves(fig, tmp_path)
    assert len(viz.results_bar([("a", 1.0), ("b", 2.0)]).axes) == 1
    with pytest.raises(ValueError, match="no rows"):
        viz.results_bar([{"name": "x", "metric": None}])


def test_results_bar_draws_the_spread_over_seeds():
    rows = [{"name": "full", "metric": 0.83, "sd": 0.003}, {"name": "no_da", "metric": 0.82, "sd": 0.0075}]
    ax = viz.results_bar(rows, error_key="sd").axes[0]
    (segments,) = [c for c in ax.collections if len(c.get_segments()) == 2]  # the error bars' lines
    widths = sorted(abs(seg[1][0] - seg[0][0]) for seg in segments.get_segments())
    assert widths == pytest.approx([0.006, 0.015])


def test_results_bar_draws_chance_and_reference_lines():
    rows = [{"name": "full", "metric": 0.85}, {"name": "no_td", "metric": 0.77}]
    ax = viz.results_bar(rows, reference=0.85, chance=0.2).axes[0]
    vertical = {(line.get_linestyle(), line.get_xdata()[0]) for line in ax.get_lines()}
    assert vertical == {("--", 0.85), ("-.", 0.2)}
    assert "chance" in [text.get_text().strip() for text in ax.texts]
    assert not viz.results_bar(rows).axes[0].get_lines()  # neither line unless asked for


def test_save_gif_from_figures_and_pngs(tmp_path):
    frames = [viz.attention_heatmap(_scores(seed=i)[0], TOKENS, title=f"step {i}") for i in range(3)]
    frames[2].savefig(tmp_path / "frame.png", dpi=40)  # a PNG of another size: resized to fit
    path = viz.save_gif([*frames, tmp_path / "frame.png"], tmp_path / "out" / "transfer.gif", duration_ms=100)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 4
    assert [p.name for p in path.parent.iterdir()] == ["transfer.gif"]  # no temporary file left
    with pytest.raises(ValueError, match="no frames"):
        viz.save_gif([], tmp_path / "empty.gif")
    with pytest.raises(TypeError, match="PNG paths"):
        viz.save_gif([42], tmp_path / "bad.gif")
