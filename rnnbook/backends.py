"""Run a piece of Keras code on another backend, in a fresh Python process.

Keras reads ``KERAS_BACKEND`` once, at its first import, so a notebook whose kernel runs Keras on
TensorFlow cannot switch to JAX. :func:`run_on_backend` starts a second interpreter with the
backend (and any other environment variables) set, hands it NumPy arrays through a temporary
``.npz`` file and returns the arrays its code stored. Chapters 19 and 20 and the test suite use it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from .notebook import TF_ENVIRONMENT

__all__ = ["BACKENDS", "XLA_FAST_COMPILE", "run_on_backend"]

#: The Keras backends :func:`run_on_backend` accepts.
BACKENDS = ("tensorflow", "jax", "torch", "numpy")

#: An ``XLA_FLAGS`` value for a JAX child whose programs are small: XLA then compiles without
#: LLVM's optimisations of the machine code. When a program runs for milliseconds, compiling
#: it is most of the cost, and this flag cuts the processor time of compiling by a quarter to
#: more than half (the test suite's JAX checks); the program computes the same operations in
#: the same order. Pass it as
#: ``run_on_backend("jax", body, inputs, env={"XLA_FLAGS": XLA_FAST_COMPILE})``.
XLA_FAST_COMPILE = "--xla_backend_optimization_level=0"

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
    The child runs in a process group of its own (on POSIX systems), which is ended when the
    child finishes or times out, so nothing it started keeps running.

    Args:
        backend: one of :data:`BACKENDS`.
        body: Python source code.
        inputs: arrays for the child's ``data`` dict (names must be valid ``.npz`` keys).
        env: extra environment variables for the child, e.g. ``XLA_FLAGS``.
        timeout: seconds before the child is stopped.

    Returns:
        ``{name: np.ndarray}``, including ``"backend"``.

    Raises:
        RuntimeError: the child failed; the message gives its exit code or the signal that
            ended it, and the end of its stderr. Also when it exited normally without
            returning results (``body`` called ``sys.exit()``).
        TimeoutError: the child ran longer than ``timeout`` seconds (it and its children
            are stopped).
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
        returncode, stderr = _run_child([sys.executable, "-c", script, str(source),
                                         str(target)], child_env, backend, timeout)
        if returncode != 0:
            raise RuntimeError(f"the {backend} process failed ({_describe_exit(returncode)})"
                               f":\n{stderr[-3000:] or '(it wrote nothing to stderr)'}")
        if not target.exists():
            raise RuntimeError(
                f"the {backend} process exited normally but returned no results: it ended "
                f"before the end of body (sys.exit() or os._exit(0) in body?); its stderr:\n"
                f"{stderr[-3000:] or '(empty)'}")
        with np.load(target) as saved:
            return {key: saved[key] for key in saved.files}


def _describe_exit(returncode: int) -> str:
    """``exit code 3`` or, for a child ended by a signal (negative code), its name."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"killed by signal {name}"
    return f"exit code {returncode}"


def _run_child(command: list[str], env: dict, backend: str, timeout: float) -> tuple[int, str]:
    """Run ``command`` in its own process group; on timeout, end the whole group.

    The child may start processes of its own (a backend's compiler, a worker pool); they join
    its process group, so stopping the group leaves none of them running.
    """
    posix = hasattr(os, "killpg")
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=posix)

    def stop_group() -> None:
        if posix:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass                                  # the group has already ended
        else:
            child.kill()

    try:
        _, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group()
        child.communicate()
        raise TimeoutError(f"the {backend} process did not finish within {timeout} s; it and "
                           f"the processes it started were stopped") from None
    except BaseException:                             # e.g. KeyboardInterrupt in a notebook
        stop_group()
        child.communicate()
        raise
    stop_group()                                      # leave nothing it started running
    return child.returncode, stderr
