"""Build the whole book as one PDF: ``_build/pdf/rnnbook.pdf``.

Run at the repository root (README command "pdf")::

    .venv/bin/python scripts/build_pdf.py            # build the single page, print it, check it
    .venv/bin/python scripts/build_pdf.py --no-build # print an existing _build/singlehtml

How: Jupyter Book's ``singlehtml`` builder writes the whole book, in the order of ``_toc.yml``,
as one HTML page (``_build/singlehtml/index.html``) with the chapter and section numbers of the
HTML book. That page is served on 127.0.0.1 and printed by the same headless Chromium the
browser test drives (Debian's ``chromium`` + ``chromium-driver``, through selenium; no TeX
installation). Before printing, in the browser:

* the window is as wide as the printed text column (A4 less 14 mm margins, 688 CSS px), so
  MathJax 4 breaks every long display equation for the printed width;
* every folded solution (the "Solution" dropdowns and ``hide-cell`` code) is **opened at its
  place**, under its exercise;
* a table of contents (the parts of ``_toc.yml``, every chapter and its numbered sections, as
  links) is put after the title page; each part gets a title (its caption in ``_toc.yml``) and
  each chapter starts on a new page.

The book's print CSS (``_ext/static/rnnbook.css``, ``@media print``) hides the navigation,
wraps long code and output lines at the page edge and keeps figures, formulas and tables whole
(``break-inside: avoid``). Chromium prints with page numbers in the footer and a PDF outline.

In the print layout (print CSS at the column width) no display equation, code or output block
or figure may be wider than the printed column. Then the PDF is checked (``pdfinfo``/
``pdftotext`` from poppler-utils): at least
``--min-pages`` pages, and no raw TeX (``\\frac``, ``\\begin{``, ``$$``) in its text outside the
book's code listings, which the HTML marks and this script counts the same way. Exit 1 on a
failed check, 2 if it could not run.
"""

from __future__ import annotations

import argparse
import base64
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the page-ready wait, the loopback server and the offline browser of the browser test
from check_built_book import WAIT_FOR_PAGE, serve, start_browser  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SINGLE = ROOT / "_build" / "singlehtml"
OUT = ROOT / "_build" / "pdf" / "rnnbook.pdf"
PAPER_CM = (21.0, 29.7)  # A4
MARGIN_CM = {"top": 1.5, "bottom": 1.6, "left": 1.4, "right": 1.4}
COLUMN_PX = round((PAPER_CM[0] - MARGIN_CM["left"] - MARGIN_CM["right"]) / 2.54 * 96)
RAW_TEX = re.compile(r"\\frac|\\begin\{|\$\$")


