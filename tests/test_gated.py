"""Specification of the recurrent layers on the shared loop: SimpleRNN, LSTM and both GRUs.

Each layer must equal Keras forward (outputs, states) and backward (GradientTape), with and
without go_backwards, initial states and masks; its gradients must equal float64 finite
differences; and bad arguments must be named in the error.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import rnnbook
import rnnbook._recurrence
from rnnbook import (from_keras, gru_forward, gru_step, lstm_forward, lstm_step, rnn_step,
                     to_keras)

from layer_calls import GATES, KINDS, backward, built, forward, params   # tests/layer_calls.py

# (batch, time, input, hidden): batch 1-64, time 1-50, input 1-16, hidden 1-64
SHAPES = [(1, 1, 1, 1), (2, 7, 3, 5), (16, 10, 1, 32), (64, 20, 16, 64), (3, 50, 4, 8),
          (5, 1, 16, 2)]


def initial_states(kind, batch, hidden, rng, dtype="float32"):
    n = 2 if kind == "lstm" else 1
    return [rng.normal(scale=0.7, size=(batch, hidden)).astype(dtype) for _ in range(n)]


def state_kwargs(kind, states):
    return dict(zip(["h0", "c0"], states)) if states else {}


def make_mask(batch, time, rng):
    """Right padding, left padding, holes, and an all-masked row (when there is room)."""
    mask = np.ones((batch, time), dtype=bool)
    for b in range(batch):
        length = int(rng.integers(0, time + 1))
        if b % 3 == 0:
            mask[b, length:] = False                      # right-padded
        elif b % 3 == 1:
            mask[b, :time - length] = False               # left-padded
        else:
            mask[b] = rng.random(time) < 0.6              # holes
    if batch > 1:
        mask[-1] = False                                  # an all-masked row
    return mask


# ---------------------------------------------------------------------------------------------
# Forward parity with Keras
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_forward_matches_keras(kind, shape, go_backwards, rng, keras_seed):
    layer, x = built(kind, shape, rng, go_backwards=go_backwards)
    expected = np.asarray(layer(x))
    got = forward(kind, x, from_keras(layer), go_backwards=go_backwards)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_initial_states_and_final_states_match_keras(kind, dtype, go_backwards, rng,
                                                     keras_seed):
    shape = (6, 12, 3, 7)
    layer, x = built(kind, shape, rng, go_backwards=go_backwards, return_state=True)
    states = initial_states(kind, shape[0], shape[3], rng)
    out, *final = layer(x, initial_state=states)
    p = from_keras(layer)
    kw = dict(go_backwards=go_backwards, **state_kwargs(kind, [s.astype(dtype) for s in states]))
    x_ = x.astype(dtype)
    if kind == "lstm":
        H, C = lstm_forward(x_, p["W_x"], p["W_h"], p["b"], **kw)
        np.testing.assert_allclose(C[:, -1], np.asarray(final[1]), atol=1e-5)
    else:
        H = forward(kind, x_, p, **kw)
    assert H.dtype == np.dtype(dtype)
    np.testing.assert_allclose(H, np.asarray(out), atol=1e-5)
    np.testing.assert_allclose(H[:, -1], np.asarray(final[0]), atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("shape", [(9, 8, 2, 5), (12, 30, 5, 16)])
def test_masked_forward_matches_keras(kind, go_backwards, shape, rng, keras_seed):
    layer, x = built(kind, shape, rng, go_backwards=go_backwards, return_state=True)
    mask = make_mask(shape[0], shape[1], rng)
    states = initial_states(kind, shape[0], shape[3], rng)
    out, *final = layer(x, mask=mask, initial_state=states)
    p = from_keras(layer)
    kw = dict(go_backwards=go_backwards, mask=mask, **state_kwargs(kind, states))
    if kind == "lstm":
        H, C = lstm_forward(x, p["W_x"], p["W_h"], p["b"], **kw)
        np.testing.assert_allclose(C[:, -1], np.asarray(final[1]), atol=1e-5)
    else:
        H = forward(kind, x, p, **kw)
    np.testing.assert_allclose(H, np.asarray(out), atol=1e-5)
    np.testing.assert_allclose(np.asarray(final[0])[-1], states[0][-1])     # all masked: h0
    assert np.all(H[-1] == 0)                          # ... and the outputs stay zero


@pytest.mark.parametrize("kind", KINDS)
def test_right_padding_with_a_mask_equals_the_shorter_sequence(kind, rng):
    """A specification of masking, forward and backward, without Keras."""
    p = params(kind, 4, 3, rng)
    x = rng.normal(size=(1, 6, 3))
    padded = np.concatenate([x, rng.normal(size=(1, 3, 3))], axis=1)
    mask = np.array([[True] * 6 + [False] * 3])
    short, long = forward(kind, x, p), forward(kind, padded, p, mask=mask)
    np.testing.assert_allclose(long[:, :6], short, rtol=1e-13)
    np.testing.assert_allclose(long[:, 6:], np.repeat(short[:, -1:], 3, axis=1), rtol=1e-13)
    dH = rng.normal(size=(1, 6, 4))
    dH_long = np.concatenate([dH, np.zeros((1, 3, 4))], axis=1)
    dH_long[:, -1] = 1.0                # the repeated final output still depends on step 6
    dH_short = dH.copy()
    dH_short[:, -1] += 1.0
    g_short, g_long = backward(kind, x, p, dH_short), backward(kind, padded, p, dH_long,
                                                              mask=mask)
    for name, value in g_short.items():
        if value is not None and name != "x":
            np.testing.assert_allclose(g_long[name], value, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g_long["x"][:, :6], g_short["x"], rtol=1e-12, atol=1e-14)
    assert np.all(g_long["x"][:, 6:] == 0)


def test_unit_forget_bias_sets_the_forget_block_to_one(keras_seed):
    for bias_initializer, others in [("zeros", 0.0), ("ones", 1.0)]:
        layer = keras.layers.LSTM(5, unit_forget_bias=True, bias_initializer=bias_initializer)
        layer.build((None, 3, 2))
        b = from_keras(layer)["b"]
        np.testing.assert_array_equal(b[5:10], np.ones(5))      # set to 1, not 1 added
        np.testing.assert_array_equal(np.delete(b, np.s_[5:10]), np.full(15, others))
    layer = keras.layers.LSTM(5, unit_forget_bias=False)
    layer.build((None, 3, 2))
    np.testing.assert_array_equal(from_keras(layer)["b"], np.zeros(20))


@pytest.mark.parametrize("kind", KINDS)
def test_use_bias_false_gives_zero_biases_and_keras_outputs(kind, rng, keras_seed):
    layer, x = built(kind, (4, 6, 3, 5), rng, use_bias=False)
    p = from_keras(layer)
    for name, value in p.items():
        if name.startswith("b") and value is not None:
            assert np.all(value == 0), name
    np.testing.assert_allclose(forward(kind, x, p), np.asarray(layer(x)), atol=1e-5)
    to_keras(layer, p)                                          # zero biases are accepted


@pytest.mark.parametrize("kind", KINDS)
def test_from_keras_shapes_and_to_keras_round_trip(kind, rng, keras_seed):
    layer, x = built(kind, (2, 4, 3, 5), rng)
    p = from_keras(layer)
    rows = GATES[kind] * 5
    assert p["W_x"].shape == (rows, 3) and p["W_h"].shape == (rows, 5)
    np.testing.assert_array_equal(p["W_x"], layer.cell.kernel.numpy().T)
    np.testing.assert_array_equal(p["W_h"], layer.cell.recurrent_kernel.numpy().T)
    new = {k: None if v is None else v + 1.0 for k, v in p.items()}
    to_keras(layer, new)
    for name, value in from_keras(layer).items():
        if value is not None:
            np.testing.assert_allclose(value, new[name])
    np.testing.assert_allclose(forward(kind, x, new), np.asarray(layer(x)), atol=1e-5)


def test_bidirectional_weights_are_two_layers(rng, keras_seed):
    layer = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))
    layer.build((None, 5, 3))
    p = from_keras(layer)
    assert set(p) == {"forward", "backward"}
    np.testing.assert_array_equal(p["forward"]["W_x"], layer.forward_layer.cell.kernel.numpy().T)
    np.testing.assert_array_equal(p["backward"]["W_h"],
                                  layer.backward_layer.cell.recurrent_kernel.numpy().T)
    new = {d: {k: v + 0.5 for k, v in q.items()} for d, q in p.items()}
    to_keras(layer, new)
    np.testing.assert_allclose(from_keras(layer)["backward"]["b"], new["backward"]["b"])
    with pytest.raises(ValueError, match=r"must have keys \['backward', 'forward'\]"):
        to_keras(layer, p["forward"])


# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_step_equals_one_step_of_the_keras_cell(kind, rng, keras_seed):
    """The single-step functions against Keras's own cell (``layer.cell(x_t, states)``), from a
    non-zero state: an independent implementation, not a second call of the same loop."""
    layer, x = built(kind, (4, 1, 3, 6), rng)
    states = initial_states(kind, 4, 6, rng)
    expected = np.asarray(layer.cell(x[:, 0], states)[0])
    p = from_keras(layer)
    if kind == "simple":
        step = rnn_step(x[:, 0], states[0], **p)
    elif kind == "lstm":
        step = lstm_step(x[:, 0], states[0], states[1], **p)[0]
    else:
        step = gru_step(x[:, 0], states[0], **p, reset_after=kind == "gru")
    np.testing.assert_allclose(step, expected, atol=1e-6)


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def test_lstm_step_matches_the_column_vector_equations(rng):
    p = params("lstm", 3, 2, rng)
    x, h, c = rng.normal(size=2), rng.normal(size=3), rng.normal(size=3)
    a = p["W_x"] @ x + p["W_h"] @ h + p["b"]
    i, f, cc, o = _sigmoid(a[:3]), _sigmoid(a[3:6]), np.tanh(a[6:9]), _sigmoid(a[9:])
    c_new = f * c + i * cc
    h_new, c_got = lstm_step(x[None], h[None], c[None], **p)
    np.testing.assert_allclose(c_got[0], c_new, rtol=1e-12)
    np.testing.assert_allclose(h_new[0], o * np.tanh(c_new), rtol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_step_matches_the_column_vector_equations(reset_after, rng):
    p = params("gru" if reset_after else "gru_before", 3, 2, rng)
    x, h = rng.normal(size=2), rng.normal(size=3)
    W_x, W_h, b_x = p["W_x"], p["W_h"], p["b_x"]
    b_h = p["b_h"] if reset_after else np.zeros(9)
    m_x, m_h = W_x @ x + b_x, W_h @ h + b_h
    z, r = _sigmoid(m_x[:3] + m_h[:3]), _sigmoid(m_x[3:6] + m_h[3:6])
    if reset_after:
        cand = np.tanh(m_x[6:] + r * m_h[6:])
    else:
        cand = np.tanh(m_x[6:] + W_h[6:] @ (r * h))
    got = gru_step(x[None], h[None], **p, reset_after=reset_after)
    np.testing.assert_allclose(got[0], z * h + (1 - z) * cand, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_backward_matches_finite_differences(kind, go_backwards, masked, rng):
    """Every parameter, x and the initial states, in float64."""
    batch, time, inputs, hidden = 3, 6, 2, 4
    p = params(kind, hidden, inputs, rng)
    x = rng.normal(size=(batch, time, inputs))
    states = initial_states(kind, batch, hidden, rng, dtype="float64")
    mask = make_mask(batch, time, rng) if masked else None
    weights = rng.normal(size=(batch, time, hidden))
    kw = dict(go_backwards=go_backwards, mask=mask, **state_kwargs(kind, states))

    def loss():
        return float(np.sum(weights * forward(kind, x, p, **kw)))

    grads = backward(kind, x, p, weights, **kw)
    arrays = {**{k: v for k, v in p.items() if v is not None}, "x": x,
              **state_kwargs(kind, states)}
    for name, value in arrays.items():
        numeric = rnnbook.numerical_gradient(loss, value)
        # central differences with eps 1e-5 carry a truncation error of about 1e-10: an absolute
        # tolerance covers the tiny entries, where an elementwise relative error means nothing
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def _tape_gradients(layer, x, states, mask, dH):
    """Keras's gradients of sum(dH * outputs) for x, the initial states and every weight."""
    x_t = tf.constant(x)
    s_t = [tf.constant(s) for s in states]
    with tf.GradientTape() as tape:
        tape.watch([x_t, *s_t])
        out = layer(x_t, initial_state=s_t or None, mask=mask)
        loss = tf.reduce_sum(out * dH)
    got = tape.gradient(loss, [x_t, *s_t, *layer.trainable_weights])
    return [np.asarray(g) for g in got]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (8, 15, 3, 10), (32, 40, 16, 64)])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_backward_matches_gradient_tape(kind, shape, go_backwards, masked, rng, keras_seed):
    batch, time, inputs, hidden = shape
    layer, x = built(kind, shape, rng, go_backwards=go_backwards)
    states = initial_states(kind, batch, hidden, rng)
    mask = make_mask(batch, time, rng) if masked else None
    dH = rng.normal(size=(batch, time, hidden)).astype("float32")
    expected = _tape_gradients(layer, x, states, mask, dH)
    p = from_keras(layer)
    g = backward(kind, x, p, dH, go_backwards=go_backwards, mask=mask,
                 **state_kwargs(kind, states))
    names = ["x", "h0", "c0"][:1 + len(states)]
    got = [g[n] for n in names] + [g["W_x"].T, g["W_h"].T]
    if kind == "gru":
        got.append(np.stack([g["b_x"], g["b_h"]]))
    else:
        got.append(g[{"simple": "b_h", "lstm": "b", "gru_before": "b_x"}[kind]])
    for name, a, b in zip(names + ["kernel", "recurrent_kernel", "bias"], got, expected):
        # float32 sums over batch x time terms: the noise is about 1e-6 of the largest entry
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, atol=1e-5 * scale, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_weights_with_a_float64_upstream_gradient_are_float64_accurate(kind, rng):
    """The backward pass runs in the promoted dtype, forward recomputation included."""
    p = params(kind, 8, 3, rng)
    p32 = {k: None if v is None else v.astype("float32") for k, v in p.items()}
    x = rng.normal(size=(4, 20, 3)).astype("float32")
    dH = rng.normal(size=(4, 20, 8))
    got = backward(kind, x, p32, dH)
    reference = backward(kind, x.astype("float64"),
                         {k: None if v is None else v.astype("float64") for k, v in p32.items()},
                         dH)
    for name, value in reference.items():
        if value is not None:
            assert got[name].dtype == np.float64, name
            assert rnnbook.relative_error(got[name], value) < 1e-12, name


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("block_bytes", [1, 500])
def test_gradients_do_not_depend_on_the_block_size(kind, block_bytes, rng, monkeypatch):
    p = params(kind, 4, 2, rng)
    x, dH = rng.normal(size=(3, 11, 2)), rng.normal(size=(3, 11, 4))
    mask = make_mask(3, 11, rng)
    expected = backward(kind, x, p, dH, mask=mask, go_backwards=True)
    monkeypatch.setattr(rnnbook._recurrence, "BLOCK_BYTES", block_bytes)
    got = backward(kind, x, p, dH, mask=mask, go_backwards=True)
    for name, value in expected.items():
        if value is not None:
            np.testing.assert_allclose(got[name], value, rtol=1e-12, atol=1e-13, err_msg=name)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------
