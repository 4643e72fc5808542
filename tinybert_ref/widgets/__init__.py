"""ipywidgets explorers over `tinybert_ref.viz`, one module per notebook widget.

Every explorer draws with the same viz functions the static figures use; notebooks show the static
figure first and the widget on top of it (STYLE.md section 1), so nbval and exported HTML, which have no
widget front end, still show the picture.
"""
