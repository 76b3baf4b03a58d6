"""Run a piece of Keras code on another backend, in a fresh Python process.

Keras reads ``KERAS_BACKEND`` once, at its first import, so a notebook whose kernel runs Keras on
TensorFlow cannot switch to JAX. :func:`run_on_backend` starts a second interpreter with the
backend (and any other environment variables) set, hands it NumPy arrays through a temporary
``.npz`` file and returns the arrays its code stored. Chapters 17 and 18 and the test suite use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from .notebook import TF_ENVIRONMENT

__all__ = ["BACKENDS", "run_on_backend"]

#: The Keras backends :func:`run_on_backend` accepts.
BACKENDS = ("tensorflow", "jax", "torch", "numpy")

_PREAMBLE = """
import sys
import numpy as np
import keras
import rnnbook
data = dict(np.load(sys.argv[1]))
result = {"backend": np.array(keras.backend.backend())}
"""
_POSTAMBLE = "\nnp.savez(sys.argv[2], **result)\n"


def run_on_backend(backend: str, body: str, inputs: dict | None = None, *,
                   env: dict | None = None, timeout: float = 300) -> dict:
    """Run ``body`` in a new Python with Keras on ``backend``; return its ``result`` dict.

    The child process runs, in this order: ``import numpy as np``, ``import keras``,
    ``import rnnbook``; ``data = {name: array}`` loaded from ``inputs``; ``result =
    {"backend": keras.backend.backend()}``; then ``body`` (dedented). Whatever ``body`` puts in
    ``result`` (arrays, or anything ``np.asarray`` accepts) comes back as NumPy arrays.

    The child gets this process's environment plus :data:`rnnbook.notebook.TF_ENVIRONMENT`,
    ``KERAS_BACKEND=backend``, ``JAX_PLATFORMS=cpu`` and finally ``env``. Its output is
    captured, not shown; when it fails, the error raised contains the end of its stderr.

    Args:
        backend: one of :data:`BACKENDS`.
        body: Python source code.
        inputs: arrays for the child's ``data`` dict (names must be valid ``.npz`` keys).
        env: extra environment variables for the child, e.g. ``XLA_FLAGS``.
        timeout: seconds before the child is stopped.

    Returns:
        ``{name: np.ndarray}``, including ``"backend"``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    if not isinstance(body, str):
        raise ValueError(f"body must be a string of Python code; got {type(body).__name__}")
    inputs = {} if inputs is None else inputs
    if not isinstance(inputs, dict):
        raise ValueError(f"inputs must be a dict of arrays; got {type(inputs).__name__}")
    child_env = {**os.environ, **TF_ENVIRONMENT, "KERAS_BACKEND": backend,
                 "JAX_PLATFORMS": "cpu", **(env or {})}
    script = _PREAMBLE + textwrap.dedent(body) + _POSTAMBLE
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp, "inputs.npz"), Path(tmp, "result.npz")
        np.savez(source, **inputs)
        done = subprocess.run([sys.executable, "-c", script, str(source), str(target)],
                              env=child_env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"the {backend} process failed:\n{done.stderr[-3000:]}")
        with np.load(target) as saved:
            return {key: saved[key] for key in saved.files}