def _lstm_args(rng, **override):
    args = dict(x=rng.normal(size=(2, 3, 4)), W_x=np.zeros((20, 4)), W_h=np.zeros((20, 5)),
                b=np.zeros(20))
    args.update(override)
    return args


@pytest.mark.parametrize("override, error, match", [
    ({"W_x": np.zeros((18, 4))}, ValueError, r"W_x must have 4 \* hidden rows.*\(18, 4\)"),
    ({"W_h": np.zeros((20, 4))}, ValueError, r"W_h must have shape .* \(20, 5\).*got W_h of "
                                             r"shape \(20, 4\)"),
    ({"b": np.zeros(16)}, ValueError, r"b must have shape .*\(20,\).*got b of shape \(16,\)"),
    ({"x": np.zeros((2, 3, 5))}, ValueError, r"input size of x \(2, 3, 5\)"),
    ({"x": np.zeros((2, 0, 4))}, ValueError, "at least one time step"),
    ({"x": np.zeros((3, 4))}, ValueError, r"x must have 3 dimensions.*got shape \(3, 4\)"),
    ({"c0": np.zeros((2, 4))}, ValueError, r"c0 must have shape \(batch, hidden\) = \(2, 5\)"),
    ({"h0": np.zeros((3, 5))}, ValueError, r"h0 must have shape \(batch, hidden\) = \(2, 5\)"),
    ({"mask": np.ones((2, 4), bool)}, ValueError, r"mask must have shape \(batch, time\) = "
                                                  r"\(2, 3\).*got \(2, 4\)"),
    ({"mask": np.full((2, 3), "1")}, TypeError, "mask must be a boolean"),
    ({"mask": np.full((2, 3), 0.5)}, ValueError, "only 0/1"),
    ({"mask": np.full((2, 3), 2)}, ValueError, "only 0/1"),
    ({"x": np.full((2, 3, 4), np.nan)}, ValueError, r"x contains NaN or infinite values"),
    ({"W_h": np.full((20, 5), "a")}, TypeError, r"W_h must be a numeric"),
])
def test_lstm_rejects_bad_arguments(override, error, match, rng):
    with pytest.raises(error, match=match):
        lstm_forward(**_lstm_args(rng, **override))


