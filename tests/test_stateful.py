"""Specification of rnnbook.stateful: the stateful layout and truncated BPTT for the LSTM.

The layout must put row b of batch k + 1 right after row b of batch k; the forward pass over
consecutive batches must equal a Keras ``LSTM(stateful=True)`` called on them in turn
(outputs and the states it keeps), and ``reset_state`` must equal starting from zeros; each
batch's gradient must equal GradientTape's over that call (the carried state is a constant
there) and float64 finite differences of the loss with the boundary states held fixed; bad
arguments must be named in the error.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnnbook import (batch_rows, from_keras, lstm_backward, lstm_forward, lstm_tbptt_backward,
                     lstm_tbptt_forward, numerical_gradient, relative_error, stateful_batches)

# (n_batches, batch, window, input, hidden)
SHAPES = [(3, 1, 1, 1, 1), (3, 4, 5, 3, 6), (4, 16, 8, 2, 32), (5, 2, 3, 7, 4)]


def test_layout_rows_continue_each_other():
    stream = np.arange(107)
    batches = stateful_batches(stream, batch_size=3, window=5)
    L = 35                                        # 107 // 15 = 7 windows of 5 per row
    assert batches.shape == (7, 3, 5) and batches.dtype == stream.dtype
    for k in range(7):
        for b in range(3):
            np.testing.assert_array_equal(batches[k, b], stream[b * L + 5 * k:b * L + 5 * k + 5])
    for k in range(6):                            # row b of batch k+1 continues row b
        np.testing.assert_array_equal(batches[k + 1, :, 0], batches[k, :, -1] + 1)
    np.testing.assert_array_equal(batch_rows(batches), stream[:105].reshape(3, 35))


def test_layout_keeps_feature_axes():
    stream = np.random.default_rng(0).normal(size=(40, 2, 3))
    batches = stateful_batches(stream, 2, 4)
    assert batches.shape == (5, 2, 4, 2, 3)
    np.testing.assert_array_equal(batch_rows(batches), stream.reshape(2, 20, 2, 3))


def keras_stateful(shape, rng):
    n, batch, window, inputs, hidden = shape
    layer = keras.layers.LSTM(hidden, return_sequences=True, stateful=True)
    model = keras.Model(inp := keras.Input(batch_shape=(batch, window, inputs)), layer(inp))
    for w in layer.weights:
        if w.trainable:
            w.assign(rng.normal(scale=0.6, size=w.shape).astype("float32"))
    x = rng.normal(size=(n, batch, window, inputs)).astype("float32")
    return model, layer, x


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_equals_keras_stateful_over_consecutive_batches(shape):
    rng = np.random.default_rng(sum(shape))
    model, layer, x = keras_stateful(shape, rng)
    p = from_keras(layer)
    H, C, (h, c) = lstm_tbptt_forward(x, **p)
    for k in range(shape[0]):
        out = model(x[k])
        np.testing.assert_allclose(out, H[k], atol=1e-5)
        np.testing.assert_allclose(layer.states[0], H[k, :, -1], atol=1e-5)   # h kept
        np.testing.assert_allclose(layer.states[1], C[k, :, -1], atol=1e-5)   # c kept
    np.testing.assert_allclose(layer.states[0], h, atol=1e-5)
    # the batches glued into rows are one long sequence
    np.testing.assert_allclose(batch_rows(H), lstm_forward(batch_rows(x), **p)[0], atol=1e-6)
    # reset_state: the next call starts from zeros again
    layer.reset_state()
    np.testing.assert_allclose(model(x[1]), lstm_forward(x[1], **p)[0], atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_window_gradient_equals_gradient_tape(shape):
    rng = np.random.default_rng(10 + sum(shape))
    model, layer, x = keras_stateful(shape, rng)
    p = from_keras(layer)
    R = rng.normal(size=x.shape[:3] + (shape[-1],)).astype("float32")
    grads = lstm_tbptt_backward(x, dH=R, **p)
    for k in range(shape[0]):
        xk = tf.constant(x[k])
        with tf.GradientTape() as tape:
            tape.watch(xk)
            loss = tf.reduce_sum(model(xk) * R[k])
        kernel, recurrent, bias, dx = tape.gradient(
            loss, [layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias, xk])
        np.testing.assert_allclose(grads["W_x"][k], kernel.numpy().T, atol=1e-4)
        np.testing.assert_allclose(grads["W_h"][k], recurrent.numpy().T, atol=1e-4)
        np.testing.assert_allclose(grads["b"][k], bias.numpy(), atol=1e-4)
        np.testing.assert_allclose(grads["x"][k], dx.numpy(), atol=1e-4)


def float64_case(shape, seed):
    rng = np.random.default_rng(seed)
    n, batch, window, inputs, hidden = shape
    p = {"W_x": rng.normal(scale=0.5, size=(4 * hidden, inputs)),
         "W_h": rng.normal(scale=0.5, size=(4 * hidden, hidden)),
         "b": rng.normal(scale=0.3, size=4 * hidden)}
    x = rng.normal(size=(n, batch, window, inputs))
    R = rng.normal(size=(n, batch, window, hidden))
    h0, c0 = rng.normal(size=(2, batch, hidden))
    return p, x, R, h0, c0


@pytest.mark.parametrize("shape", [(3, 2, 4, 3, 2), (4, 1, 2, 2, 3)])
def test_truncated_gradient_equals_finite_differences_with_boundary_states_fixed(shape):
    p, x, R, h0, c0 = float64_case(shape, 3)
    grads = lstm_tbptt_backward(x, dH=R, h0=h0, c0=c0, **p)
    H, C, _ = lstm_tbptt_forward(x, h0=h0, c0=c0, **p)
    starts = [(h0, c0)] + [(H[k, :, -1].copy(), C[k, :, -1].copy()) for k in range(len(x) - 1)]

    def loss():          # each window from the state the unperturbed run carried into it
        return sum(np.sum(lstm_forward(x[k], **p, h0=h, c0=c)[0] * R[k])
                   for k, (h, c) in enumerate(starts))

    for name in ("W_x", "W_h", "b"):
        numerical = numerical_gradient(loss, p[name])
        assert relative_error(grads[name].sum(axis=0), numerical) < 1e-6, name
    # it is not the full BPTT gradient: the terms crossing a boundary are missing
    full = lstm_backward(batch_rows(x), dH=batch_rows(R), h0=h0, c0=c0, **p)
    assert relative_error(grads["W_h"].sum(axis=0), full["W_h"]) > 1e-3


def test_one_window_is_full_bptt():
    p, x, R, h0, c0 = float64_case((1, 3, 6, 2, 4), 4)
    grads = lstm_tbptt_backward(x, dH=R, h0=h0, c0=c0, **p)
    full = lstm_backward(x[0], dH=R[0], h0=h0, c0=c0, **p)
    for name in ("W_x", "W_h", "b", "x"):
        np.testing.assert_allclose(grads[name][0], full[name], rtol=1e-12, atol=1e-12)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"too short.*batch_size \* window = 12"):
        stateful_batches(np.arange(11), 3, 4)
    for bad in (0, -1, 2.5, True, "2"):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            stateful_batches(np.arange(20), bad, 2)
        with pytest.raises(ValueError, match="window must be a positive integer"):
            stateful_batches(np.arange(20), 2, bad)
    with pytest.raises(ValueError, match=r"stream must be a numeric array.*\(\)"):
        stateful_batches(np.float64(3.0), 1, 1)
    with pytest.raises(ValueError, match="stream must be a numeric array"):
        stateful_batches(np.array(["a", "b"]), 1, 1)
    with pytest.raises(ValueError, match=r"batches must have shape.*\(4, 5\)"):
        batch_rows(np.zeros((4, 5)))
    p, x, R, h0, c0 = float64_case((2, 2, 3, 2, 4), 5)
    with pytest.raises(ValueError, match=r"batches must have 4 dimensions.*\(2, 3, 2\)"):
        lstm_tbptt_forward(x[0], **p)
    with pytest.raises(ValueError, match=r"batches must hold at least one.*\(0, 2, 3, 2\)"):
        lstm_tbptt_forward(x[:0], **p)
    with pytest.raises(ValueError, match=r"dH must have shape.*\(2, 2, 3, 4\).*\(2, 2, 3, 5\)"):
        lstm_tbptt_backward(x, dH=np.zeros((2, 2, 3, 5)), **p)
    with pytest.raises(ValueError, match=r"h0 must have shape \(batch, hidden\) = \(2, 4\)"):
        lstm_tbptt_forward(x, h0=np.zeros((3, 4)), **p)
    with pytest.raises(ValueError, match="W_x"):
        lstm_tbptt_backward(x, dH=R, **{**p, "W_x": p["W_x"][:, :1]})
