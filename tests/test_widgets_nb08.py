"""transfer_explorer.py: static figures over the checkpoints, the GIF, and the notebook-08 widget."""

from __future__ import annotations

import pytest
from test_snapshots import SENTENCES, make_fake_run  # tests/ is on sys.path under pytest

from tinybert_ref import snapshots
from tinybert_ref.widgets import transfer_explorer as te


@pytest.fixture(scope="module")
def explorer(tmp_path_factory, teacher_tokenizer):
    root = tmp_path_factory.mktemp("runs")
    run = make_fake_run(root, root / "tiny_teacher", teacher_tokenizer)
    attention = snapshots.snapshot_attention(snapshots.load_snapshots(run), teacher_tokenizer, SENTENCES,
                                             snapshots.run_mapping(run))
    rows, boundaries = snapshots.attention_loss_history(run)
    return te.TransferExplorer(attention, rows, boundaries)


def test_checkpoint_grid_shares_one_scale(explorer):
    fig = te.checkpoint_grid(explorer.attention, layer=2, head=3, example=1)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 2 * 4 and len(fig.axes) == 2 * 4 + 1  # teacher/student x 4 checkpoints + colorbar
    assert len({image.get_clim() for image in images}) == 1
    assert images[0].get_array().shape == (5, 5)  # sentence 1 without its padding
    assert "teacher L3" in fig.axes[0].get_title() and "student L2" in fig.axes[4].get_title()  # g(2) = 3


def test_transfer_figure_and_fixed_range(explorer):
    low, high = explorer.shared_range(1, 0)
    fig = te.transfer_figure(explorer.attention, "after_td1", 1, 0, clim=(low, high))
    assert fig._suptitle.get_text() == "after TD step 1"
    assert all(image.get_clim() == (low, high) for ax in fig.axes for image in ax.images)


def test_loss_figure_marks_checkpoints(explorer):
    fig = te.loss_figure(explorer.rows, explorer.boundaries, layer=1, checkpoint="after_gd",
                         labels=explorer.attention.labels)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")] == ["attention/1"]
    assert len([line for line in ax.get_lines() if line.get_label().startswith("_")]) == len(explorer.boundaries)
    assert "after GD" in ax.get_title()


def test_loss_figure_without_attention_loss(explorer):
    rows = [{"step": row["step"], "stage": row["stage"]} for row in explorer.rows]
    fig = te.loss_figure(rows, explorer.boundaries, layer=1)
    assert "no attention loss" in fig.axes[0].texts[0].get_text()


def test_mse_figure(explorer):
    fig = te.mse_figure(snapshots.transfer_mse(explorer.attention), explorer.attention.labels)
    assert len(fig.axes) == 1 + 4 + 1  # lines, one heat map per checkpoint, colorbar
    assert fig.axes[1].images[0].get_array().shape == (4, 12)  # (M, H)


def test_gif_has_a_frame_per_checkpoint(explorer, tmp_path):
    from PIL import Image

    path = explorer.save_gif(tmp_path / "figures" / "transfer.gif", layer=1, head=0)
    with Image.open(path) as gif:
        assert gif.n_frames == 4


def test_widget_follows_its_controls(explorer):
    box = explorer.widget(layer=1, head=0)
    box.controls["checkpoint"].value = "after_td2"
    box.controls["layer"].value = 4
    attention_fig, loss_fig = box.update()
    assert attention_fig._suptitle.get_text() == "after TD step 2"
    assert "teacher layer 6" in attention_fig.axes[0].get_title()  # g(4) = 6
    assert "after TD step 2" in loss_fig.axes[0].get_title()
    assert box.children[2].value[:4] == b"\x89PNG"


def test_widget_images_keep_their_size(explorer):
    """In a VBox (a flex column) an Image is stretched to the column's width unless align_self is set:
    JupyterLab showed the 416 px loss PNG at ~960 px, blurred (seen in docs/screenshots)."""
    box = explorer.widget(layer=1, head=0)
    images = [child for child in box.children if child.__class__.__name__ == "Image"]
    assert len(images) == 2
    assert all(image.layout.align_self == "flex-start" for image in images)


def test_bad_head_is_named(explorer):
    with pytest.raises(ValueError, match="heads 0..11"):
        explorer.view("after_gd", 1, head=12)


def test_distance_by_run_figure_dashes_the_runs_without_the_attention_loss():
    def row(variant, attention, means, names=("before_gd", "after_gd", "after_td1", "after_td2")):
        return {"variant": variant, "seed": 42, "losses": {"attention_loss": attention},
                "checkpoints": {n: {"mean": v, "correlation": v / 10} for n, v in zip(names, means, strict=True)}}

    fig = te.distance_by_run_figure([row("full", True, [4.4, 2.2, 0.5, 0.7]), row("no_attention_loss", False, [4.4, 6.8, 8.5, 9.0]),
                                     row("no_gd", True, [4.4, 0.6, 0.8], names=("before_gd", "after_td1", "after_td2"))])
    lines = fig.axes[0].get_lines()
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-"]
    assert list(lines[1].get_ydata()) == [4.4, 6.8, 8.5, 9.0]
    assert list(lines[2].get_xdata()) == [0, 2, 3]  # a run without general distillation skips that checkpoint
    assert "no Eq. 7" in lines[1].get_label()
    correlations = fig.axes[1].get_lines()
    assert [line.get_linestyle() for line in correlations] == ["-", "--", "-"]
    assert list(correlations[0].get_ydata()) == pytest.approx([0.44, 0.22, 0.05, 0.07])
    assert [line.get_color() for line in correlations] == [line.get_color() for line in lines]