def test_gru_bias_rules_are_explained(rng):
    x, W_x, W_h, b = rng.normal(size=(2, 3, 4)), np.zeros((15, 4)), np.zeros((15, 5)), np.zeros(15)
    with pytest.raises(ValueError, match="b_h .* is required when reset_after=True"):
        gru_forward(x, W_x, W_h, b, None)
    with pytest.raises(ValueError, match=r"b_h must be None when reset_after=False.*\(15,\)"):
        gru_forward(x, W_x, W_h, b, b, reset_after=False)
    with pytest.raises(ValueError, match=r"W_x must have 3 \* hidden rows.*\(14, 4\)"):
        gru_forward(x, np.zeros((14, 4)), W_h, b, b)
    with pytest.raises(ValueError, match=r"b_h must have 1 dimension .*got shape \(2, 15\)"):
        gru_forward(x, W_x, W_h, b, np.zeros((2, 15)))


@pytest.mark.parametrize("kind", KINDS)
def test_backward_rejects_a_bad_upstream_gradient(kind, rng):
    p = params(kind, 4, 2, rng)
    x = rng.normal(size=(2, 3, 2))
    with pytest.raises(ValueError, match=r"dH must have shape .* \(2, 3, 4\); got \(2, 4, 3\)"):
        backward(kind, x, p, np.zeros((2, 4, 3)))
    dH = np.zeros((2, 3, 4))
    dH[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="dH contains NaN or infinite values"):
        backward(kind, x, p, dH)


