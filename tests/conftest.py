"""Shared fixtures. TensorFlow's log settings must be in place before Keras is first imported.

Keras itself is not imported here: the test modules import it. This file is also loaded by
pytest-xdist's controlling process, which runs no test, and importing Keras (and with it
TensorFlow) there would cost seconds of processor time before the workers even start.
"""

import ctypes
import gc
import os
import socket
import sys

from rnnbook.notebook import TF_ENVIRONMENT, seed_keras

os.environ.update(TF_ENVIRONMENT)

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def keras_seed():
    seed_keras(7)           # keras.utils.set_random_seed(7), without TensorFlow on JAX
    return 7


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test (offline data loaders)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the code under test tried to use the network")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# On Keras's JAX backend (the child process of tests/test_backend_jax.py) every test compiles
# new XLA programs (a new layer's scan, new shapes), and JAX keeps each one in its caches for
# the life of the process: about 20 MB per test, 1.9 GB after the child's 75 tests. Emptying
# the caches every JAX_TESTS_PER_CACHE tests and at the end of each test file, and handing the
# freed memory back to the system, keeps the child below 1.3 GB (Binder gives 2 GB). It costs
# processor time, since common operations are compiled again after each emptying (measured
# side by side on a busy 2-core machine, child's processor time without nbval: every 20 tests
# about +15 %, 1.28 GB; every 10 tests about +25 %, 1.13 GB; after every test twice the time).
JAX_TESTS_PER_CACHE = 20
_jax_tests_since_clear = 0


def pytest_runtest_teardown(item, nextitem):
    global _jax_tests_since_clear
    keras = sys.modules.get("keras")         # imported by the tests, if any ran
    if keras is None or keras.backend.backend() != "jax":
        return
    _jax_tests_since_clear += 1
    same_file = nextitem is not None and nextitem.path == item.path
    if same_file and _jax_tests_since_clear < JAX_TESTS_PER_CACHE:
        return
    import jax

    _jax_tests_since_clear = 0
    jax.clear_caches()
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)   # glibc: return freed heap pages to the system
    except (OSError, AttributeError):      # another C library: the memory stays reusable
        pass


# pytest-xdist (`--dist loadfile`, see pyproject.toml) hands whole files to the workers in the
# order of this list, then in collection order; `--no-loadscope-reorder` keeps it from sorting
# them by their number of tests instead. Starting the longest files first (longest processing
# time first) keeps a long file from running alone at the end while the other worker idles:
# sorted by test count, the JAX child test (one test, 35-40 s) came last. The list is ordered
# by each file's time in a profiled run of the whole suite (about 10-40 s each on a quiet 2-core
# machine); a file missing from it only runs later, so the list can lag behind without harm.
LONGEST_FIRST = [
    "book/applications/16_seq2seq_attention.ipynb",
    "book/recurrence/21_linear_recurrences.ipynb",
    "tests/test_backend_jax.py",
    "book/beyond/20_speed_scale.ipynb",
    "book/gated/11_long_range.ipynb",
    "tests/test_notebook_setup.py",
    "book/foundations/05_keras_example.ipynb",
    "book/applications/13_forecasting.ipynb",
    "tests/test_scan.py",
    "book/applications/14_variable_length_classification.ipynb",
    "tests/test_gated.py",
    "book/beyond/19_backends.ipynb",
    "tests/test_attention.py",
    "book/applications/17_stateful_tbptt.ipynb",
    "book/applications/15_char_generation.ipynb",
    "tests/test_training_parity.py",
    "book/recurrence/22_mingru_minlstm.ipynb",
    "book/gated/12_deep_bidirectional_masked.ipynb",
    "book/training/07_training_from_scratch.ipynb",
    "book/training/08_vanishing_exploding.ipynb",
    "book/gated/10_gru.ipynb",
    "book/gated/09_lstm.ipynb",
    "book/applications/18_dropout_layernorm.ipynb",
    "book/foundations/04_equations_to_keras.ipynb",
    "tests/test_deep_models.py",
]


def pytest_collection_modifyitems(config, items):
    """Put the files of LONGEST_FIRST first, in its order; the others keep theirs."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
