"""The Keras parity tests again, with Keras on its JAX backend (chapter 19, ch-backends).

Keras picks its backend once, when it is first imported, and this process's Keras is already on
TensorFlow (tests/conftest.py imports it). So the selection below runs in ONE child pytest
process with ``KERAS_BACKEND=jax`` in its environment, and this test asserts that it passed.
The child ignores the project's addopts and does not load nbval (only test files are named;
loading nbval imports nbformat and jsonschema, seconds of processor time), and ignores
DeprecationWarnings (Keras's own ``np.array(variable)`` under JAX emits one per call).
tests/conftest.py empties JAX's compilation caches every few tests in that child, which keeps
its memory below 1.3 GB instead of 1.9 GB; the test asserts the child's peak.

What it runs: every forward-parity test of SimpleRNN, LSTM and GRU (both GRU bias layouts)
against rnnbook with ``go_backwards=False``, the initial-/final-state tests in float32 with both
directions, Dense and softmax, ``from_keras``/``to_keras`` (round trips, Bidirectional, error
paths), SGD/Adam/global-clipnorm against Keras's optimizers, and the binary cross-entropy tests
that take probabilities. About 75 tests, 35-40 s on 2 cores (each new shape is compiled by XLA).

What it leaves out, and why:
* GradientTape tests (``gradient_tape``): TensorFlow's tape cannot see a JAX computation.
* ``bce_from_logits`` and the model.fit training-curve tests: Keras recovers the logits of a
  sigmoid output only on TensorFlow (it reads the ``_keras_logits`` TensorFlow attaches); on JAX
  the loss goes through clipped probabilities (see ch-bptt), so those tests do not apply.
* ``masked`` forward tests with an initial state: with Keras 3.15 on JAX, the outputs of the
  leading masked steps are the initial state, on TensorFlow zeros (what rnnbook returns). States
  and all other outputs agree; chapter 19 shows the difference.
* The ``go_backwards=True`` half of the plain forward tests, to keep the child process short
  (both directions stay covered by the initial-/final-state tests).
"""

import os
import subprocess
import sys
from pathlib import Path

from rnnbook.backends import XLA_FAST_COMPILE
from rnnbook.notebook import TF_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[1]
FILES = ["tests/test_rnn.py", "tests/test_gated.py", "tests/test_dense_and_interop.py",
         "tests/test_training_parity.py"]
SELECTION = " or ".join([
    "(forward_matches_keras and not True and not masked)",
    "(final_states_match_keras and float32)",
    "forward_with_initial_state", "final_state_matches_return_state",
    "dense_matches_keras", "softmax_matches_keras",
    "from_keras", "to_keras", "unit_forget_bias", "bidirectional_weights",
    "interop_error", "interop_rejects",
    "sgd_matches_keras", "adam_matches_keras", "keras_global_clipnorm",
    "keras_clipping", "averages_last_axis",
])
MIN_TESTS = 70   # the selection collects 75 tests today; fewer means a rename dropped some
# Compiling, not running, is what the child spends its time on (every test compiles new XLA
# programs for tiny arrays); XLA_FAST_COMPILE (no LLVM optimisations) compiles about a quarter
# faster, and the programs compute the same operations in the same order.
MAX_RSS_GB = 1.5  # every process of the test run stays below this (Binder gives 2 GB)
# The child runs pytest and then prints its own peak resident memory.
CHILD = """
import resource, sys
import pytest
code = pytest.main(sys.argv[1:])
print("peak RSS kB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def test_keras_parity_tests_pass_on_the_jax_backend():
    env = {**os.environ, **TF_ENVIRONMENT, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {XLA_FAST_COMPILE}".strip()}
    command = [sys.executable, "-c", CHILD, "-q", "-p", "no:cacheprovider", "-p", "no:nbval",
               "-o", "addopts=", "-W", "ignore::DeprecationWarning", *FILES, "-k", SELECTION]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, f"Keras-on-JAX parity tests failed:\n{report}"
    *lines, summary, peak = result.stdout.strip().splitlines()
    passed = int(summary.split(" passed")[0].split()[-1])
    assert passed >= MIN_TESTS, f"only {passed} tests selected on JAX:\n{report}"
    assert "failed" not in summary and "error" not in summary, report
    peak_gb = int(peak.removeprefix("peak RSS kB ")) / 2**20   # Linux reports kB
    assert peak_gb < MAX_RSS_GB, f"the JAX child used {peak_gb:.2f} GB (limit {MAX_RSS_GB})"
