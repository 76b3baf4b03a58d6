"""Sphinx extension: serve MathJax 3 from the built book, so formulas render with no network.

MathJax comes from the pinned PyPI package ``django-static-mathjax`` (MathJax 3.2.2's official
``es5`` tree, installed by ``pip install -r requirements.txt``; nothing is committed by hand).
When the configuration is read, this extension copies the three parts of that tree the book
needs (about 2 MB) into a staging folder next to the doctrees:

* ``es5/tex-mml-chtml.js``: TeX input, CommonHTML output, the menu and the loader, in one file;
* ``es5/output/chtml/fonts/woff-v2/``: the fonts CommonHTML draws with;
* ``es5/input/tex/extensions/``: TeX packages MathJax loads on demand (``\\boldsymbol`` ...).

The staging folder is added to ``html_extra_path``, whose contents Sphinx copies verbatim into
the output, so the files land in ``_build/html/_static/mathjax/es5/``. They must not go in a
*source* ``_static/`` folder: Jupyter Book 1.x adds every ``.js``/``.css`` file found there to
every page, which would load ~70 MathJax scripts per page. ``mathjax_path`` (resolved by Sphinx
relative to ``_static/``) then points each page at the local copy. Equation numbers and
``{eq}`` links are plain HTML and need nothing from MathJax.
"""

from __future__ import annotations

import filecmp
import importlib.util
import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

MATHJAX_PACKAGE = "mathjax"  # the import name of the django-static-mathjax distribution
ENTRY = "tex-mml-chtml.js"
NEEDED = (ENTRY, "output/chtml/fonts/woff-v2", "input/tex/extensions")
OUT_DIR = "_static/mathjax/es5"  # where the files land inside the built HTML


def es5_source() -> Path:
    """The ``es5`` folder of the installed MathJax package (without importing it)."""
    spec = importlib.util.find_spec(MATHJAX_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        es5 = Path(location) / "static" / "mathjax" / "es5"
        if (es5 / ENTRY).is_file():
            return es5
    raise ExtensionError(
        "MathJax for offline rendering not found: install the pinned requirements "
        "(`.venv/bin/pip install -r requirements.txt` provides django-static-mathjax)"
    )


def _sync(src: Path, dst: Path) -> None:
    """Copy ``src`` (file or folder) to ``dst``, skipping files that are already identical."""
    if src.is_dir():
        for item in src.rglob("*"):
            if item.is_file():
                _sync(item, dst / item.relative_to(src))
        return
    if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def _stage(app, config) -> None:
    source = es5_source()
    stage = Path(app.doctreedir).parent / ".offline_mathjax"
    target = stage / OUT_DIR
    for part in NEEDED:
        _sync(source / part, target / part)
    config.html_extra_path = [*config.html_extra_path, str(stage)]
    # add_js_file() prefixes "_static/" to a relative path: this is _static/mathjax/es5/...
    config.mathjax_path = f"mathjax/es5/{ENTRY}"


def setup(app):
    app.connect("config-inited", _stage)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
