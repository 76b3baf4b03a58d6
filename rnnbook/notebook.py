"""The reproducibility kit every chapter calls in its first cell.

``setup()`` must run before Keras or TensorFlow is imported for the first time: TensorFlow reads
its logging and oneDNN settings from the environment at import time, and with TF 2.21 anything
less than both settings below prints absl/oneDNN lines to stderr, which a notebook would store.
Importing ``rnnbook`` does none of this; only calling ``setup()`` does.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import sys
import warnings

import numpy as np

__all__ = ["setup", "TF_ENVIRONMENT", "power_of_ten_above", "seed_keras"]

#: Environment variables :func:`rnnbook.setup` sets before TensorFlow's first import.
#: ``TF_CPP_MIN_LOG_LEVEL = "3"`` silences TensorFlow's C++ log lines (info, warnings and
#: errors alike; Python exceptions still surface), and ``TF_ENABLE_ONEDNN_OPTS = "0"`` turns
#: off the oneDNN kernels, whose banner would land in a notebook's stderr and whose
#: floating-point summation order can change from run to run.
TF_ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "3",   # no C++ INFO/WARNING/ERROR lines
    "TF_ENABLE_ONEDNN_OPTS": "0",  # no oneDNN banner; bit-identical reruns
}


def setup(seed: int = 0, *, keras: bool = True, precision: int = 4) -> np.random.Generator:
    """Make a notebook quiet and repeatable, and return a seeded NumPy generator.

    * sets the variables in :data:`~rnnbook.notebook.TF_ENVIRONMENT` (and warns if TensorFlow was already imported, since it then
      comes too late);
    * seeds Python's ``random`` and NumPy's legacy global generator, and, when ``keras`` is true,
      imports Keras and seeds it as ``keras.utils.set_random_seed(seed)`` does. TensorFlow is
      imported (discarding the native log lines it writes while loading, and with its Python
      logger turned down to errors) and seeded only when it is Keras's backend or already
      imported: on another backend (``KERAS_BACKEND=jax``) setup does not spend the seconds
      and the half gigabyte TensorFlow's import costs, which ``set_random_seed`` itself would
      (see :func:`rnnbook.notebook.seed_keras`);
    * prints NumPy arrays with ``precision`` decimals and no scientific notation for small numbers.

    Args:
        seed: the seed for every generator.
        keras: also import and seed Keras/TensorFlow. Chapters without Keras pass False and
            skip the few seconds that import costs.
        precision: decimals NumPy prints.

    Returns:
        ``np.random.default_rng(seed)``: pass it (or ``seed``) to everything that draws random
        numbers, rather than relying on global state.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    if "tensorflow" in sys.modules and any(os.environ.get(k) != v for k, v in TF_ENVIRONMENT.items()):
        warnings.warn("rnnbook.setup() ran after TensorFlow was imported; its log settings "
                      "cannot take effect. Call setup() first, in a fresh kernel.", stacklevel=2)
    os.environ.update(TF_ENVIRONMENT)
    random.seed(seed)
    np.random.seed(seed)
    np.set_printoptions(precision=precision, suppress=True)
    if keras:
        if _keras_backend() == "tensorflow" or "tensorflow" in sys.modules:
            with _quiet_native_stderr():
                import tensorflow as tf
            tf.get_logger().setLevel("ERROR")
        seed_keras(int(seed))
    return np.random.default_rng(seed)


def _keras_backend() -> str:
    """The backend Keras runs on, or will run on when first imported, without importing it.

    Keras's own rule (``keras/src/backend/config.py``): the environment variable
    ``KERAS_BACKEND`` if set and not empty, else the ``"backend"`` entry of ``keras.json`` in
    ``$KERAS_HOME`` (default ``~/.keras``, or ``/tmp/.keras`` when the home directory is not
    writable), else ``"tensorflow"``. Once Keras is imported, its answer is returned instead.
    """
    if "keras" in sys.modules and hasattr(sys.modules["keras"], "backend"):
        return sys.modules["keras"].backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    if "KERAS_HOME" in os.environ:
        folder = os.environ["KERAS_HOME"]
    else:
        home = os.path.expanduser("~")
        folder = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    try:
        with open(os.path.join(os.path.expanduser(folder), "keras.json")) as file:
            return str(json.load(file).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):   # no file, not JSON, not a JSON object
        return "tensorflow"


def seed_keras(seed: int) -> None:
    """``keras.utils.set_random_seed(seed)``, without importing TensorFlow for nothing.

    ``set_random_seed`` (Keras 3, ``keras/src/utils/rng_utils.py``) stores the seed as Keras's
    global seed, drops Keras's global ``SeedGenerator`` (it is re-created from that seed on
    its next use, so ``keras.random`` functions and initializers without a seed repeat),
    seeds Python's ``random`` and NumPy's global generator, seeds PyTorch when that is the
    backend, and seeds TensorFlow whenever TensorFlow is *installed*, importing it (seconds,
    and about 0.5 GB) even on JAX. This function calls it unchanged when TensorFlow is the
    backend or already imported, and otherwise does the same steps minus TensorFlow, so every
    Keras random number comes out identical.
    """
    import keras

    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    if not isinstance(seed, int):
        raise ValueError(f"seed must be an integer; got {seed!r}")
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)


def power_of_ten_above(difference: float) -> float:
    """The smallest power of ten at or above a non-negative number; 0 stays 0.

    Notebooks print measured float differences through it (``<= 1e-06``) so that a stored output
    does not change when the last digits of a difference move between runs or machines.
    """
    value = float(difference)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"difference must be a finite non-negative number; got {difference!r}")
    return 0.0 if value == 0 else 10.0 ** math.ceil(math.log10(value))


@contextlib.contextmanager
def _quiet_native_stderr():
    """Send file descriptor 2 to /dev/null while the block runs.

    TensorFlow's C++ runtime writes a few lines straight to the process's stderr while it loads
    (with TF 2.21 on a machine without CUDA: "All log messages before absl::InitializeLog() ..."
    and "Could not find cuda drivers ..."), before ``TF_CPP_MIN_LOG_LEVEL`` takes effect.
    Jupyter captures that descriptor into the cell's output, so the lines would be stored in the
    notebook. Python-level warnings and exceptions are unaffected: they go through
    ``sys.stderr`` and the normal exception machinery, not through descriptor 2.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2 (unusual embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