# Open every fold, mark chapters, and put a table of contents after the title.
PREPARE = r"""
const done = arguments[arguments.length - 1];
const parts = arguments[0];  // [first document, caption] for each part of _toc.yml
const article = document.querySelector('.bd-article') || document.body;
const chapters = [];
// Solutions and hidden cells: opened where they are.
let opened = 0;
for (const adm of article.querySelectorAll('.admonition.dropdown')) {
  const button = adm.querySelector(':scope > button.toggle-button')
    || adm.querySelector(':scope > .admonition-title');
  if (adm.classList.contains('toggle-hidden')
      || (button && button.classList.contains('toggle-button-hidden'))) {
    button.click();
    opened += 1;
  }
}
for (const details of article.querySelectorAll('details')) {
  if (!details.open) { details.open = true; opened += 1; }
}
// Links into the single page: Sphinx writes them relative to the root document's folder
// ("book/index.html#x" from book/index.html); in the PDF they become links within it.
for (const link of article.querySelectorAll('a[href]')) {
  const href = link.getAttribute('href');
  const match = href.match(/^(?:\.\.\/)*(?:book\/)?index\.html(#.*)$/);
  if (match) link.setAttribute('href', match[1]);
}
// Chapters: the single page is the landing page (h1) followed by one section per document of
// the table of contents (h2: "9. Long short-term memory"), in _toc.yml's order; the landing
// page's own sections are h2 as well and come first.
const chapterSections = [...article.querySelectorAll('section')].filter((s) =>
  s.querySelector(':scope > h2')
  && !s.parentElement.closest('section > h2 ~ *, section:has(> h2) section'));
const heading = (h) => h.textContent.replace(/#\s*$/, '').trim();
chapterSections.slice(1).forEach((s) => s.classList.add('rnnbook-chapter'));
// Table of contents: chapters (h2) and their sections (h3), linked.
const toc = document.createElement('nav');
toc.className = 'rnnbook-print-toc';
toc.innerHTML = '<h2>Contents</h2>';
const list = document.createElement('ul');
// Parts: a title page before each part's first chapter (which starts the next page, like every
// chapter), and its caption in the contents.
const partOf = new Map();
for (const [docname, caption] of parts) {
  const anchor = document.getElementById('document-' + docname);
  const section = anchor && anchor.nextElementSibling;
  if (!section || section.tagName !== 'SECTION') continue;
  const title = document.createElement('h1');
  title.className = 'rnnbook-part';
  title.textContent = caption;
  anchor.parentElement.insertBefore(title, anchor);
  partOf.set(section, caption);
}
for (const section of chapterSections) {
  const h = section.querySelector(':scope > h2');
  if (partOf.has(section)) {
    const part = document.createElement('li');
    part.className = 'rnnbook-toc-part';
    part.textContent = partOf.get(section);
    list.appendChild(part);
  }
  const item = document.createElement('li');
  item.innerHTML = `<a href="#${section.id}"><strong></strong></a>`;
  item.querySelector('strong').textContent = heading(h);
  const sub = document.createElement('ul');
  for (const s3 of section.querySelectorAll(':scope > section')) {
    const h3 = s3.querySelector(':scope > h3');
    if (!h3 || !s3.id) continue;
    const li = document.createElement('li');
    li.innerHTML = `<a href="#${s3.id}"></a>`;
    li.querySelector('a').textContent = heading(h3);
    sub.appendChild(li);
  }
  if (sub.children.length) item.appendChild(sub);
  list.appendChild(item);
  chapters.push(heading(h));
}
toc.appendChild(list);
const first = chapterSections[0];
if (first) first.parentElement.insertBefore(toc, first); else article.prepend(toc);
// The title page: the landing page's text up to the table of contents.
const style = document.createElement('style');
style.textContent = `
  .rnnbook-print-toc { break-before: page; break-after: page; font-size: 10pt; }
  .rnnbook-print-toc ul { list-style: none; padding-left: 0; margin: 0; }
  .rnnbook-print-toc ul ul { padding-left: 1.5em; margin-bottom: .3em; font-size: 9pt; }
  .rnnbook-print-toc li { break-inside: avoid; }
  .rnnbook-print-toc a { color: inherit; text-decoration: none; }
  .rnnbook-print-toc li.rnnbook-toc-part { font-size: 11pt; font-weight: bold; margin: .8em 0 .2em;
    text-transform: uppercase; letter-spacing: .03em; break-after: avoid; }
  /* display: the theme hides headings placed directly in a toctree wrapper */
  h1.rnnbook-part { display: block !important; break-before: page; margin-top: 30vh;
    text-align: center; font-size: 26pt; }
`;
document.head.appendChild(style);
setTimeout(() => done({opened, chapters}), opened ? 800 : 0);
"""

# In the print layout (print CSS, the window as wide as the printed column): formulas and code or
# output blocks wider than their box would be cut off on paper.
PRINT_LAYOUT = r"""
const cut = (text, n) => Array.from(text.trim().replace(/\s+/g, ' ')).slice(0, n).join('');
const wide = (el) => el.getClientRects().length && el.scrollWidth > el.clientWidth + 1;
const equations = [...document.querySelectorAll('div.math mjx-container')];
const blocks = [...document.querySelectorAll('pre, .cell_output table, figure img')];
const right = document.documentElement.clientWidth + 1;
return {
  equations: equations.length,
  wideEquations: equations.filter(wide).map((e) => cut(e.closest('div.math').id || '?', 40)),
  blocks: blocks.length,
  wideBlocks: blocks.filter((e) => wide(e) || e.getBoundingClientRect().right > right)
    .map((e) => cut(e.textContent || e.getAttribute('src') || '', 50)),
};
"""

# Count raw TeX that the book prints as code (listings, outputs), so it is not mistaken for
# untypeset math in the PDF's text.
TEX_IN_CODE = r"""
const re = /\\frac|\\begin\{|\$\$/g;
let n = 0;
for (const el of document.querySelectorAll('pre, code, .highlight')) {
  if (el.parentElement && el.parentElement.closest('pre, code, .highlight')) continue;
  n += (el.textContent.match(re) || []).length;
}
return n;
"""


