"""Open every page of the built book in a real headless browser and check what a reader sees.

Run after the book is built (``.ci/run`` does, after the strict build)::

    .venv/bin/python scripts/check_built_book.py            # checks _build/html
    .venv/bin/python scripts/check_built_book.py PATH/html  # another build

It serves the HTML folder on 127.0.0.1 (a Python http.server thread), drives Debian's
``chromium`` through ``chromium-driver`` and selenium (the system packages: ``apt-get install
chromium chromium-driver``; ``.ci/run`` installs them when missing), and opens every ``.html``
page. The browser can reach loopback only: every other host name resolves to nothing
(``--host-resolver-rules``), so a page that still needs a CDN shows up as a console error, and
passing proves the book renders offline.

On every page it fails on:

* **untypeset math**: a ``span.math``/``div.math`` without a MathJax ``mjx-container``, raw TeX
  delimiters (``\\(``, ``\\)``, ``\\[``, ``\\]``, ``$$``) left in text outside code, or a MathJax
  error node (``mjx-merror``). Chapter pages (the Introduction and ``NN_*.html``) must
  typeset at least one formula;
* **an image that did not load** (``naturalWidth`` 0 after loading, lazy images forced to load);
* **a broken internal link**: an ``<a href>`` to a file missing from the build, or to an
  ``#anchor`` that is no ``id``/``name`` in the target page (links to other hosts are counted,
  not followed: the browser is offline by design);
* **a JavaScript console error** (any SEVERE browser log entry, including failed loads);
* **unused live-code (thebe) assets** (its configuration, script or stylesheet) while no launch
  button uses them;
* **a solution visible before the reader opens it**: every admonition titled "Solution..." must
  be a folded dropdown with its body hidden; no other visible element may start with the word
  "Solution"; code cells tagged ``hide-cell``/``hide-input``/``hide-output`` must have that
  part hidden; every code cell under an "Exercises" heading must be folded (``hide-cell`` or
  ``hide-input``). Each fold is then opened by a click and must show its content;
* **horizontal overflow** of the page at a 390 px phone width and at 1280 px
  (``document.documentElement.scrollWidth > innerWidth``); the widest offenders are named;
* **a clipped display equation** (issue 16): the page is loaded at each width (MathJax 4 breaks
  lines for the width it typesets at) and every display equation whose formula is wider than
  its box (beside its number) is counted. At 1280 px none may be; at 390 px one may be only if
  its box scrolls (``overflow-x: auto``), and at most 5% of the book's display equations;
* **a wide code or output block at 1280 px**: a ``pre`` or output table wider than its box;
* **figures** (every image in a cell's output or a ``figure``): each needs a numbered caption
  (``Fig. N.M``), alt text that is not a file path, and a scale of at least 0.9 CSS px per
  point at 1280 px, so that matplotlib's 10-pt text is at least 9 CSS px on screen. Scale:
  PNG ``shown width / natural width * dpi / 72`` (dpi from the PNG's pHYs chunk; matplotlib
  writes it; 100, matplotlib's ``figure.dpi``, if absent), SVG ``96/72 * shown / natural``;
* **phone navigation**: at 390 px a click on the visible ☰ button must show the chapter list
  (at least 5 links inside the window) and a click on the visible contents button the page's
  contents (its section links), on every page that has them.

It prints one line per page and a total, and exits 1 if any check failed (2 if it could not
run at all). ``--report`` prints the same lines and always exits 0 (for a book whose figures
are still being captioned); ``--only TEXT`` checks only pages whose path contains TEXT. The
whole book (each page loaded at both widths) takes about five minutes on a loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import functools
import html.parser
import http.server
import os
import re
import shutil
import struct
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads", "_panels_static", ".doctrees"}
CHAPTER = re.compile(r"(^|/)(intro|\d\d_[^/]*)\.html$")
PHONE, DESKTOP = (390, 844), (1280, 900)
MIN_SCALE = 0.9  # CSS px per point: matplotlib's 10-pt text at >= 9 CSS px
# matplotlib's figure.dpi, which the inline backend (matplotlib-inline 0.2) keeps
DEFAULT_DPI = 100.0
MAX_PHONE_WIDE_EQUATIONS = 0.05  # share of display equations wider than their box at 390 px
FILE_PATH = re.compile(r"(^|/)[^\s/]+\.(png|svg|jpe?g|gif|webp)$|^\.\.?/|_images/", re.I)

# ---------------------------------------------------------------------------------------------
# Static side: which ids every page defines (to check links and anchors)


class _IdCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                if value:
                    self.ids.add(value)


@functools.lru_cache(maxsize=None)
def page_ids(path: Path) -> frozenset[str]:
    collector = _IdCollector()
    collector.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(collector.ids)


def html_pages(root: Path) -> list[Path]:
    pages = []
    for path in sorted(root.rglob("*.html")):
        parts = path.relative_to(root).parts
        if not (set(parts[:-1]) & SKIP_DIRS or any(p.startswith(".") for p in parts)):
            pages.append(path)
    return pages


def check_links(links, page_url, base_url, root: Path, dom_ids):
    """Return (number of internal links checked, number external, list of problems)."""
    base = urlsplit(base_url)
    checked = external = 0
    problems = []
    for href in dict.fromkeys(links):  # unique, in order
        url = urlsplit(href)
        if url.scheme in ("mailto", "javascript", "data", "tel"):
            continue
        if (url.scheme, url.netloc) != (base.scheme, base.netloc):
            external += 1
            continue
        checked += 1
        path = unquote(url.path)
        if not path.startswith(base.path):
            problems.append(f"link outside the book: {href}")
            continue
        target = root / path[len(base.path):]
        if path.endswith("/") or target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"broken link: {href}")
            continue
        fragment = unquote(url.fragment)
        if fragment and target.suffix == ".html":
            same_page = href.split("#")[0] == page_url.split("#")[0]
            ids = page_ids(target) | (dom_ids if same_page else frozenset())
            if fragment not in ids:
                problems.append(f"missing anchor: {href}")
    return checked, external, problems


# ---------------------------------------------------------------------------------------------
# Browser side

WAIT_FOR_PAGE = """
const done = arguments[arguments.length - 1];
const settle = () => {
  const mj = window.MathJax;
  const ready = (mj && mj.startup && mj.startup.promise) ? mj.startup.promise : Promise.resolve();
  ready.then(() => done(true), (e) => done('MathJax failed: ' + e));
};
if (document.readyState === 'complete') settle(); else window.addEventListener('load', settle);
"""

# Every check that needs the rendered DOM, in one round trip. Runs before anything is clicked.
INSPECT = r"""
const done = arguments[arguments.length - 1];
const out = {};
const visible = (el) => el.checkVisibility({opacityProperty: true, visibilityProperty: true})
  && el.getClientRects().length > 0;

