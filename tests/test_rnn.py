"""Specification of rnn_step / rnn_forward / rnn_backward: Keras parity, gradients, errors."""

import keras
import numpy as np
import pytest

import rnnbook
from rnnbook import from_keras, rnn_backward, rnn_forward, rnn_step

# (batch, time, input, hidden): spans the ranges the book promises (batch 1-64, time 1-50, ...)
SHAPES = [
    (1, 1, 1, 1), (1, 50, 1, 32), (2, 7, 3, 5), (16, 10, 1, 32), (64, 20, 16, 64),
    (5, 1, 16, 8), (3, 33, 4, 1), (32, 12, 8, 48),
]


def keras_simple_rnn(shape, rng, *, go_backwards=False, nonzero_bias=True):
    """A built Keras SimpleRNN with random (non-default) bias, and an input batch for it."""
    batch, time, inputs, hidden = shape
    layer = keras.layers.SimpleRNN(hidden, return_sequences=True, go_backwards=go_backwards)
    layer.build((batch, time, inputs))
    if nonzero_bias:
        layer.cell.bias.assign(rng.normal(scale=0.5, size=hidden).astype("float32"))
    x = rng.normal(size=(batch, time, inputs)).astype("float32")
    return layer, x


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_forward_matches_keras(shape, go_backwards, rng, keras_seed):
    layer, x = keras_simple_rnn(shape, rng, go_backwards=go_backwards)
    expected = np.asarray(layer(x))
    p = from_keras(layer)
    got = rnn_forward(x, p["W_x"], p["W_h"], p["b_h"], go_backwards=go_backwards)
    assert got.shape == expected.shape
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(4, 9, 3, 6), (64, 50, 16, 64), (1, 2, 1, 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_with_initial_state_matches_keras(shape, dtype, rng, keras_seed):
    layer, x = keras_simple_rnn(shape, rng)
    h0 = rng.normal(scale=0.8, size=(shape[0], shape[3])).astype("float32")
    expected = np.asarray(layer(x, initial_state=[h0]))
    p = from_keras(layer)
    got = rnn_forward(x.astype(dtype), p["W_x"], p["W_h"], p["b_h"], h0=h0.astype(dtype))
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_final_state_matches_return_state(rng, keras_seed):
    x = rng.normal(size=(8, 15, 2)).astype("float32")
    layer = keras.layers.SimpleRNN(12, return_state=True)
    last, state = layer(x)
    p = from_keras(layer)
    H = rnn_forward(x, **p)
    np.testing.assert_allclose(H[:, -1], np.asarray(last), atol=1e-5)
    np.testing.assert_allclose(H[:, -1], np.asarray(state), atol=1e-5)


def test_step_is_one_column_of_forward(rng):
    W_x, W_h, b_h = rng.normal(size=(5, 3)), rng.normal(size=(5, 5)) * 0.3, rng.normal(size=5)
    x = rng.normal(size=(4, 6, 3))
    H = rnn_forward(x, W_x, W_h, b_h)
    h = np.zeros((4, 5))
    for t in range(6):
        h = rnn_step(x[:, t], h, W_x, W_h, b_h)
        np.testing.assert_allclose(H[:, t], h, atol=1e-12)


def test_step_matches_the_column_vector_equation(rng):
    """For one sequence, rnn_step is literally tanh(W_h h + W_x x + b_h) with column vectors."""
    W_x, W_h, b_h = rng.normal(size=(4, 2)), rng.normal(size=(4, 4)), rng.normal(size=4)
    x_t, h_prev = rng.normal(size=2), rng.normal(size=4)
    expected = np.tanh(W_h @ h_prev + W_x @ x_t + b_h)
    np.testing.assert_allclose(rnn_step(x_t[None], h_prev[None], W_x, W_h, b_h)[0], expected)


def _loss_and_dH(H, weights):
    """A loss that touches every state: L = sum(weights * H), so dL/dH = weights."""
    return float(np.sum(weights * H)), weights


@pytest.mark.parametrize("shape", [(3, 5, 2, 4), (1, 1, 1, 1), (2, 8, 3, 3)])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_backward_matches_finite_differences(shape, go_backwards, rng):
    batch, time, inputs, hidden = shape
    params = {
        "x": rng.normal(size=(batch, time, inputs)),
        "W_x": rng.normal(scale=0.7, size=(hidden, inputs)),
        "W_h": rng.normal(scale=0.5, size=(hidden, hidden)),
        "b_h": rng.normal(scale=0.3, size=hidden),
        "h0": rng.normal(scale=0.5, size=(batch, hidden)),
    }
    weights = rng.normal(size=(batch, time, hidden))

    def loss():
        H = rnn_forward(params["x"], params["W_x"], params["W_h"], params["b_h"], params["h0"],
                        go_backwards=go_backwards)
        return _loss_and_dH(H, weights)[0]

    grads = rnn_backward(params["x"], params["W_x"], params["W_h"], params["b_h"], weights,
                         h0=params["h0"], go_backwards=go_backwards)
    for name in ["W_x", "W_h", "b_h", "x", "h0"]:
        numeric = rnnbook.numerical_gradient(loss, params[name])
        assert grads[name].shape == params[name].shape
        assert rnnbook.relative_error(grads[name], numeric) < 1e-6, name


def test_backward_accepts_precomputed_states(rng):
    x, W_x, W_h, b_h = (rng.normal(size=(2, 4, 3)), rng.normal(size=(5, 3)),
                        rng.normal(size=(5, 5)) * 0.4, rng.normal(size=5))
    dH = rng.normal(size=(2, 4, 5))
    H = rnn_forward(x, W_x, W_h, b_h)
    a = rnn_backward(x, W_x, W_h, b_h, dH)
    b = rnn_backward(x, W_x, W_h, b_h, dH, H=H)
    for key in a:
        np.testing.assert_allclose(a[key], b[key])


@pytest.mark.parametrize("shape", [(4, 6, 3, 5), (16, 10, 1, 32), (1, 25, 7, 2)])
def test_backward_matches_gradient_tape(shape, rng, keras_seed):
    import tensorflow as tf

    layer, x = keras_simple_rnn(shape, rng)
    h0 = rng.normal(scale=0.5, size=(shape[0], shape[3])).astype("float32")
    weights = rng.normal(size=(shape[0], shape[1], shape[3])).astype("float32")
    xt, h0t = tf.constant(x), tf.constant(h0)
    with tf.GradientTape() as tape:
        tape.watch([xt, h0t])
        loss = tf.reduce_sum(layer(xt, initial_state=[h0t]) * weights)
    cell = layer.cell
    g_kernel, g_rec, g_bias, g_x, g_h0 = tape.gradient(
        loss, [cell.kernel, cell.recurrent_kernel, cell.bias, xt, h0t])
    p = from_keras(layer)
    ours = rnn_backward(x, p["W_x"], p["W_h"], p["b_h"], weights, h0=h0)
    np.testing.assert_allclose(ours["W_x"], np.asarray(g_kernel).T, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(ours["W_h"], np.asarray(g_rec).T, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(ours["b_h"], np.asarray(g_bias), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(ours["x"], np.asarray(g_x), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(ours["h0"], np.asarray(g_h0), atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- error paths

GOOD = dict(x=np.zeros((2, 3, 4)), W_x=np.zeros((5, 4)), W_h=np.zeros((5, 5)), b_h=np.zeros(5))


@pytest.mark.parametrize("override, match", [
    ({"x": np.zeros((3, 4))}, r"x must have 3 dimensions.*\(3, 4\)"),
    ({"x": np.zeros((2, 3, 7))}, r"input size of x \(2, 3, 7\).*W_x \(5, 4\)"),
    ({"x": np.zeros((2, 0, 4))}, r"at least one time step"),
    ({"W_x": np.zeros(5)}, r"W_x must have 2 dimensions.*\(5,\)"),
    ({"W_h": np.zeros((5, 4))}, r"W_h must have shape.*\(5, 5\).*got W_h of shape \(5, 4\)"),
    ({"W_h": np.zeros((4, 4))}, r"W_h must have shape"),
    ({"b_h": np.zeros(4)}, r"b_h must have shape.*\(5,\).*\(4,\)"),
    ({"b_h": np.zeros((1, 5))}, r"b_h must have 1 dimension"),
    ({"h0": np.zeros((3, 5))}, r"h0 must have shape \(batch, hidden\) = \(2, 5\); got \(3, 5\)"),
    ({"h0": np.zeros(5)}, r"h0 must have shape"),
    ({"x": np.full((2, 3, 4), np.nan)}, r"x contains NaN"),
    ({"W_h": np.full((5, 5), np.inf)}, r"W_h contains NaN or infinite"),
])
def test_forward_rejects_bad_input(override, match):
    with pytest.raises(ValueError, match=match):
        rnn_forward(**{**GOOD, **override})


@pytest.mark.parametrize("bad", [np.array([["a"]]), np.zeros((2, 3, 4), dtype=complex), [[1], [1, 2]]])
def test_forward_rejects_non_numeric_input(bad):
    with pytest.raises((TypeError, ValueError), match="x"):
        rnn_forward(**{**GOOD, "x": bad})


def test_step_rejects_mismatched_state():
    with pytest.raises(ValueError, match=r"h_prev must have shape \(batch, hidden\) = \(2, 5\); got \(2, 4\)"):
        rnn_step(np.zeros((2, 4)), np.zeros((2, 4)), GOOD["W_x"], GOOD["W_h"], GOOD["b_h"])
    with pytest.raises(ValueError, match=r"x_t must have 2 dimensions"):
        rnn_step(np.zeros(4), np.zeros((1, 5)), GOOD["W_x"], GOOD["W_h"], GOOD["b_h"])


def test_backward_rejects_bad_upstream_gradient():
    with pytest.raises(ValueError, match=r"dH must have shape \(batch, time, hidden\) = \(2, 3, 5\); got \(2, 3, 4\)"):
        rnn_backward(**GOOD, dH=np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"H must have shape"):
        rnn_backward(**GOOD, dH=np.zeros((2, 3, 5)), H=np.zeros((2, 2, 5)))


def test_integer_inputs_are_promoted():
    out = rnn_forward(np.ones((1, 2, 4), dtype=int), GOOD["W_x"], GOOD["W_h"], GOOD["b_h"])
    assert out.dtype == np.float64
