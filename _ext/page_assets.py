"""Sphinx extension: small fixes to what every HTML page loads.

* **One copy of each inline script.** sphinx-thebe adds its configuration script
  (``const THEBE_JS_URL = ...``) with ``app.add_js_file(None, ...)`` after the HTML builder has
  collected the registered scripts with ``filename=''``; Sphinx then sees two different
  entries and writes the script twice, and the second ``const`` declaration is a JavaScript
  error on every page ("Identifier 'THEBE_JS_URL' has already been declared").
  sphinx-togglebutton's ``var togglebuttonSelector`` is written twice the same way.
  Before the pages are written, the early copies are dropped.
* **The book's stylesheet and script**, ``_ext/static/rnnbook.css`` and ``rnnbook.js`` (see
  the comments there): the column width, code and output that fit it, equation numbers beside
  the formula, figures on a white ground in dark mode and opened full size by a click, print
  layout for the PDF (``scripts/build_pdf.py``), and search ranking of section titles. The
  script is added before Sphinx's search script (priority 200), which reads its ``Scorer``.
"""

from pathlib import Path

STATIC = Path(__file__).parent / "static"
CSS = "rnnbook.css"
JS = "rnnbook.js"


def _merge_inline_scripts(app, env):
    builder = app.builder
    if not hasattr(builder, "_js_files"):
        return
    # prepare_writing() re-adds every registered script as filename '' (``filename or ''``);
    # the copies added earlier with filename None are then duplicates: drop them here.
    registered = {(attrs.get("body"), filename) for filename, attrs in app.registry.js_files}
    builder._js_files[:] = [
        js
        for js in builder._js_files
        if not (js.filename is None and (js.attributes.get("body"), None) in registered)
    ]


def _add_static(app):
    app.config.html_static_path.append(str(STATIC))
    app.add_css_file(CSS)
    app.add_js_file(JS, priority=200)


def setup(app):
    app.connect("builder-inited", _add_static)
    # env-updated runs after sphinx-thebe's env-before-read-docs and before the HTML builder
    # freezes its script list for the pages (prepare_writing).
    app.connect("env-updated", _merge_inline_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
