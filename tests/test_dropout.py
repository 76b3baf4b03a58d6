"""Specification of recurrent dropout: rnnbook's layers with given masks equal Keras's.

Keras draws its masks once per call (inputs: ``dropout``, h_{t-1}: ``recurrent_dropout``) and
uses them at every step with ``training=True``. Given the same masks, rnnbook's forward and
backward passes must equal Keras's outputs and GradientTape gradients, in float32 and float64;
the backward pass must equal float64 finite differences; all-ones masks must change nothing;
and bad masks must be named in the error.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import rnnbook
from rnnbook import (dropout_masks, from_keras, gru_step, keras_dropout_masks, lstm_step,
                     rnn_step, set_keras_dropout_masks)

from layer_calls import (GATES, KINDS, backward, built, forward, keras_layer,
                         params)

# (input dropout rate, recurrent dropout rate): inputs only, h_{t-1} only, both
RATES = [(0.3, 0.0), (0.0, 0.4), (0.25, 0.5)]


def keras_masks(kind, layer, shape, rng, dtype):
    """Masks drawn by rnnbook in the layout this Keras layer uses (None where the rate is 0)."""
    batch, _, inputs, hidden = shape
    count = getattr(layer.cell, "dropout_mask_count", None)
    lead = () if count is None else (count,)
    cell = layer.cell
    m_x = dropout_masks(cell.dropout, lead + (batch, inputs), rng, dtype) if cell.dropout else None
    m_h = (dropout_masks(cell.recurrent_dropout, lead + (batch, hidden), rng, dtype)
           if cell.recurrent_dropout else None)
    return m_x, m_h


def keras_gradients(kind, g):
    """rnnbook's gradients in the order and layout of Keras's trainable weights."""
    bias = (np.stack([g["b_x"], g["b_h"]]) if kind == "gru"
            else g[{"simple": "b_h", "lstm": "b", "gru_before": "b_x"}[kind]])
    return [g["x"], g["W_x"].T, g["W_h"].T, bias]


# ---------------------------------------------------------------------------------------------
# Keras's mask layout
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rates", RATES)
def test_keras_draws_one_mask_or_one_per_gate_block(kind, rates):
    """SimpleRNN: one mask of each kind. LSTM/GRU: one input mask without recurrent dropout,
    and one mask per gate block for both once recurrent_dropout > 0 (implementation=1)."""
    layer = keras_layer(kind, 30, dropout=rates[0], recurrent_dropout=rates[1], seed=1)
    x = np.ones((8, 3, 20), dtype="float32")
    layer.build(x.shape)
    m_x, m_h = keras_dropout_masks(layer, x)
    per_gate = kind != "simple" and rates[1] > 0
    lead = (GATES[kind],) if per_gate else ()
    for mask, rate, size in ((m_x, rates[0], 20), (m_h, rates[1], 30)):
        if rate == 0:
            assert mask is None
        else:
            assert mask.shape == lead + (8, size)
            np.testing.assert_allclose(np.unique(mask), [0.0, 1 / (1 - rate)], rtol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_masks_read_from_keras_are_the_ones_it_uses(kind, rng):
    """keras_dropout_masks draws what the layer would draw itself: two layers with the same
    seed give the same outputs whether the masks were read first or not, and rnnbook with the
    masks read equals both."""
    shape = (4, 6, 3, 5)
    outputs = []
    for read in (True, False):
        layer, x = built(kind, shape, np.random.default_rng(5), dropout=0.3,
                         recurrent_dropout=0.4, seed=11)
        if read:
            m_x, m_h = keras_dropout_masks(layer, x)
        outputs.append(np.asarray(layer(x, training=True)))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    got = forward(kind, x, from_keras(layer), input_dropout=m_x, recurrent_dropout=m_h)
    np.testing.assert_allclose(got, outputs[0], rtol=1e-5, atol=1e-5)
    plain = forward(kind, x, from_keras(layer))
    assert np.abs(plain - outputs[0]).max() > 1e-3          # the masks did change something


# ---------------------------------------------------------------------------------------------
# Parity with Keras, forward and backward
# ---------------------------------------------------------------------------------------------
def _keras_forward_and_gradients(layer, x, m_x, m_h, dH):
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        set_keras_dropout_masks(layer, m_x, m_h)
        out = layer(x_t, training=True)
        loss = tf.reduce_sum(out * dH)
    grads = tape.gradient(loss, [x_t, *layer.trainable_weights])
    return np.asarray(out), [np.asarray(g) for g in grads]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rates", RATES)
@pytest.mark.parametrize("shape, dtype", [((1, 1, 1, 1), "float32"), ((5, 9, 3, 7), "float32"),
                                          ((16, 12, 8, 32), "float32"),
                                          ((3, 8, 4, 6), "float64")])
def test_forward_and_gradients_match_keras(kind, rates, shape, dtype, rng):
    batch, time, inputs, hidden = shape
    layer, x = built(kind, shape, rng, dtype, dropout=rates[0], recurrent_dropout=rates[1])
    m_x, m_h = keras_masks(kind, layer, shape, rng, dtype)
    dH = rng.normal(size=(batch, time, hidden)).astype(dtype)
    expected_out, expected = _keras_forward_and_gradients(layer, x, m_x, m_h, dH)
    p = from_keras(layer)
    out = forward(kind, x, p, input_dropout=m_x, recurrent_dropout=m_h)
    g = backward(kind, x, p, dH, input_dropout=m_x, recurrent_dropout=m_h)
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out, expected_out, rtol=tol, atol=tol)
    names = ["x", "kernel", "recurrent_kernel", "bias"]
    for name, a, b in zip(names, keras_gradients(kind, g), expected):
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=10 * tol, atol=tol * scale, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_dropout_with_a_sequence_mask_and_go_backwards_matches_keras(kind, go_backwards, rng):
    """The dropout masks are the same at every step, so reading backwards changes nothing in
    them; at a masked step the undropped state is carried over."""
    shape = batch, time, inputs, hidden = (6, 10, 3, 8)
    layer, x = built(kind, shape, rng, dropout=0.2, recurrent_dropout=0.3,
                     go_backwards=go_backwards)
    m_x, m_h = keras_masks(kind, layer, shape, rng, "float32")
    mask = np.ones((batch, time), dtype=bool)
    mask[0, 6:] = False
    mask[1, :3] = False
    mask[2, ::2] = False
    dH = rng.normal(size=(batch, time, hidden)).astype("float32")
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        set_keras_dropout_masks(layer, m_x, m_h)
        out = layer(x_t, training=True, mask=mask)
        loss = tf.reduce_sum(out * dH)
    expected = [np.asarray(g) for g in tape.gradient(loss, [x_t, *layer.trainable_weights])]
    kw = dict(input_dropout=m_x, recurrent_dropout=m_h, mask=mask, go_backwards=go_backwards)
    p = from_keras(layer)
    np.testing.assert_allclose(forward(kind, x, p, **kw), np.asarray(out), rtol=1e-5, atol=1e-5)
    for name, a, b in zip(["x", "kernel", "recurrent_kernel", "bias"],
                          keras_gradients(kind, backward(kind, x, p, dH, **kw)), expected):
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale, err_msg=name)


# ---------------------------------------------------------------------------------------------
# The backward pass with masks, against finite differences
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, per_gate", [(kind, per_gate) for kind in KINDS
                                             for per_gate in (False, True)
                                             if kind != "simple" or not per_gate])
def test_backward_with_masks_matches_finite_differences(kind, per_gate, rng):
    batch, time, inputs, hidden = 3, 5, 2, 4
    lead = (GATES[kind],) if per_gate else ()
    p = params(kind, hidden, inputs, rng)
    x = rng.normal(size=(batch, time, inputs))
    dH = rng.normal(size=(batch, time, hidden))
    kw = dict(input_dropout=dropout_masks(0.3, lead + (batch, inputs), rng, np.float64),
              recurrent_dropout=dropout_masks(0.4, lead + (batch, hidden), rng, np.float64))
    g = backward(kind, x, p, dH, **kw)

    def loss():                       # numerical_gradient perturbs x and p's arrays in place
        return float(np.sum(forward(kind, x, p, **kw) * dH))

    for name in ["W_x", "W_h", "x"] + [k for k in ("b", "b_h", "b_x") if p.get(k) is not None]:
        numeric = rnnbook.numerical_gradient(loss, x if name == "x" else p[name])
        np.testing.assert_allclose(g[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)


# ---------------------------------------------------------------------------------------------
# No masks, all-ones masks, and the step functions
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("per_gate", [False, True])
def test_all_ones_masks_change_nothing(kind, per_gate, rng):
    batch, time, inputs, hidden = 4, 7, 3, 5
    lead = (GATES[kind],) if per_gate else ()
    p = params(kind, hidden, inputs, rng)
    x = rng.normal(size=(batch, time, inputs))
    dH = rng.normal(size=(batch, time, hidden))
    ones = dict(input_dropout=np.ones(lead + (batch, inputs)),
                recurrent_dropout=np.ones(lead + (batch, hidden)))
    np.testing.assert_allclose(forward(kind, x, p, **ones), forward(kind, x, p),
                               rtol=1e-13, atol=1e-13)
    plain, with_ones = backward(kind, x, p, dH), backward(kind, x, p, dH, **ones)
    for name, value in plain.items():
        if value is not None:
            np.testing.assert_allclose(with_ones[name], value, rtol=1e-12, atol=1e-12,
                                       err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_step_with_masks_is_the_first_step_of_the_forward_pass(kind, rng):
    batch, inputs, hidden = 3, 2, 4
    p = params(kind, hidden, inputs, rng)
    x = rng.normal(size=(batch, 1, inputs))
    lead = (GATES[kind],) if kind != "simple" else ()
    kw = dict(input_dropout=dropout_masks(0.5, lead + (batch, inputs), rng),
              recurrent_dropout=dropout_masks(0.5, lead + (batch, hidden), rng))
    h0 = rng.normal(size=(batch, hidden))
    if kind == "simple":
        step = rnn_step(x[:, 0], h0, p["W_x"], p["W_h"], p["b_h"], **kw)
    elif kind == "lstm":
        step = lstm_step(x[:, 0], h0, np.zeros_like(h0), p["W_x"], p["W_h"], p["b"], **kw)[0]
    else:
        step = gru_step(x[:, 0], h0, p["W_x"], p["W_h"], p["b_x"], p["b_h"],
                        reset_after=kind == "gru", **kw)
    np.testing.assert_array_equal(step, forward(kind, x, p, h0=h0, **kw)[:, 0])


# ---------------------------------------------------------------------------------------------
# dropout_masks
# ---------------------------------------------------------------------------------------------
def test_dropout_masks_are_inverted_and_reproducible():
    m = dropout_masks(0.25, (200, 300), np.random.default_rng(0))
    assert m.dtype == np.float32 and m.shape == (200, 300)
    np.testing.assert_array_equal(np.unique(m), np.array([0, 1 / 0.75], dtype=np.float32))
    assert abs((m == 0).mean() - 0.25) < 0.01 and abs(m.mean() - 1) < 0.02
    np.testing.assert_array_equal(m, dropout_masks(0.25, (200, 300), np.random.default_rng(0)))
    assert np.all(dropout_masks(0.0, (3, 4), np.random.default_rng(0)) == 1)
    assert dropout_masks(0.5, 5, np.random.default_rng(0), np.float64).dtype == np.float64


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((1.0, (2, 3), np.random.default_rng(0)), {}, ValueError, "rate"),
    ((-0.1, (2, 3), np.random.default_rng(0)), {}, ValueError, "rate"),
    ((0.5, (2, -3), np.random.default_rng(0)), {}, ValueError, "shape"),
    ((0.5, (2, 3), 0), {}, TypeError, "rng"),
    ((0.5, (2, 3), np.random.default_rng(0)), {"dtype": np.int32}, ValueError, "dtype"),
])
def test_dropout_masks_rejects_bad_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        dropout_masks(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# Error paths
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name, shape", [
    ("input_dropout", (4, 2)), ("input_dropout", (3, 3)), ("input_dropout", (2, 3, 2)),
    ("recurrent_dropout", (3, 4, 1)), ("recurrent_dropout", (5,)),
    ("recurrent_dropout", (7, 3, 4)),
])
def test_masks_of_the_wrong_shape_are_named(kind, name, shape, rng):
    batch, time, inputs, hidden = 3, 4, 2, 4
    p = params(kind, hidden, inputs, rng)
    x = rng.normal(size=(batch, time, inputs))
    dH = rng.normal(size=(batch, time, hidden))
    with pytest.raises(ValueError, match=name):
        forward(kind, x, p, **{name: np.ones(shape)})
    with pytest.raises(ValueError, match=name):
        backward(kind, x, p, dH, **{name: np.ones(shape)})


def test_masks_with_nan_are_named(rng):
    p = params("lstm", 4, 2, rng)
    x = rng.normal(size=(3, 4, 2))
    bad = np.ones((3, 4))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="recurrent_dropout"):
        forward("lstm", x, p, recurrent_dropout=bad)


def test_keras_mask_helpers_reject_what_keras_would_ignore():
    layer = keras.layers.LSTM(4, dropout=0.0, recurrent_dropout=0.5)
    layer.build((2, 3, 5))
    with pytest.raises(ValueError, match="dropout"):
        set_keras_dropout_masks(layer, input_dropout=np.ones((4, 2, 5)))
    with pytest.raises(ValueError, match="recurrent_dropout"):
        set_keras_dropout_masks(layer, recurrent_dropout=np.ones((2, 4)))   # needs 4 masks
    with pytest.raises(TypeError, match="SimpleRNN, LSTM or GRU"):
        set_keras_dropout_masks(keras.layers.Dense(3), input_dropout=np.ones((2, 3)))