// Math: every Sphinx math node holds a MathJax container; no raw TeX in text; no errors.
const mathNodes = [...document.querySelectorAll('span.math, div.math')];
out.mathNodes = mathNodes.length;
out.untypeset = mathNodes.filter((n) => !n.querySelector('mjx-container'))
  .map((n) => n.textContent.trim().slice(0, 60));
out.formulas = document.querySelectorAll('mjx-container').length;
out.merrors = [...document.querySelectorAll('mjx-merror')]
  .map((n) => (n.getAttribute('data-mjx-error') || n.textContent).slice(0, 80));
const SKIP = 'script, style, pre, code, textarea, mjx-container, .highlight, .linenos';
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
out.rawTex = [];
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const text = node.nodeValue;
  if (!/\\[()\[\]]|\$\$/.test(text)) continue;
  if (node.parentElement && node.parentElement.closest(SKIP)) continue;
  out.rawTex.push(text.trim().slice(0, 80));
}

// Live-code (thebe) assets, unused while no launch button runs code (_ext/launch_buttons.py).
out.thebe = [...document.querySelectorAll(
  'script[type="text/x-thebe-config"], script[src*="thebe"], link[href*="thebe"]')]
  .map((e) => e.getAttribute('src') || e.getAttribute('href') || e.type);
