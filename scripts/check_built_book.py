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
* **a solution visible before the reader opens it**: every admonition titled "Solution..." must
  be a folded dropdown with its body hidden; no other visible element may start with the word
  "Solution"; code cells tagged ``hide-cell``/``hide-input``/``hide-output`` must have that
  part hidden; every code cell under an "Exercises" heading must be folded (``hide-cell`` or
  ``hide-input``). Each fold is then opened by a click and must show its content;
* **horizontal overflow** of the page at a 390 px phone width and at 1280 px
  (``document.documentElement.scrollWidth > innerWidth``); the widest offenders are named.

It prints one line per page and a total, and exits 1 if any check failed (2 if it could not
run at all). The whole book takes well under a minute.
"""

from __future__ import annotations

import argparse
import functools
import html.parser
import http.server
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads", "_panels_static", ".doctrees"}
CHAPTER = re.compile(r"(^|/)(intro|\d\d_[^/]*)\.html$")
PHONE, DESKTOP = (390, 844), (1280, 900)

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


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log on stderr
        pass


def serve(root: Path):
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def start_browser():
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download drivers
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        sys.exit(
            "check_built_book: needs Debian's chromium and chromium-driver on the PATH "
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
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_script_timeout(30)
    driver.set_page_load_timeout(30)
    return driver


def set_width(driver, size):
    width, height = size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def console_errors(driver):
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry.get("level") == "SEVERE"
    ]


def check_page(driver, page: Path, root: Path, base_url: str):
    rel = page.relative_to(root).as_posix()
    url = base_url + rel
    problems = []
    set_width(driver, DESKTOP)
    driver.get(url)
    ready = driver.execute_async_script(WAIT_FOR_PAGE)
    if ready is not True:
        problems.append(str(ready))
    info = driver.execute_async_script(INSPECT)
    current = driver.current_url  # a redirect page (the root index.html) ends elsewhere

    for text in info["untypeset"]:
        problems.append(f"formula not typeset: {text!r}")
    for text in info["rawTex"]:
        problems.append(f"raw TeX in the text: {text!r}")
    for text in info["merrors"]:
        problems.append(f"MathJax error: {text!r}")
    if CHAPTER.search(rel) and info["formulas"] == 0:
        problems.append("chapter page with no typeset formula")
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
        f"console errors {len(errors)}  width {widths['phone']}@390 {widths['desktop']}@1280"
    )
    return summary, problems, info["formulas"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("html", nargs="?", default=str(ROOT / "_build" / "html"),
                        help="the built HTML folder (default: _build/html)")
    args = parser.parse_args(argv)
    root = Path(args.html).resolve()
    if not (root / "index.html").is_file():
        print(f"check_built_book: no built book at {root} (build it first)", file=sys.stderr)
        return 2
    pages = html_pages(root)
    start = time.perf_counter()
    server, base_url = serve(root)
    driver = start_browser()
    failed = formulas = 0
    try:
        console_errors(driver)  # drop anything logged while starting
        for page in pages:
            summary, problems, count = check_page(driver, page, root, base_url)
            formulas += count
            print(summary, flush=True)
            for problem in problems:
                print(f"       - {problem}", flush=True)
            failed += bool(problems)
    finally:
        driver.quit()
        server.shutdown()
    seconds = time.perf_counter() - start
    print(
        f"{len(pages)} pages, {formulas} formulas typeset, {failed} failing, "
        f"browser offline except 127.0.0.1, {seconds:.0f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
