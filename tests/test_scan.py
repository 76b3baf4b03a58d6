"""Specification of rnnbook.scan: the diagonal linear recurrence h_t = a_t * h_{t-1} + b_t.

The parallel scan must equal the time loop (float64: within 1e-12 of the states' size), its
gradients must equal float64 finite differences, both must equal ``keras.ops.associative_scan`` on
TensorFlow (forward and GradientTape) and, in one child process, on JAX together with
``jax.lax.associative_scan`` and ``jax.grad``; bad arguments must be named in the error.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import rnnbook
from rnnbook import linear_scan, linear_scan_backward, numerical_gradient
from rnnbook.backends import XLA_FAST_COMPILE
from rnnbook.scan import _scan_parallel, _scan_sequential, scan_combine
from script_loader import load_script   # tests/script_loader.py

# (batch, time, hidden): every time length up to 9 exercises each odd/even branch of the pairing
SHAPES = [(1, 1, 1), (2, 2, 3), (3, 3, 2), (2, 5, 4), (1, 8, 1), (4, 9, 3), (3, 33, 5),
          (2, 100, 7), (1, 1000, 4)]


def inputs(shape, rng, dtype=np.float64, h0=True):
    """Decays in (0, 1) (a stable recurrence), normal inputs and initial state."""
    a = rng.uniform(0.0, 1.0, size=shape).astype(dtype)
    b = rng.normal(size=shape).astype(dtype)
    start = rng.normal(size=(shape[0], shape[2])).astype(dtype) if h0 else None
    return a, b, start


def loop(a, b, h0=None):
    """The recurrence written out once more, as plainly as possible (the specification)."""
    h = np.zeros_like(b)
    prev = np.zeros_like(b[:, 0]) if h0 is None else h0
    for t in range(b.shape[1]):
        prev = a[:, t] * prev + b[:, t]
        h[:, t] = prev
    return h


def scale_error(x, reference):
    """max |x - reference| / max |reference|: an error relative to the size of the states."""
    return float(np.max(np.abs(x - reference)) / np.max(np.abs(reference)))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_h0", [True, False])
def test_parallel_equals_sequential_equals_loop_float64(shape, with_h0, rng):
    a, b, h0 = inputs(shape, rng, h0=with_h0)
    expected = loop(a, b, h0)
    sequential = linear_scan(a, b, h0, method="sequential")
    parallel = linear_scan(a, b, h0, method="parallel")
    assert sequential.dtype == parallel.dtype == np.float64
    assert sequential.shape == parallel.shape == shape
    assert scale_error(sequential, expected) <= 1e-14     # the loop, rounded once at the end
    assert scale_error(parallel, sequential) <= 1e-12
    # entry by entry, too: where a state nearly cancels, float64 sums in two orders differ by
    # up to 1e-11 of that state; run in extended precision they agree far inside 1e-12
    np.testing.assert_allclose(parallel, sequential, rtol=1e-12, atol=0)


def test_default_method_is_parallel_and_h0_none_means_zeros(rng):
    a, b, _ = inputs((2, 11, 3), rng)
    np.testing.assert_array_equal(linear_scan(a, b), _scan_parallel(a, b))
    np.testing.assert_array_equal(linear_scan(a, b, np.zeros((2, 3))), linear_scan(a, b))


@pytest.mark.parametrize("method", ["sequential", "parallel"])
def test_float32_in_float32_out(method, rng):
    a, b, h0 = inputs((3, 50, 4), rng, np.float32)
    h = linear_scan(a, b, h0, method=method)
    assert h.dtype == np.float32
    exact = loop(*(x.astype(np.float64) for x in (a, b, h0)))
    assert scale_error(h, exact) < 1e-6


def test_complex_states_for_the_lru(rng):
    """Chapter 23's LRU runs a complex diagonal recurrence through the same scan."""
    shape = (2, 40, 3)
    a = 0.95 * np.exp(1j * rng.uniform(0, np.pi, size=shape))
    b = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    h0 = rng.normal(size=(2, 3)) + 0j
    for method in ("sequential", "parallel"):
        h = linear_scan(a, b, h0, method=method)
        assert h.dtype == np.complex128
        assert scale_error(h, loop(a, b, h0)) <= 1e-12
    h64 = linear_scan(a.astype(np.complex64), b.astype(np.complex64), h0.astype(np.complex64))
    assert h64.dtype == np.complex64


def test_operator_is_associative_and_composes_steps(rng):
    x, y, z = (tuple(rng.normal(size=(2, 3)) for _ in range(2)) for _ in range(3))
    left = scan_combine(scan_combine(x, y), z)
    right = scan_combine(x, scan_combine(y, z))
    for l_part, r_part in zip(left, right):
        np.testing.assert_allclose(l_part, r_part, rtol=1e-13, atol=1e-13)
    h = rng.normal(size=(2, 3))
    a, b = scan_combine(x, y)                     # x first, then y
    np.testing.assert_allclose(a * h + b, y[0] * (x[0] * h + x[1]) + y[1], rtol=1e-13)