if ([...document.scripts].some((e) => /THEBE_JS_URL/.test(e.textContent))) {
  out.thebe.push('THEBE_JS_URL');
}

// Links, as the browser resolved them; ids present in the live DOM.
out.links = [...document.querySelectorAll('a[href]')].map((a) => a.href);
out.ids = [...document.querySelectorAll('[id]')].map((e) => e.id);

// Solutions folded before any click.
out.solutions = 0;
out.solutionProblems = [];
const titleOf = (adm) => adm.querySelector(':scope > .admonition-title');
for (const adm of document.querySelectorAll('.admonition')) {
  const title = titleOf(adm);
  if (!title || !/^Solution\b/.test(title.textContent.trim())) continue;
  out.solutions += 1;
  const name = title.textContent.trim().slice(0, 50);
  if (!adm.classList.contains('dropdown')) {
    out.solutionProblems.push(`solution not a dropdown: "${name}"`);
  }
  const shown = [...adm.children].filter((c) => c !== title
    && !c.matches('button.toggle-button') && visible(c) && c.textContent.trim());
  if (shown.length) out.solutionProblems.push(`solution shown before opening: "${name}"`);
}
const flagged = [];
for (const el of document.querySelectorAll('p, li, h1, h2, h3, h4, h5, h6, strong, b, em, dt, summary')) {
  if (!/^Solution\b/.test(el.textContent.trim()) || !visible(el)) continue;
  if (flagged.some((f) => f.contains(el))) continue;  // one report per block
  const adm = el.closest('.admonition');
  if (adm && adm.classList.contains('dropdown') && titleOf(adm)
      && titleOf(adm).contains(el)) continue;
  if (el.closest('nav, .bd-sidebar, .bd-toc, #searchbox, .search')) continue;
  flagged.push(el);
  out.solutionProblems.push(`visible text starts with "Solution" outside a folded dropdown: `
    + `"${el.textContent.trim().slice(0, 50)}"`);
}
out.foldedCells = 0;
const PARTS = {'hide-cell': ['.cell_input', '.cell_output'], 'hide-input': ['.cell_input'],
               'hide-output': ['.cell_output']};
for (const [tag, parts] of Object.entries(PARTS)) {
  for (const cell of document.querySelectorAll(`.cell.tag_${tag}`)) {
    out.foldedCells += 1;
    for (const sel of parts) {
      const part = cell.querySelector(sel);
      if (part && visible(part) && part.textContent.trim()) {
        out.solutionProblems.push(`${tag} cell shows its ${sel.slice(6)} before opening: `
          + `"${part.textContent.trim().slice(0, 50)}"`);
      }
    }
  }
}
for (const section of document.querySelectorAll('section')) {
  const heading = section.querySelector(':scope > h1, :scope > h2, :scope > h3');
  if (!heading || !/^Exercises\b/.test(heading.textContent.trim())) continue;
  for (const cell of section.querySelectorAll('.cell')) {
    if (cell.matches('.tag_hide-cell, .tag_hide-input')) continue;
    const src = cell.querySelector('.cell_input');
    out.solutionProblems.push('code cell under "Exercises" is not folded: '
      + `"${(src ? src.textContent : cell.textContent).trim().slice(0, 50)}"`);
  }
}

