#!/usr/bin/env python3
"""Re-execute book notebooks in place, each in a fresh kernel, top to bottom.

Authors run this after editing a notebook, so that the stored outputs (what readers see and
what nbval compares against) always come from one clean run:

    .venv/bin/python scripts/execute_notebooks.py                 # every notebook in book/
    .venv/bin/python scripts/execute_notebooks.py book/intro.ipynb  # just these

Readers who want to run a chapter without touching the tracked notebooks pass ``--output-dir``:
the executed copy is written there (the chapter still runs with its own folder as the working
directory, exactly as in the book), and the notebook in ``book/`` is left as it is:

    .venv/bin/python scripts/execute_notebooks.py --output-dir /tmp/run book/gated/10_gru.ipynb

Each notebook runs with its own folder as the working directory, in a kernel of the Python
that runs this script (the environment with rnnbook installed), as nbval's
``--nbval-current-env`` does. A notebook that raises stops the script with a non-zero exit, and
is not written. Stderr in any cell is reported, since the book keeps stored stderr empty.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def notebooks(paths: list[str]) -> list[Path]:
    if paths:
        return [Path(p).resolve() for p in paths]
    found = sorted((ROOT / "book").rglob("*.ipynb"))
    return [p for p in found if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts]


def stderr_cells(nb) -> list[int]:
    return [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for out in cell.get("outputs", [])
            if out.get("output_type") == "stream" and out.get("name") == "stderr"]


def execute(path: Path, timeout: int, out: Path | None = None) -> float:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # start clean: no stale outputs survive a failed cell
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    nbformat.validate(nb)
    target = path if out is None else out / path.name
    nbformat.write(nb, target)
    bad = stderr_cells(nb)
    if bad:
        print(f"  WARNING: stderr stored in cells {bad} of {path.name}; nbval will compare it",
              file=sys.stderr)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="notebooks to run (default: all under book/)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="write the executed notebooks here instead of in place")
    args = parser.parse_args()
    if args.output_dir is not None:
        args.output_dir.mkdir(parents=True, exist_ok=True)
    for path in notebooks(args.paths):
        print(f"executing {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ...",
              flush=True)
        seconds = execute(path, args.timeout, args.output_dir)
        print(f"  done in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
