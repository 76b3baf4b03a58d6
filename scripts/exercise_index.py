#!/usr/bin/env python3
"""Write book/exercises.md, the index of every chapter's exercises, from the chapters themselves.

    .venv/bin/python scripts/exercise_index.py            # rewrite book/exercises.md
    .venv/bin/python scripts/exercise_index.py --check    # exit 1 if it is out of date

Chapters are read in table-of-contents order (``_toc.yml``). A chapter's label is the first
``(ch-...)=`` target in it, and its exercises are its ``(ex-...)=`` targets, in order; each is
listed with ``{ref}``, which shows the exercise's own heading ("Exercise 2: Title").
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INDEX = ROOT / "book" / "exercises.md"

HEADER = """# Exercises and solutions

Every chapter ends with exercises, listed here by chapter and title; each link leads to the
exercise. Every exercise says what it starts from, so that it can be done in a fresh kernel after
the chapter's first cell. Its solution follows it on the same page, folded: open "Solution to
exercise ..." for the prose, and the toggle under it for the code and its output. The solution
code is not a sketch: it runs, with its assertions, every time the test suite re-executes the
book, so a solution that stopped being right would fail the tests. At least one exercise in each
chapter is harder: it derives a result, implements it with `rnnbook` and checks it against
Keras.

A suggestion for working through them: try each exercise in a running notebook (see
{ref}`ch-intro` for how to run the book), and import what you need from `rnnbook` rather than
copying it, as the chapters do.
"""


def toc_chapters() -> list[tuple[bool, Path]]:
    """(numbered?, notebook path) for every notebook chapter in ``_toc.yml``, in order."""
    chapters, numbered = [], False
    for line in (ROOT / "_toc.yml").read_text().splitlines():
        if re.match(r"\s*- caption:", line):
            numbered = False
        if re.match(r"\s*numbered:\s*true", line):
            numbered = True
        match = re.match(r"\s*- file:\s*(\S+)", line)
        if match and (ROOT / f"{match.group(1)}.ipynb").exists():
            chapters.append((numbered, ROOT / f"{match.group(1)}.ipynb"))
    return chapters


def markdown_of(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def index_text() -> str:
    out, number = [HEADER], 0
    for numbered, path in toc_chapters():
        text = markdown_of(path)
        exercises = re.findall(r"^\((ex-[\w-]+)\)=", text, flags=re.M)
        chapter = re.search(r"^\((ch-[\w-]+)\)=", text, flags=re.M)
        number += numbered
        if not exercises or chapter is None:
            continue
        prefix = f"{number}. " if numbered else ""
        out.append(f"\n**{prefix}{{ref}}`{chapter.group(1)}`**\n")
        out += [f"- {{ref}}`{label}`" for label in exercises]
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    args = parser.parse_args()
    text = index_text()
    if args.check:
        if INDEX.read_text() != text:
            print(f"{INDEX.relative_to(ROOT)} is out of date: run scripts/exercise_index.py")
            return 1
        return 0
    INDEX.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