// Images: force lazy ones to load, wait for all, then look for the broken ones.
const imgs = [...document.images];
imgs.forEach((img) => { img.loading = 'eager'; });
const loaded = imgs.map((img) => img.complete ? Promise.resolve() : new Promise((resolve) => {
  img.addEventListener('load', resolve, {once: true});
  img.addEventListener('error', resolve, {once: true});
}));
const timeout = new Promise((resolve) => setTimeout(resolve, 10000));
Promise.race([Promise.all(loaded), timeout]).then(() => {
  out.images = imgs.length;
  out.badImages = imgs.filter((img) => !img.complete || img.naturalWidth === 0)
    .map((img) => img.getAttribute('src'));
  done(out);
});
"""

OVERFLOW = """
const done = arguments[arguments.length - 1];
requestAnimationFrame(() => requestAnimationFrame(() => {
  const width = window.innerWidth;
  const scroll = document.documentElement.scrollWidth;
  const offenders = [];
  // An element sticking out of a box that clips or scrolls (a code block) widens nothing.
  // Nor does one inside a fixed-position layer (the theme's off-screen drawers).
  const clipped = (el) => {
    if (getComputedStyle(el).position === 'fixed') return true;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (style.overflowX !== 'visible' || style.position === 'fixed') return true;
    }
    return false;
  };
  if (scroll > width) {
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.right <= width + 1 || r.width === 0) continue;
      if (offenders.some((o) => o.el.contains(el)) || clipped(el)) continue;
      const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
        + (el.className && typeof el.className === 'string'
           ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
      const text = el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 40);
      offenders.push({el, text: `${name} (right edge ${Math.round(r.right)} px: "${text}")`});
    }
  }
  done({width, scroll, offenders: offenders.slice(0, 3).map((o) => o.text)});
}));
"""

# Open every fold (solution dropdowns, hidden cells) by clicking it, then check it shows.
OPEN_FOLDS = r"""
const done = arguments[arguments.length - 1];
const visible = (el) => el.checkVisibility({opacityProperty: true, visibilityProperty: true})
  && el.getClientRects().length > 0;
