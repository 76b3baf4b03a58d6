"""Sphinx extension: typeset the formulas with MathJax 4, served from the built book (offline).

Why MathJax 4 (not the 3.2.2 of earlier builds): MathJax 4 breaks a display equation that is
wider than its box into lines (``displayOverflow: "linebreak"``), also inside ``aligned``, so a
long formula fits the column at 1280 px, on a 390 px phone and on a printed page, with no
horizontal scrolling and no number drawn over a cut (issue 16, section 2). MathJax 3 has no line
breaking; it clipped 30 of 133 display equations at 1280 px and 99 at 390 px.

Why vendored: no pinned PyPI package ships MathJax 4, and the book must render with no network.
``_ext/mathjax4/`` holds the unmodified files of two npm packages, pinned by version, that the
book needs (3.7 MB, 188 files; MathJax and its font are Apache-2.0, their LICENSE is beside
them)::

    npm pack mathjax@4.1.3                      # sha256 b7109f51...0c54d
    npm pack @mathjax/mathjax-newcm-font@4.1.3  # sha256 87d7b869...70c8b88

* ``tex-chtml.js`` (``mathjax/``): TeX input, CommonHTML output, the menu and the loader;
* ``input/tex/extensions/`` (``mathjax/``): TeX packages loaded on demand (``\\boldsymbol``);
* ``fonts/mathjax-newcm-font/chtml/{woff2,dynamic}/`` (``@mathjax/mathjax-newcm-font/chtml/``):
  the fonts CommonHTML draws with and the glyph data loaded on demand.

To update: ``npm pack`` both packages at one new version and copy the same files over.

When the configuration is read, the folder is copied (changed files only) into a staging folder
added to ``html_extra_path``, so it lands in ``_build/html/_static/mathjax4/``. It must not be a
*source* ``_static/`` folder: Jupyter Book 1.x adds every ``.js`` found there to every page.
``mathjax_path`` (relative to ``_static/``) points each page at it, and ``mathjax3_config``
(Sphinx writes it as ``window.MathJax``; MathJax 4 reads the same object) sets:

* the font location inside the build (``[mathjax]`` is the folder of ``tex-chtml.js``), instead
  of MathJax 4's default, a CDN;
* line breaking of display equations wider than their box;
* no speech, Braille or semantic enrichment: those load the speech rule engine and its language
  maps from a CDN. Screen readers get MathJax's assistive MathML instead, which is built in.

Equation numbers and ``{eq}`` links are Sphinx's HTML (``span.eqno``), not MathJax's; the
book's CSS (``_ext/static/rnnbook.css``) keeps the number beside the formula, never over it.
"""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

VENDORED = Path(__file__).parent / "mathjax4"
ENTRY = "tex-chtml.js"
OUT_DIR = "_static/mathjax4"  # where the files land inside the built HTML

MATHJAX_CONFIG = {
    "loader": {"paths": {"fonts": "[mathjax]/fonts"}},
    "output": {
        "displayOverflow": "linebreak",
        "linebreaks": {"inline": True, "width": "100%"},
    },
    "options": {
        "enableSpeech": False,
        "enableBraille": False,
        "enableExplorer": False,
        "enableEnrichment": False,
        "menuOptions": {
            "settings": {
                "speech": False,
                "braille": False,
                "enrich": False,
                "collapsible": False,
                "assistiveMml": True,
            }
        },
    },
}


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


def _merge(base: dict, extra: dict) -> dict:
    """``base`` updated with ``extra``, nested dictionaries merged rather than replaced."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _stage(app, config) -> None:
    if not (VENDORED / ENTRY).is_file():
        raise ExtensionError(
            f"MathJax 4 not found at {VENDORED / ENTRY} (see _ext/offline_mathjax.py)"
        )
    stage = Path(app.doctreedir).parent / ".offline_mathjax"
    target = stage / OUT_DIR
    shutil.rmtree(stage / "_static" / "mathjax", ignore_errors=True)  # MathJax 3, earlier builds
    _sync(VENDORED, target)
    config.html_extra_path = [*config.html_extra_path, str(stage)]
    # add_js_file() prefixes "_static/" to a relative path: this is _static/mathjax4/tex-chtml.js
    config.mathjax_path = f"mathjax4/{ENTRY}"
    config.mathjax3_config = _merge(MATHJAX_CONFIG, config.mathjax3_config or {})


def setup(app):
    app.connect("config-inited", _stage)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
