"""Sphinx configuration of the course's static site: build it with `bash docs/build.sh`.

The site is the committed notebooks as they are (MyST-NB, execution off): their saved outputs,
figures included, are the pages. The README is the front page (docs/index.md includes it). Nothing on
a page loads from the network: MathJax is served from the site itself (`sphinx-mathjax-offline`, a PyPI
package that ships MathJax 3.2.2), and widget outputs, which need a live kernel and hold no state in the
committed notebooks, are replaced by a one-line note (the static figure above each widget stays).
See docs/README.md, "The static site".
"""

from docutils import nodes

project = "tinybert-course"
author = "tinybert-course contributors"
copyright = "tinybert-course contributors"
html_title = "TinyBERT course"

extensions = ["myst_nb", "sphinx.ext.mathjax", "sphinx-mathjax-offline"]

root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "notebooks/workshop/solutions"]

# MyST: $...$ and $$...$$ in the notebooks' markdown; execution off, so the committed outputs are shown.
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # never pull the widget manager (require.js, html-manager) from a CDN

html_theme = "sphinx_book_theme"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "home_page_in_toc": True,
}
# The theme puts a search field both in the header and in the sidebar; keep the header's one.
html_sidebars = {"**": ["navbar-logo.html", "icon-links.html", "sbt-sidebar-nav.html"]}
html_last_updated_fmt = None
html_show_sourcelink = False

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("Interactive widget: it runs in JupyterLab with a live kernel. A static page holds no "
               "widget state, so it is not drawn here.")


def replace_widget_views(app, doctree):
    """Swap each widget-view placeholder for a short note, so the page has no script it cannot run."""
    for raw in list(doctree.findall(nodes.raw)):
        if WIDGET_VIEW in raw.astext():
            note = nodes.paragraph(text=WIDGET_NOTE, classes=["widget-note"])
            raw.replace_self(note)


def setup(app):
    app.connect("doctree-read", replace_widget_views)
