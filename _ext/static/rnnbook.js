/* The book's own script, added to every page by _ext/page_assets.py (before Sphinx's search). */

/* Search ranking. Sphinx's search gives a section whose title contains the whole query
   ("The forget gate" for "forget gate") 15 * len(query) / len(title) points, and every page whose
   *page* title merely contains one of the query's words 15, so the section that defines a term
   ranked below pages that mention it. Sphinx's documented hook for this is a global `Scorer`
   defined before searchtools.js (which only defines its own when none exists); this is Sphinx
   7.4's default Scorer plus a `score` function that moves a section-title match (a result with an
   #anchor whose section title contains the whole query) above every full-text match. */
var Scorer = {
  objNameMatch: 11,
  objPartialMatch: 6,
  objPrio: {0: 15, 1: 5, 2: -5},
  objPrioDefault: 0,
  title: 15,
  partialTitle: 7,
  term: 5,
  partialTerm: 2,
  score: (result) => {
    const [, title, anchor, , score] = result;
    const query = (new URLSearchParams(window.location.search).get("q") || "")
      .toLowerCase().trim();
    if (!query || !anchor) return score;
    const section = String(title).split(" > ").pop().toLowerCase();
    return section.includes(query) ? score + 100 : score;
  },
};

/* Figures: a click on a figure (or any image in a cell's output) opens the image at full size,
   as a plain link to the image file, so it also works from the keyboard and in a new tab. */
document.addEventListener("DOMContentLoaded", () => {
  const images = document.querySelectorAll(
    ".bd-article figure img, .bd-article .cell_output img, .bd-article img.rnnbook-figure");
  for (const img of images) {
    if (img.closest("a")) continue;
    const link = document.createElement("a");
    link.href = img.getAttribute("src");
    link.className = "rnnbook-fullsize";
    link.title = "Open the full-size image";
    img.replaceWith(link);
    link.appendChild(img);
  }
});