def test_unchecked_kernels_accept_broadcastable_trailing_shapes(rng):
    """mingru/lru call the kernels on (batch, time, ...) arrays after their own checks."""
    a = rng.uniform(size=(2, 6, 3, 4))
    b = rng.normal(size=(2, 6, 3, 4))
    np.testing.assert_allclose(_scan_parallel(a, b), _scan_sequential(a, b), rtol=1e-12,
                               atol=1e-14)


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 5, 3), (3, 8, 2), (2, 13, 2)])
@pytest.mark.parametrize("method", ["sequential", "parallel"])
def test_gradients_match_finite_differences(shape, method, rng):
    a, b, h0 = inputs(shape, rng)
    w = rng.normal(size=shape)                    # L = sum(w * h), so dL/dh = w

    def loss():
        return float(np.sum(w * linear_scan(a, b, h0, method="sequential")))

    h = linear_scan(a, b, h0, method=method)
    grads = linear_scan_backward(a, h, w, h0, method=method)
    assert set(grads) == {"a", "b", "h0"}
    for name, value in (("a", a), ("b", b), ("h0", h0)):
        numeric = numerical_gradient(loss, value)
        # relative to the gradient's size: an entry near zero (h_{t-1} ~ 0) has only the
        # finite difference's absolute error, about 1e-10
        assert scale_error(grads[name], numeric) < 1e-8, name


def test_gradient_without_h0_is_that_of_a_zero_start(rng):
    a, b, _ = inputs((2, 7, 3), rng)
    dh = rng.normal(size=a.shape)
    h = linear_scan(a, b)
    plain = linear_scan_backward(a, h, dh)
    zero = linear_scan_backward(a, h, dh, np.zeros((2, 3)))
    for name in ("a", "b", "h0"):
        np.testing.assert_array_equal(plain[name], zero[name])


@pytest.mark.parametrize("shape", [(2, 100, 7), (1, 1000, 4)])
def test_gradient_parallel_equals_sequential(shape, rng):
    a, b, h0 = inputs(shape, rng)
    dh = rng.normal(size=shape)
    h = linear_scan(a, b, h0)
    parallel = linear_scan_backward(a, h, dh, h0)
    sequential = linear_scan_backward(a, h, dh, h0, method="sequential")
    for name in parallel:
        assert scale_error(parallel[name], sequential[name]) <= 1e-12, name


def keras_scan(a, b, h0):
    """The states by keras.ops.associative_scan over the time axis (h0 folded into b_0)."""
    b = keras.ops.concatenate([b[:, :1] + a[:, :1] * h0[:, None], b[:, 1:]], axis=1)
    return keras.ops.associative_scan(scan_combine, (a, b), axis=1)[1]


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 7, 3), (4, 64, 8), (2, 300, 5)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_and_gradient_match_keras_associative_scan_tensorflow(shape, dtype, rng):
    assert keras.backend.backend() == "tensorflow"
    a, b, h0 = inputs(shape, rng, np.dtype(dtype))
    dh = rng.normal(size=shape).astype(dtype)
    variables = [tf.Variable(x) for x in (a, b, h0)]
    with tf.GradientTape() as tape:
        h_keras = keras_scan(*variables)
        loss = tf.reduce_sum(h_keras * dh)
    keras_grads = tape.gradient(loss, variables)
    h = linear_scan(a, b, h0)
    grads = linear_scan_backward(a, h, dh, h0)
    assert h_keras.dtype == dtype and h.dtype == dtype
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    assert scale_error(h, h_keras.numpy()) <= tolerance
    for name, g in zip(("a", "b", "h0"), keras_grads):
        assert scale_error(grads[name], g.numpy()) <= tolerance, name


JAX_BODY = """
import jax
import jax.numpy as jnp
from rnnbook.scan import scan_combine

def keras_states(a, b, h0):
    b = jnp.concatenate([b[:, :1] + a[:, :1] * h0[:, None], b[:, 1:]], axis=1)
    return keras.ops.associative_scan(scan_combine, (a, b), axis=1)[1]

def lax_states(a, b, h0):
    b = jnp.concatenate([b[:, :1] + a[:, :1] * h0[:, None], b[:, 1:]], axis=1)
    return jax.lax.associative_scan(scan_combine, (a, b), axis=1)[1]

# Each function is compiled whole (jax.jit): run op by op, the scan's many small operations
# would each be compiled on their own, which takes more than twice as long.
for dtype in ("float32", "float64"):
    a, b, h0, dh = (jnp.asarray(data[f"{k}_{dtype}"]) for k in ("a", "b", "h0", "dh"))
    for name, states in (("keras", keras_states), ("lax", lax_states)):
        result[f"{name}_h_{dtype}"] = jax.jit(states)(a, b, h0)
        loss = lambda a, b, h0: jnp.sum(states(a, b, h0) * dh)
        grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(a, b, h0)
        for key, g in zip(("a", "b", "h0"), grads):
            result[f"{name}_d{key}_{dtype}"] = g
"""