def test_interop_rejects_activations_the_equations_do_not_cover(keras_seed):
    for layer in [keras.layers.LSTM(3, activation="relu"),
                  keras.layers.GRU(3, recurrent_activation="hard_sigmoid")]:
        layer.build((None, 2, 1))
        with pytest.raises(ValueError, match="must use"):
            from_keras(layer)
    gru = keras.layers.GRU(3, reset_after=False)
    gru.build((None, 2, 1))
    p = from_keras(gru)
    assert p["b_h"] is None and p["b_x"].shape == (9,)
    with pytest.raises(ValueError, match=r"params\['b_h'\] must be None"):
        to_keras(gru, {**p, "b_h": np.zeros(9)})


# ---------------------------------------------------------------------------------------------
# The backward pass from the forward pass's results (H, and C for the LSTM)
# ---------------------------------------------------------------------------------------------
def forward_results(kind, x, p, **kw):
    """What the backward pass may be given: {"H": ...} (and "C" for the LSTM)."""
    if kind == "lstm":
        H, C = lstm_forward(x, p["W_x"], p["W_h"], p["b"], **kw)
        return {"H": H, "C": C}
    return {"H": forward(kind, x, p, **kw)}


GATED = ["lstm", "gru", "gru_before"]


@pytest.mark.parametrize("kind", GATED)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (3, 11, 2, 4), (16, 30, 5, 24)])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("dropout", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_backward_from_forward_results_equals_the_recomputing_one(kind, shape, go_backwards,
                                                                   masked, dropout, dtype, rng):
    """Recomputing the gates a block at a time from H (and C) is the forward's arithmetic:
    the gradients are the same (bit for bit with OpenBLAS; asserted to 1 ulp-level here)."""
    batch, time, inputs, hidden = shape
    p = {k: None if v is None else v.astype(dtype)
         for k, v in params(kind, hidden, inputs, rng).items()}
    x = rng.normal(size=(batch, time, inputs)).astype(dtype)
    dH = rng.normal(size=(batch, time, hidden)).astype(dtype)
    kw = dict(go_backwards=go_backwards, **state_kwargs(
        kind, initial_states(kind, batch, hidden, rng, dtype)))
    if masked:
        kw["mask"] = make_mask(batch, time, rng)
    if dropout:
        lead = (GATES[kind],)
        kw["input_dropout"] = rnnbook.dropout_masks(0.3, lead + (batch, inputs), rng, dtype)
        kw["recurrent_dropout"] = rnnbook.dropout_masks(0.3, lead + (batch, hidden), rng, dtype)
    expected = backward(kind, x, p, dH, **kw)
    got = backward(kind, x, p, dH, **kw, **forward_results(kind, x, p, **kw))
    tol = 1e-6 if dtype == "float32" else 1e-13
    for name, value in expected.items():
        if value is not None:
            assert got[name].dtype == value.dtype, name
            np.testing.assert_allclose(got[name], value, rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize("kind", GATED)
@pytest.mark.parametrize("block_bytes", [1, 700])
def test_backward_from_forward_results_does_not_depend_on_the_block_size(kind, block_bytes,
                                                                        rng, monkeypatch):
    p = params(kind, 4, 2, rng)
    x, dH = rng.normal(size=(3, 11, 2)), rng.normal(size=(3, 11, 4))
    kw = dict(mask=make_mask(3, 11, rng), go_backwards=True)
    given = forward_results(kind, x, p, **kw)
    expected = backward(kind, x, p, dH, **kw)
    monkeypatch.setattr(rnnbook._recurrence, "BLOCK_BYTES", block_bytes)
    got = backward(kind, x, p, dH, **kw, **given)
    for name, value in expected.items():
        if value is not None:
            np.testing.assert_allclose(got[name], value, rtol=1e-12, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("kind", GATED)
def test_forward_results_in_another_dtype_or_layout_are_converted(kind, rng):
    """float32 results with a float64 computation, and results that are not the forward's own
    (transposed) arrays, give the gradients of the forward recomputed in float64."""
    p = params(kind, 5, 3, rng)
    x, dH = rng.normal(size=(4, 9, 3)), rng.normal(size=(4, 9, 5))
    given = forward_results(kind, x, p)
    expected = backward(kind, x, p, dH)
    for converted in ({k: np.ascontiguousarray(v) for k, v in given.items()},
                      {k: v.astype("float32") for k, v in given.items()}):
        got = backward(kind, x, p, dH, **converted)
        tol = 1e-13 if converted["H"].dtype == np.float64 else 1e-5
        for name, value in expected.items():
            if value is not None:
                assert got[name].dtype == np.float64
                np.testing.assert_allclose(got[name], value, rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize("kind", GATED)
def test_backward_rejects_bad_forward_results(kind, rng):
    p = params(kind, 4, 2, rng)
    x, dH = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 4))
    given = forward_results(kind, x, p)
    for name in given:
        bad = dict(given, **{name: np.zeros((2, 4, 4))})
        with pytest.raises(ValueError, match=rf"{name} must have shape .* \(2, 3, 4\); got "
                                             r"\(2, 4, 4\)"):
            backward(kind, x, p, dH, **bad)
        nan = given[name].copy()
        nan[1, 0, 0] = np.nan                    # h_1 (and c_1) feed step 2
        with pytest.raises(ValueError, match=f"{name} contains NaN or infinite values"):
            backward(kind, x, p, dH, **dict(given, **{name: nan}))
    if kind == "lstm":
        with pytest.raises(ValueError, match="H and C must be given together"):
            backward(kind, x, p, dH, H=given["H"])
        with pytest.raises(ValueError, match="H and C must be given together"):
            backward(kind, x, p, dH, C=given["C"])