def toc_parts() -> list[list[str]]:
    """[first document, caption] for each numbered part of ``_toc.yml`` (Part I ...), in order."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    parts = []
    for part in toc.get("parts", []):
        chapters = part.get("chapters") or []
        first = chapters[0].get("file") if chapters else None
        if part.get("numbered") and part.get("caption") and first:
            parts.append([first, part["caption"]])
    return parts


def build_singlehtml() -> None:
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe), "build", str(ROOT), "--builder", "singlehtml"]
    print("== " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def start_pdf_browser():
    """The browser test's Chromium, one printed column wide, with minutes to spare: typesetting
    ~3000 formulas and printing ~550 pages take minutes on a loaded machine."""
    driver = start_browser(window=(COLUMN_PX, 1100), timeout=600, program="build_pdf")
    driver.command_executor._client_config.timeout = 900
    return driver


def root_page(single: Path) -> str:
    """The single page, as a file at the top of the build, where its links resolve.

    With the root document in a folder (``book/index``), Sphinx writes the single page to
    ``book/index.html`` but every link in it (``_static/``, ``_images/``) relative to the top
    folder, and a redirect ``index.html`` to it. A copy next to the redirect resolves them.
    """
    index = (single / "index.html").read_text(encoding="utf-8")
    match = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', index)
    if not match:
        return "index.html"
    copy = single / "rnnbook-print.html"
    shutil.copyfile(single / match[1], copy)
    return copy.name


def print_pdf(single: Path, out: Path) -> dict:
    page = root_page(single)
    server, base = serve(single)
    driver = start_pdf_browser()
    try:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": COLUMN_PX, "height": 1100, "deviceScaleFactor": 1, "mobile": False})
        driver.get(base + page)
        ready = driver.execute_async_script(WAIT_FOR_PAGE)
        if ready is not True:
            raise RuntimeError(str(ready))
        prepared = driver.execute_async_script(PREPARE, toc_parts())
        # Folds opened: let MathJax typeset anything that was hidden, at the print width.
        driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "(window.MathJax && MathJax.typesetPromise ? MathJax.typesetPromise() "
            ": Promise.resolve()).then(() => done(true), () => done(false));")
        prepared["tex_in_code"] = driver.execute_script(TEX_IN_CODE)
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        prepared["layout"] = driver.execute_script(PRINT_LAYOUT)
        footer = ('<div style="font-size:8px;width:100%;text-align:center;color:#555">'
                  '<span class="pageNumber"></span></div>')
        pdf = driver.execute_cdp_cmd("Page.printToPDF", {
            "paperWidth": PAPER_CM[0] / 2.54, "paperHeight": PAPER_CM[1] / 2.54,
            "marginTop": MARGIN_CM["top"] / 2.54, "marginBottom": MARGIN_CM["bottom"] / 2.54,
            "marginLeft": MARGIN_CM["left"] / 2.54, "marginRight": MARGIN_CM["right"] / 2.54,
            "printBackground": True, "displayHeaderFooter": True,
            "headerTemplate": "<span></span>", "footerTemplate": footer,
            "generateDocumentOutline": True, "generateTaggedPDF": True,
        })
    finally:
        driver.quit()
        server.shutdown()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(pdf["data"]))
    return prepared


def check_pdf(pdf: Path, min_pages: int, tex_in_code: int) -> list[str]:
    for tool in ("pdfinfo", "pdftotext"):
        if not shutil.which(tool):
            sys.exit(f"build_pdf: needs {tool} (as root: apt-get install -y poppler-utils)")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M)[1])
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    raw = RAW_TEX.findall(text)
    size = pdf.stat().st_size / 2**20
    print(f"== {pdf.relative_to(ROOT)}: {pages} pages, {size:.1f} MiB; raw TeX in its text "
          f"{len(raw)} (the book prints {tex_in_code} in code listings)")
    problems = []
    if pages < min_pages:
        problems.append(f"only {pages} pages (expected at least {min_pages})")
    if len(raw) > tex_in_code:
        lines = [line.strip() for line in text.splitlines() if RAW_TEX.search(line)]
        problems.append(f"raw TeX in the text beyond the code listings: {len(raw)} > "
                        f"{tex_in_code}: " + " | ".join(lines[:5]))
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-build", action="store_true",
                        help="print the existing _build/singlehtml without rebuilding it")
    parser.add_argument("--min-pages", type=int, default=150,
                        help="fail below this many pages (default 150)")
    parser.add_argument("--out", default=str(OUT), help="the PDF to write")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if not args.no_build:
        build_singlehtml()
    if not (SINGLE / "index.html").is_file():
        print(f"build_pdf: no single-page build at {SINGLE}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    prepared = print_pdf(SINGLE, out)
    print(f"== printed {len(prepared['chapters'])} chapters, {prepared['opened']} folds opened "
          f"(solutions shown at their place)")
    layout = prepared["layout"]
    print(f"== print layout: display equations {layout['equations']}, wider than the page "
          f"column {len(layout['wideEquations'])}; code/output blocks and figures "
          f"{layout['blocks']}, wider {len(layout['wideBlocks'])}")
    problems = check_pdf(out, args.min_pages, prepared["tex_in_code"])
    problems += [f"equation wider than the printed column: {name}"
                 for name in layout["wideEquations"]]
    problems += [f"block wider than the printed column: {text}"
                 for text in layout["wideBlocks"]]
    for problem in problems:
        print(f"FAIL {problem}")
    print(f"== done in {time.perf_counter() - start:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