const problems = [];
const folds = [];
for (const adm of document.querySelectorAll('.admonition.dropdown')) {
  const title = adm.querySelector(':scope > .admonition-title');
  if (!title || !/^Solution\b/.test(title.textContent.trim())) continue;
  const button = adm.querySelector(':scope > button.toggle-button') || title;
  button.click();
  folds.push({name: title.textContent.trim().slice(0, 50),
              parts: [...adm.children].filter((c) => c !== title && c !== button
                && c.textContent.trim())});
}
for (const cell of document.querySelectorAll(
    '.cell.tag_hide-cell, .cell.tag_hide-input, .cell.tag_hide-output')) {
  for (const details of cell.querySelectorAll('details')) {
    const summary = details.querySelector(':scope > summary');
    if (summary && !details.open) summary.click();
  }
  const part = cell.matches('.tag_hide-output') ? '.cell_output' : '.cell_input';
  folds.push({name: 'hidden cell', parts: [...cell.querySelectorAll(part)]});
}
setTimeout(() => {  // sphinx-togglebutton fades content in over 0.3 s
  for (const fold of folds) {
    if (fold.parts.length && !fold.parts.some(visible)) {
      problems.push(`opening "${fold.name}" does not show its content`);
    }
  }
  done({opened: folds.length, problems});
}, folds.length ? 400 : 0);
"""

# Display equations and wide blocks, at the current width (after MathJax typeset at it).
LAYOUT = r"""
const done = arguments[arguments.length - 1];
requestAnimationFrame(() => requestAnimationFrame(() => {
  const out = {equations: 0, wideEquations: [], noScroll: [], blocks: 0, wideBlocks: []};
  // Whole characters only: a cut through a surrogate pair cannot be sent back to Python.
  const cut = (text, n) => Array.from(text).slice(0, n).join('');
  const label = (el) => cut(el.textContent.trim().replace(/\s+/g, ' '), 50);
  for (const box of document.querySelectorAll('.bd-article div.math')) {
    const mjx = box.querySelector('mjx-container');
    if (!mjx) continue;
    out.equations += 1;
    const eqno = box.querySelector(':scope > span.eqno');
    const math = mjx.querySelector('mjx-math') || mjx;
    const boxRect = box.getBoundingClientRect();
    const right = eqno && eqno.getClientRects().length
      ? Math.min(boxRect.right, eqno.getBoundingClientRect().left) : boxRect.right;
    const wide = mjx.scrollWidth > mjx.clientWidth + 1
      || math.getBoundingClientRect().right > right + 1
      || math.getBoundingClientRect().left < boxRect.left - 1;
    if (!wide) continue;
    const name = (eqno ? eqno.textContent.replace('#', '').trim() + ' ' : '')
      + (box.id || '');
    out.wideEquations.push(name || label(box));
    const style = getComputedStyle(mjx);
    if (!['auto', 'scroll'].includes(style.overflowX)) out.noScroll.push(name || label(box));
  }
  const blocks = document.querySelectorAll(
    '.bd-article pre, .bd-article .cell_output table, .bd-article .cell_output .output');
  for (const el of blocks) {
    if (!el.getClientRects().length) continue;  // folded (a hidden solution cell)
    if (el.matches('.output') && el.querySelector('pre, table')) continue;  // counted inside
    out.blocks += 1;
    const article = el.closest('.bd-article').getBoundingClientRect();
    const r = el.getBoundingClientRect();
    if (el.scrollWidth > el.clientWidth + 1 || r.right > article.right + 1) {
      out.wideBlocks.push(`${el.tagName.toLowerCase()} ${el.scrollWidth}>${el.clientWidth} px: `
        + `"${cut(label(el), 40)}"`);
    }
  }
  done(out);
}));
"""

# Figures: every image in a cell's output or a figure, its caption, alt text and shown size.
FIGURES = r"""
const out = [];
for (const img of document.querySelectorAll('.bd-article .cell_output img, .bd-article figure img')) {
  const figure = img.closest('figure');
  const number = figure ? figure.querySelector('figcaption .caption-number') : null;
  out.push({src: img.getAttribute('src'), url: img.src, alt: img.getAttribute('alt') || '',
            caption: number ? number.textContent.trim() : '',
            shown: img.getBoundingClientRect().width, natural: img.naturalWidth});
}
return out;
"""

# Phone navigation: click the *visible* toggle buttons and look for what they should open.
VISIBLE_TOGGLE = r"""
const [selector] = arguments;
const visible = (el) => el.checkVisibility({opacityProperty: true, visibilityProperty: true})
  && el.getClientRects().length > 0 && el.getBoundingClientRect().width > 0;
return [...document.querySelectorAll(selector)].find(visible) || null;
"""
LINKS_SHOWN = r"""
const [selector] = arguments;
const visible = (el) => el.checkVisibility({opacityProperty: true, visibilityProperty: true})
  && el.getClientRects().length > 0;