def test_forward_and_gradient_match_keras_and_lax_associative_scan_on_jax(rng):
    """One child process with Keras on JAX (float64 enabled): Keras's scan and jax.lax's."""
    shape = (3, 200, 6)
    data, ours = {}, {}
    for dtype in ("float32", "float64"):
        a, b, h0 = inputs(shape, rng, np.dtype(dtype))
        dh = rng.normal(size=shape).astype(dtype)
        data.update({f"a_{dtype}": a, f"b_{dtype}": b, f"h0_{dtype}": h0, f"dh_{dtype}": dh})
        h = linear_scan(a, b, h0)
        ours[dtype] = {"h": h, **{f"d{k}": v
                                  for k, v in linear_scan_backward(a, h, dh, h0).items()}}
    # Compiled by XLA without LLVM's optimisations (XLA_FAST_COMPILE, as in test_backend_jax.py).
    result = rnnbook.run_on_backend("jax", JAX_BODY, data,
                                    env={"JAX_ENABLE_X64": "1", "XLA_FLAGS": XLA_FAST_COMPILE})
    assert str(result["backend"]) == "jax"
    for dtype, tolerance in (("float32", 1e-5), ("float64", 1e-12)):
        for name in ("keras", "lax"):
            for key, value in ours[dtype].items():
                theirs = result[f"{name}_{key}_{dtype}"]
                assert theirs.dtype == dtype, (name, key, dtype)
                assert scale_error(value, theirs) <= tolerance, (name, key, dtype)


GOOD = (np.ones((2, 4, 3)), np.ones((2, 4, 3)))


@pytest.mark.parametrize("a, b, h0, method, message", [
    (np.ones((2, 4, 3)), np.ones((2, 5, 3)), None, "parallel", r"b must have the shape of a"),
    (np.ones((2, 4)), np.ones((2, 4)), None, "parallel", r"a must have 3 dimensions.*\(2, 4\)"),
    (*GOOD, np.ones((2, 4)), "parallel", r"h0 must have shape.*\(2, 3\).*\(2, 4\)"),
    (np.ones((2, 4, 3), int), np.ones((2, 4, 3)), None, "parallel", r"a must be a floating"),
    (np.ones((2, 4, 3), bool), np.ones((2, 4, 3)), None, "sequential", r"a must be a floating"),
    (np.ones((2, 4, 3), np.float32), np.ones((2, 4, 3)), None, "parallel",
     r"b and a must have one dtype.*float64.*float32"),
    (*GOOD, np.ones((2, 3), np.float32), "parallel", r"h0 must have the dtype of a"),
    (*GOOD, None, "blelloch", r"method must be one of.*'blelloch'"),
    (np.ones((2, 0, 3)), np.ones((2, 0, 3)), None, "parallel", r"at least one time step"),
])
def test_linear_scan_errors_name_the_argument(a, b, h0, method, message):
    with pytest.raises(ValueError, match=message):
        linear_scan(a, b, h0, method=method)


def test_linear_scan_backward_errors_name_the_argument():
    a = np.ones((2, 4, 3))
    with pytest.raises(ValueError, match=r"dh must have the shape of a.*\(2, 4, 2\)"):
        linear_scan_backward(a, a, np.ones((2, 4, 2)))
    with pytest.raises(ValueError, match=r"h must be a real floating-point"):
        linear_scan_backward(a, a + 0j, a)
    with pytest.raises(ValueError, match=r"method must be one of"):
        linear_scan_backward(a, a, a, method="loop")


BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scan.py"


def load_bench():
    return load_script("benchmarks/bench_scan.py")


def test_stored_scan_timing_is_a_full_run_of_the_current_script():
    """Chapter 21 plots rnnbook/stored_files/scan_timing.json; it must be a complete full run."""
    bench = load_bench()
    stored = rnnbook.load_stored("scan_timing.json")
    settings = {k: list(v) if isinstance(v, tuple) else v for k, v in bench.FULL.items()}
    assert stored["settings"] == {**settings, "batch": bench.BATCH, "hidden": bench.HIDDEN,
                                  "quick": False}
    keys = sorted((r["time"], r["pass"], r["contender"]) for r in stored["records"])
    assert keys == sorted((t, kind, c) for t in bench.FULL["time"] for kind in bench.PASSES
                          for c in bench.CONTENDERS)
    assert all(r["seconds"] > 0 and r["spread"] >= 0 for r in stored["records"])
    assert {"cpu_count", "load_average_before", "load_average_after"} <= set(stored["machine"])


def test_scan_benchmark_quick_run(tmp_path):
    """The script's --quick smoke run: it checks the four contenders agree, then times them.
    It runs in a Python of its own, although that loads TensorFlow and JAX again: run in this
    process it would start JAX's threads, and a later test on the same pytest-xdist worker
    that forks (test_stored_files) then warns that the fork may deadlock."""
    out = tmp_path / "scan.json"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["settings"]["quick"] is True
    assert len(result["records"]) == 2 * 2 * 4
