"""How a page of the book looks: nbconvert's lab template, made to work offline.

The pages are opened from disk, often with no network, so nothing may come
from outside: the lab template's scripts (MathJax, require.js, mermaid, the
widget manager, all from CDNs) are left out, and the stylesheet is inlined in
every page, the contents included. Set-up cells are folded away in a
``<details>`` element, and stderr (library warnings, TensorFlow's CUDA probing)
is not shown: a reader wants the results, not the noise.
"""

import copy

from dlcourse.course import cells

TEMPLATE_NAME = "dlcourse-book.html.j2"
FOLD_KEY = "dlcourse_book_fold"  # cell metadata, on the page's copy only: the summary text

TEMPLATE = """\
{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_css -%}
<style type="text/css">
{{ resources.book_css }}
</style>
{%- endblock html_head_css -%}
{% block codecell %}
{%- set fold = cell.metadata.get("FOLD_KEY") -%}
{%- if fold -%}
<details class="book-setup">
<summary>{{ fold | e }}</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock codecell %}
""".replace("FOLD_KEY", FOLD_KEY)

# After the lab stylesheet, so these win. The math fonts are the reader's own (a
# font with a MATH table draws big sums and fractions well), never downloaded.
CSS = """\
main { max-width: 1100px; margin: 0 auto; }
details.book-setup { margin: 4px 0; }
details.book-setup > summary {
  cursor: pointer; padding: 4px 8px; color: var(--jp-content-font-color2);
  font-family: var(--jp-ui-font-family); font-size: var(--jp-ui-font-size1);
}
math {
  font-family: "Latin Modern Math", "STIX Two Math", "DejaVu Math TeX Gyre", "Cambria Math", math;
  font-size: 1.1em;
}
math[display="block"] { margin: 0.6em 0; overflow-x: auto; overflow-y: hidden; }
code.book-tex { color: var(--jp-error-color1); }
ul.book-contents { list-style: none; padding-left: 0; }
ul.book-contents li { margin: 0.5em 0; font-size: var(--jp-content-font-size3); }
"""


def setup_label(cell):
    """The summary of a folded set-up cell, or None for a cell that stays open."""
    if cell.cell_type != "code" or not cells.is_setup(cell):
        return None
    if cells.grade_id(cell) == "setup":
        return "Set-up code"
    return "Set-up code: helpers for the checks"


def for_reading(nb):
    """A copy of ``nb`` as the book shows it: no stderr outputs, set-up cells marked to fold."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = [out for out in cell.get("outputs", []) if not _is_stderr(out)]
        label = setup_label(cell)
        if label:
            cell.metadata[FOLD_KEY] = label
    return nb


def _is_stderr(output):
    return output.get("output_type") == "stream" and output.get("name") == "stderr"


def to_html(nb, title):
    """The page of ``nb`` (already prepared by the caller), titled ``title``."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({TEMPLATE_NAME: TEMPLATE})],
        template_file=TEMPLATE_NAME,
    )
    resources = {"metadata": {"name": title}, "book_css": CSS}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body
