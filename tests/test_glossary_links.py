"""Every glossary term is linked with {term} on its first use in each chapter.

For every chapter notebook in ``_toc.yml``, the markdown prose is read cell by cell, in order.
A glossary term (any of the names an entry of ``book/glossary.md`` lists, aliases included) that
appears in the prose before the chapter's first ``{term}`` link to that entry, or in a chapter
that never links it, is reported as ``chapter / term / cell``. Linking any alias of an entry
counts for all of its names (``RNN`` after ``{term}`recurrent neural network```).

What is *not* prose, and so not searched: math (``$...$``, ``$$...$$``), inline code and code
fences, headings, target labels ``(label)=``, directive lines (``:::{admonition} ...``,
``:class: ...``), MyST roles (``{ref}`...```, ``{cite:p}`...```, ``{term}`...``` itself), and
the address part of a Markdown link. A term matches as a whole word, case-insensitively, in the
singular or with a plural ``s``/``es``.

A few names are too generic to link on every use; they are listed in ``GENERIC`` with the reason,
and are not required to be linked (a link to them is still fine).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

#: Glossary names not required to be linked. "Sequence" and "batch" are the everyday words of
#: every chapter (the introduction still links both); "time step" and "kernel" double as plain
#: English ("one step at a time", Keras's ``kernel`` in code); "baseline" is used in the plain
#: sense of "a reference level" in many places.
GENERIC = {"sequence", "batch", "time step", "kernel", "baseline"}


def chapter_notebooks() -> list[Path]:
    """The .ipynb chapters listed in _toc.yml, in book order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    paths = [ROOT / f"{f}.ipynb" for f in files]
    return [p for p in paths if p.exists()]


def glossary_entries() -> list[list[str]]:
    """Each glossary entry as the list of its names (the term line and its alias lines)."""
    text = (ROOT / "book" / "glossary.md").read_text()
    block = re.search(r"```\{glossary\}\n(.*?)\n```", text, re.S)
    assert block, "book/glossary.md has no {glossary} directive"
    entries, names = [], []
    for line in block.group(1).splitlines():
        if not line.strip() or line.startswith(":"):  # blank line or a directive option
            if names:
                entries.append(names)
                names = []
            continue
        if line[0].isspace():                          # indented: the definition
            if names:
                entries.append(names)
                names = []
        else:                                          # flush-left: a term or an alias
            names.append(line.strip())
    if names:
        entries.append(names)
    assert len(entries) > 20, f"parsed only {len(entries)} glossary entries"
    return entries


_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+?\$", re.S)
_TERM = re.compile(r"\{term\}`([^`]*)`")
_ROLE = re.compile(r"\{[\w:.-]+\}`[^`]*`")
_CODE = re.compile(r"`[^`]*`")
_LINK_URL = re.compile(r"\]\([^)]*\)")


def prose_and_links(source: str) -> tuple[str, list[str]]:
    """The searchable prose of a markdown cell and the targets of its {term} roles, in order.

    Each {term} role is replaced by a marker ``\\x00n\\x00`` so that a use and a link in the same
    cell are compared by position.
    """
    text = _FENCE.sub(" ", source)
    text = _MATH.sub(" ", text)
    targets: list[str] = []

    def mark(match):
        inner = match.group(1)
        target = re.search(r"<([^>]*)>\s*$", inner)
        targets.append((target.group(1) if target else inner).strip().lower())
        return f" \x00{len(targets) - 1}\x00 "

    text = _TERM.sub(mark, text)
    text = _ROLE.sub(" ", text)
    text = _CODE.sub(" ", text)
    text = _LINK_URL.sub("] ", text)
    kept = []
    for line in text.splitlines():
        stripped = line.strip()
        if (stripped.startswith("#") or re.fullmatch(r"\([\w:.-]+\)=", stripped)
                or stripped.startswith(":::") or stripped.startswith("```")
                or re.match(r":[\w-]+:", stripped)):
            continue
        kept.append(line)
    return "\n".join(kept), targets


def unlinked_uses(path: Path, entries: list[list[str]]) -> list[str]:
    """``chapter / term / cell n`` for each term used before (or without) its first link."""
    index = {name.lower(): i for i, names in enumerate(entries) for name in names}
    patterns = [(i, name, re.compile(r"(?<![\w-])" + re.escape(name) + r"(?:s|es)?(?![\w-])",
                                     re.I))
                for i, names in enumerate(entries) for name in names
                if name.lower() not in GENERIC]
    linked: set[int] = set()
    problems: list[str] = []
    reported: set[int] = set()
    cells = json.loads(path.read_text())["cells"]
    for n, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        text, targets = prose_and_links("".join(cell["source"]))
        for entry, name, pattern in patterns:
            if entry in linked or entry in reported:
                continue
            match = pattern.search(text)
            if not match:
                continue
            # a link to this entry earlier in the same cell covers the use
            before = text[:match.start()]
            earlier = [int(k) for k in re.findall(r"\x00(\d+)\x00", before)]
            if any(index.get(targets[k]) == entry for k in earlier):
                continue
            problems.append(f"{path.stem} / {name} / cell {n}")
            reported.add(entry)
        for target in targets:
            if target in index:
                linked.add(index[target])
    return problems


def test_glossary_parses_aliases():
    entries = glossary_entries()
    by_first = {names[0]: names for names in entries}
    assert by_first["Recurrent neural network"] == ["Recurrent neural network", "RNN"]
    assert by_first["Backpropagation through time"] == ["Backpropagation through time", "BPTT"]


def test_term_targets_exist():
    names = {name.lower() for names in glossary_entries() for name in names}
    missing = []
    for path in chapter_notebooks():
        for n, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "markdown":
                for target in prose_and_links("".join(cell["source"]))[1]:
                    if target not in names:
                        missing.append(f"{path.stem} / {target} / cell {n}")
    assert not missing, "{term} roles whose target is not in the glossary:\n" + "\n".join(missing)


def test_the_checker_finds_a_use_before_the_link(tmp_path):
    entries = [["Hidden state"], ["Recurrent neural network", "RNN"]]
    cells = [{"cell_type": "markdown", "source": ["The hidden states of an RNN. $h_t$ is a\n",
                                                  "{term}`hidden state`."]},
             {"cell_type": "markdown", "source": ["# Recurrent neural network heading\n",
                                                  "`hidden state` in code, $RNN$ in math."]}]
    nb = tmp_path / "demo.ipynb"
    nb.write_text(json.dumps({"cells": cells}))
    assert unlinked_uses(nb, entries) == ["demo / Hidden state / cell 0", "demo / RNN / cell 0"]
    cells[0]["source"] = ["A {term}`recurrent neural network` (RNN) has a\n",
                          "{term}`hidden state <hidden state>`; hidden states."]
    nb.write_text(json.dumps({"cells": cells}))
    assert unlinked_uses(nb, entries) == []


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.stem)
def test_glossary_terms_are_linked_on_first_use(path):
    problems = unlinked_uses(path, glossary_entries())
    assert not problems, ("glossary terms used before their first {term} link "
                          "(chapter / term / cell):\n" + "\n".join(problems))
