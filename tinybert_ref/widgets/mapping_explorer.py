"""Choose teacher depth N, student depth M and a strategy; see n = g(m) drawn (notebook 03, Eq. 6).

`mapping_view` computes the mapping with `tinybert_ref.mapping.layer_mapping` and draws it with
`viz.mapping_diagram`; an impossible choice (a student deeper than its teacher, a bad explicit list)
returns the package's error message instead of raising. `mapping_explorer()` returns the ipywidgets
object; the notebook shows a static diagram above it.
"""

from __future__ import annotations

import html
import io

from ..mapping import STRATEGIES, layer_mapping
from ..viz import mapping_diagram

__all__ = ["MappingView", "mapping_view", "mapping_explorer", "parse_layers"]


class MappingView:
    """What the widget shows for one choice: `mapping` (list or None), `figure` (or None), `error` (str or None)."""

    def __init__(self, mapping=None, figure=None, error=None):
        self.mapping, self.figure, self.error = mapping, figure, error


def parse_layers(text: str) -> list[int]:
    """"3, 6, 9, 12" -> [3, 6, 9, 12]. Raises ValueError naming the bad entry."""
    values = []
    for part in text.replace(" ", ",").split(","):
        if part:
            try:
                values.append(int(part))
            except ValueError:
                raise ValueError(f"{part!r} is not a layer number; write teacher layers like 3, 6, 9, 12") from None
    if not values:
        raise ValueError("the explicit list is empty; write teacher layers like 3, 6, 9, 12")
    return values


def mapping_view(student_layers: int, teacher_layers: int, strategy: str = "uniform", explicit: str = "") -> MappingView:
    """The mapping and its diagram, or the error message of an impossible choice (never raises ValueError).

    strategy: "uniform", "top", "bottom" or "explicit" (then `explicit` holds the teacher layers g(1..M))."""
    try:
        chosen = parse_layers(explicit) if strategy == "explicit" else strategy
        mapping = layer_mapping(student_layers, teacher_layers, chosen)
        label = strategy if strategy != "explicit" else "explicit"
        figure = mapping_diagram(mapping, teacher_layers, title=f"{label}: g = {mapping}")
        return MappingView(mapping, figure)
    except ValueError as error:
        return MappingView(error=str(error))


def _table_html(mapping: list[int], teacher_layers: int) -> str:
    rows = [("0 (embeddings)", "0 (embeddings)", "embedding loss, Eq. 9")]
    rows += [(str(m), str(n), "attention Eq. 7 + hidden Eq. 8") for m, n in enumerate(mapping) if m > 0]
    rows.append((f"{len(mapping)} (prediction)", f"{teacher_layers + 1} (prediction)", "prediction loss, Eq. 10"))
    body = "".join(f"<tr><td>{m}</td><td>{n}</td><td>{what}</td></tr>" for m, n, what in rows)
    return f"<table><tr><th>student m</th><th>teacher g(m)</th><th>transfers</th></tr>{body}</table>"


def mapping_explorer(student_layers: int = 4, teacher_layers: int = 12, strategy: str = "uniform"):
    """The notebook-03 widget: depth sliders, a strategy menu, an explicit list; the diagram and table."""
    import ipywidgets as widgets

    teacher = widgets.IntSlider(value=teacher_layers, min=1, max=24, description="teacher N")
    student = widgets.IntSlider(value=student_layers, min=1, max=24, description="student M")
    menu = widgets.Dropdown(options=[*STRATEGIES, "explicit"], value=strategy, description="strategy")
    explicit = widgets.Text(value="", placeholder="e.g. 2, 4, 6, 12", description="layers",
                            continuous_update=False)
    # flex-start: in the HBox beside a taller table the browser would stretch the PNG vertically
    image = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))
    table, message = widgets.HTML(), widgets.HTML()

    def update(_change=None) -> MappingView:
        view = mapping_view(student.value, teacher.value, menu.value, explicit.value)
        if view.error:
            message.value = f"<span style='color:#b00'>cannot map: {html.escape(view.error)}</span>"
            table.value = ""
        else:
            buffer = io.BytesIO()
            view.figure.savefig(buffer, format="png")
            image.value = buffer.getvalue()
            table.value = _table_html(view.mapping, teacher.value)
            message.value = f"g = {view.mapping}"
        return view

    for control in (teacher, student, menu, explicit):
        control.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox([teacher, student]), widgets.HBox([menu, explicit]), message,
                        widgets.HBox([image, table])])
    box.update = update  # for tests and scripted use
    return box