const width = window.innerWidth, height = window.innerHeight;
return [...document.querySelectorAll(selector)].filter((a) => {
  if (!visible(a)) return false;
  const r = a.getBoundingClientRect();
  return r.width > 0 && r.left >= -1 && r.right <= width + 1 && r.top < height && r.bottom > 0
    && document.elementsFromPoint(r.left + Math.min(5, r.width / 2), r.top + r.height / 2)
         .some((e) => e === a || a.contains(e) || e.contains(a));
}).length;
"""
TOC_LINKS = ('nav.bd-docs-nav a.reference, .bd-sidebar-primary nav a.reference, '
             'dialog[open] nav a.reference')
PAGE_TOC_LINKS = 'nav.page-toc a, .bd-toc-nav a, dialog[open] .page-toc a'


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log on stderr
        pass


def serve(root: Path):
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def start_browser(window: tuple[int, int] = DESKTOP, timeout: int = 30,
                  program: str = "check_built_book"):
    """Headless Chromium, offline but for loopback, at ``window`` (CSS px), with ``timeout``
    seconds for page loads and scripts. ``scripts/build_pdf.py`` uses it too."""
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download drivers
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        sys.exit(
            f"{program}: needs Debian's chromium and chromium-driver on the PATH "
            "(as root: apt-get update && apt-get install -y chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        # Offline by construction: every host name except loopback resolves to nothing.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--no-proxy-server",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        f"--window-size={window[0]},{window[1]}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_script_timeout(timeout)
    driver.set_page_load_timeout(timeout)
    return driver


def set_width(driver, size):
    width, height = size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


# Chromium asks every page without an icon link for /favicon.ico on its own; the root
# index.html (a redirect written by Jupyter Book, not a book page) has none.
FAVICON_404 = re.compile(r"/favicon\.ico - Failed to load resource: .* 404")


def console_errors(driver):
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry.get("level") == "SEVERE" and not FAVICON_404.search(entry["message"])
    ]


def png_dpi(path: Path) -> float | None:
    """The dots per inch stored in a PNG's pHYs chunk, or None if it has none."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        if kind == b"pHYs":
            x, _y, unit = struct.unpack(">IIB", data[pos + 8:pos + 17])
            return x * 0.0254 if unit == 1 and x else None
        if kind in (b"IDAT", b"IEND"):
            return None
        pos += 12 + length
    return None


def svg_width(path: Path) -> float | None:
    """The intrinsic width of an SVG in CSS px (its width attribute in pt or px)."""
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return None
    match = re.search(r"<svg[^>]*\swidth=\"([\d.]+)(pt|px)?\"", head)
    if not match:
        return None
    return float(match[1]) * (96 / 72 if match[2] == "pt" else 1)


def figure_scale(fig, root: Path, base_url: str) -> float | None:
    """CSS px per point at which a figure's text is shown (None if not measurable)."""
    path = urlsplit(fig["url"]).path
    base = urlsplit(base_url).path
    file = root / unquote(path[len(base):]) if path.startswith(base) else None
    if not fig["natural"] or not fig["shown"] or file is None:
        return None
    if file.suffix.lower() == ".svg":
        natural = svg_width(file) or fig["natural"]
        return 96 / 72 * fig["shown"] / natural
    dpi = png_dpi(file) if file.suffix.lower() == ".png" else None
    return fig["shown"] / fig["natural"] * (dpi or DEFAULT_DPI) / 72


def check_navigation(driver):
    """At phone width: (summary, problems) for the visible ☰ and contents buttons."""
    from selenium.webdriver.common.keys import Keys

    problems, parts = [], []
    for name, toggle, links, minimum in (
        ("chapters", ".primary-toggle", TOC_LINKS, 5),
        ("contents", ".secondary-toggle", PAGE_TOC_LINKS, 1),
    ):
        button = driver.execute_script(VISIBLE_TOGGLE, toggle)
        if button is None:
            if name == "chapters":
                problems.append("phone: no visible ☰ (site navigation) button")
            parts.append(f"{name} -")
            continue
        before = driver.execute_script(LINKS_SHOWN, links)
        try:
            button.click()
        except Exception as error:  # noqa: BLE001 - report any click failure as a problem
            problems.append(f"phone: the {name} button cannot be clicked: {type(error).__name__}")
            parts.append(f"{name} FAIL")
            continue
        time.sleep(0.6)  # the drawer slides in
        shown = driver.execute_script(LINKS_SHOWN, links)
        if shown < minimum or shown <= before:
            problems.append(f"phone: the {name} button opens nothing ({shown} links shown)")
            parts.append(f"{name} FAIL")
        else:
            parts.append(f"{name} {shown}")
        driver.switch_to.active_element.send_keys(Keys.ESCAPE)  # close the drawer
        time.sleep(0.3)
        if driver.execute_script("return !!document.querySelector('dialog[open]')"):
            driver.execute_script("document.querySelectorAll('dialog[open]')"
                                  ".forEach((d) => d.close())")
    return "nav " + ", ".join(parts), problems


