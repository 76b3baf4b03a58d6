"""book/exercises.md lists every exercise of every chapter, by chapter and title, in order."""

import re
from pathlib import Path

from script_loader import load_script as _load   # tests/script_loader.py

ROOT = Path(__file__).resolve().parent.parent


def load_script():
    return _load("scripts/exercise_index.py")


def test_the_exercise_index_is_up_to_date():
    script = load_script()
    assert (ROOT / "book" / "exercises.md").read_text() == script.index_text(), (
        "book/exercises.md is out of date: run .venv/bin/python scripts/exercise_index.py")


def test_every_chapter_with_exercises_is_indexed():
    script = load_script()
    text = script.index_text()
    for _, path in script.toc_chapters():
        for label in re.findall(r"^\((ex-[\w-]+)\)=", script.markdown_of(path),
                                              flags=re.M):
            assert f"{{ref}}`{label}`" in text, (path.name, label)
