"""Load one of the repository's scripts (``scripts/``, ``benchmarks/``) as a module, for tests
that check a script's stored results against its own code."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative_path: str):
    """Execute ``ROOT / relative_path`` as a fresh module named after the file; return it."""
    path = ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