def check_page(driver, page: Path, root: Path, base_url: str):
    rel = page.relative_to(root).as_posix()
    url = base_url + rel
    problems = []
    stats = {}
    # Phone first: MathJax breaks lines for the width it typesets at, as on a real phone.
    set_width(driver, PHONE)
    driver.get(url)
    driver.execute_async_script(WAIT_FOR_PAGE)
    phone = driver.execute_async_script(LAYOUT)
    for name in phone["noScroll"]:
        problems.append(f"390 px: equation {name} wider than its box and does not scroll")
    nav_summary, nav_problems = check_navigation(driver)
    problems += nav_problems

    set_width(driver, DESKTOP)
    driver.get(url)
    ready = driver.execute_async_script(WAIT_FOR_PAGE)
    if ready is not True:
        problems.append(str(ready))
    info = driver.execute_async_script(INSPECT)
    desk = driver.execute_async_script(LAYOUT)
    for name in desk["wideEquations"]:
        problems.append(f"1280 px: equation {name} wider than its box")
    for text in desk["wideBlocks"]:
        problems.append(f"1280 px: block wider than its box: {text}")
    figures = driver.execute_script(FIGURES)
    fig_problems = []
    scales = []
    for fig in figures:
        name = fig["caption"] or Path(fig["src"]).name[:16]
        if not fig["caption"]:
            fig_problems.append(f"figure without a numbered caption: {Path(fig['src']).name[:16]}")
        if not fig["alt"].strip() or FILE_PATH.search(fig["alt"].strip()):
            fig_problems.append(f"figure alt text is a file path or empty: {name}")
        scale = figure_scale(fig, root, base_url)
        if scale is not None:
            scales.append(scale)
            if scale < MIN_SCALE:
                fig_problems.append(f"figure {name} shown at {scale:.2f} CSS px per point "
                                    f"(< {MIN_SCALE}): its text is below 9 px")
    problems += fig_problems
    stats.update(
        equations=desk["equations"], wide_desktop=len(desk["wideEquations"]),
        wide_phone=len(phone["wideEquations"]), blocks=desk["blocks"],
        wide_blocks=len(desk["wideBlocks"]), wide_blocks_phone=len(phone["wideBlocks"]),
        figures=len(figures), captioned=sum(bool(f["caption"]) for f in figures),
        alt=sum(bool(f["alt"].strip()) and not FILE_PATH.search(f["alt"].strip())
                for f in figures),
        legible=sum(x >= MIN_SCALE for x in scales), nav_ok=not nav_problems,
    )
    current = driver.current_url  # a redirect page (the root index.html) ends elsewhere

    for text in info["untypeset"]:
        problems.append(f"formula not typeset: {text!r}")
    for text in info["rawTex"]:
        problems.append(f"raw TeX in the text: {text!r}")
    for text in info["merrors"]:
        problems.append(f"MathJax error: {text!r}")
    if CHAPTER.search(rel) and info["formulas"] == 0:
        problems.append("chapter page with no typeset formula")
    for asset in info["thebe"]:
        problems.append(f"unused live-code (thebe) asset on the page: {asset}")
    for src in info["badImages"]:
        problems.append(f"image did not load: {src}")
    checked, external, link_problems = check_links(
        info["links"], current, base_url, root, frozenset(info["ids"])
    )
    problems += link_problems
    problems += info["solutionProblems"]

    widths = {}
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):  # the page is at DESKTOP now
        if size != DESKTOP:
            set_width(driver, size)
        result = driver.execute_async_script(OVERFLOW)
        widths[label] = result["scroll"]
        if result["scroll"] > result["width"]:
            problems.append(
                f"page {result['scroll']} px wide at {result['width']} px: "
                + ", ".join(result["offenders"])
            )
    folds = driver.execute_async_script(OPEN_FOLDS)  # at phone width; the result is the same
    problems += folds["problems"]

    errors = console_errors(driver)
    problems += [f"console error: {message}" for message in errors]

    summary = (
        f"{'OK  ' if not problems else 'FAIL'} {rel:<50} formulas {info['formulas']:>4}  "
        f"images {info['images'] - len(info['badImages'])}/{info['images']}  "
        f"links {checked} (+{external} external)  "
        f"solutions {info['solutions']} folded, {info['foldedCells']} hidden cells  "
        f"console errors {len(errors)}  width {widths['phone']}@390 {widths['desktop']}@1280\n"
        f"     {'':<50} display eqs {stats['equations']}: wider than box "
        f"{stats['wide_desktop']}@1280 {stats['wide_phone']}@390"
        + (f" (scrolling: {', '.join(phone['wideEquations'])})" if phone["wideEquations"] else "")
        + "  "
        f"blocks {stats['blocks']}: wide {stats['wide_blocks']}@1280 "
        f"({stats['wide_blocks_phone']}@390, scroll)  "
        f"figures {stats['figures']}: captioned {stats['captioned']} alt {stats['alt']} "
        f"scale>={MIN_SCALE} {stats['legible']}"
        + (f" (min {min(scales):.2f})" if scales else "") + f"  {nav_summary}"
    )
    return summary, problems, info["formulas"], stats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("html", nargs="?", default=str(ROOT / "_build" / "html"),
                        help="the built HTML folder (default: _build/html)")
    parser.add_argument("--report", action="store_true",
                        help="print every page's line and problems, but always exit 0")
    parser.add_argument("--only", default="",
                        help="check only pages whose path contains this text")
    args = parser.parse_args(argv)
    root = Path(args.html).resolve()
    if not (root / "index.html").is_file():
        print(f"check_built_book: no built book at {root} (build it first)", file=sys.stderr)
        return 2
    pages = [p for p in html_pages(root) if args.only in p.relative_to(root).as_posix()]
    start = time.perf_counter()
    server, base_url = serve(root)
    driver = start_browser()
    failed = formulas = 0
    totals: dict[str, int] = {}
    try:
        console_errors(driver)  # drop anything logged while starting
        for page in pages:
            summary, problems, count, stats = check_page(driver, page, root, base_url)
            formulas += count
            for key, value in stats.items():
                totals[key] = totals.get(key, 0) + int(value)
            print(summary, flush=True)
            for problem in problems:
                print(f"       - {problem}", flush=True)
            failed += bool(problems)
    finally:
        driver.quit()
        server.shutdown()
    seconds = time.perf_counter() - start
    equations = totals.get("equations", 0)
    share = totals.get("wide_phone", 0) / equations if equations else 0.0
    print(
        f"display equations {equations}: wider than their box {totals.get('wide_desktop', 0)}"
        f"@1280, {totals.get('wide_phone', 0)}@390 ({share:.1%}; at most "
        f"{MAX_PHONE_WIDE_EQUATIONS:.0%}, scrolling); code/output blocks {totals.get('blocks', 0)}:"
        f" wide {totals.get('wide_blocks', 0)}@1280; figures {totals.get('figures', 0)}: "
        f"captioned {totals.get('captioned', 0)}, alt text {totals.get('alt', 0)}, scale>="
        f"{MIN_SCALE} {totals.get('legible', 0)}; phone navigation opened on "
        f"{totals.get('nav_ok', 0)}/{len(pages)} pages"
    )
    book_problem = share > MAX_PHONE_WIDE_EQUATIONS
    if book_problem:
        print(f"FAIL more than {MAX_PHONE_WIDE_EQUATIONS:.0%} of the display equations are "
              "wider than their box at 390 px")
    print(
        f"{len(pages)} pages, {formulas} formulas typeset, {failed} failing, "
        f"browser offline except 127.0.0.1, {seconds:.0f} s"
    )
    if args.report:
        return 0
    return 1 if failed or book_problem else 0


if __name__ == "__main__":
    sys.exit(main())
