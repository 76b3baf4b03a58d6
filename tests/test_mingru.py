"""minGRU and minLSTM (rnnbook.mingru) and their Keras layers (rnnbook.keras_mingru).

Specification: the forward passes equal the defining step-by-step equations, the parallel scan
equals the time loop, the backward passes equal float64 finite differences, and both Keras
versions (a custom cell run by ``keras.layers.RNN`` and a layer built on
``keras.ops.associative_scan``) give the same outputs and, through ``tf.GradientTape``, the same
gradients as rnnbook, in float32 and float64.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnnbook import (mingru_backward, mingru_forward, minlstm_backward, minlstm_forward,
                     numerical_gradient, relative_error)
from rnnbook.keras_mingru import MinGRU, MinGRUCell, MinLSTM, MinLSTMCell, book_weights
from rnnbook.mingru import mingru_param_count, minlstm_param_count

CELLS = {
    "minGRU": (("z", "h"), mingru_forward, mingru_backward, MinGRUCell, MinGRU),
    "minLSTM": (("f", "i", "h"), minlstm_forward, minlstm_backward, MinLSTMCell, MinLSTM),
}


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def loop_reference(kind, x, p, h0=None):
    """The defining equations, one step at a time, written out independently of rnnbook."""
    batch, time, _ = x.shape
    h = np.zeros((batch, p["W_h"].shape[0])) if h0 is None else h0
    out = []
    for t in range(time):
        x_t = x[:, t]
        candidate = x_t @ p["W_h"].T + p["b_h"]
        if kind == "minGRU":
            z = sigmoid(x_t @ p["W_z"].T + p["b_z"])
            h = (1 - z) * h + z * candidate
        else:
            f = sigmoid(x_t @ p["W_f"].T + p["b_f"])
            i = sigmoid(x_t @ p["W_i"].T + p["b_i"])
            h = f / (f + i) * h + i / (f + i) * candidate
        out.append(h)
    return np.stack(out, axis=1)


def make_params(kind, inputs, hidden, rng, dtype=np.float64, scale=0.7):
    p = {}
    for name in CELLS[kind][0]:
        p["W_" + name] = (scale * rng.standard_normal((hidden, inputs))).astype(dtype)
        p["b_" + name] = (scale * rng.standard_normal(hidden)).astype(dtype)
    return p


SHAPES = [(1, 1, 1, 1), (2, 5, 3, 4), (3, 16, 2, 6), (2, 37, 4, 3)]


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("batch,time,inputs,hidden", SHAPES)
def test_forward_equals_the_step_by_step_equations(kind, batch, time, inputs, hidden, rng):
    forward = CELLS[kind][1]
    x = rng.standard_normal((batch, time, inputs))
    p = make_params(kind, inputs, hidden, rng)
    h0 = rng.standard_normal((batch, hidden))
    for method in ("parallel", "sequential"):
        np.testing.assert_allclose(forward(x, **p, method=method), loop_reference(kind, x, p),
                                   rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(forward(x, **p, h0=h0, method=method),
                                   loop_reference(kind, x, p, h0), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", CELLS)
def test_parallel_scan_equals_the_loop_over_long_sequences(kind, rng):
    forward = CELLS[kind][1]
    x = rng.standard_normal((4, 300, 3))
    p = make_params(kind, 3, 5, rng)
    h0 = rng.standard_normal((4, 5))
    seq = forward(x, **p, h0=h0, method="sequential")
    par = forward(x, **p, h0=h0, method="parallel")
    assert np.max(np.abs(par - seq)) <= 1e-12 * np.max(np.abs(seq))
    x32 = x.astype(np.float32)
    p32 = {k: v.astype(np.float32) for k, v in p.items()}
    par32 = forward(x32, **p32, h0=h0.astype(np.float32))
    assert par32.dtype == np.float32
    np.testing.assert_allclose(par32, seq, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("method", ["parallel", "sequential"])
@pytest.mark.parametrize("with_h0", [False, True])
def test_backward_equals_finite_differences(kind, method, with_h0, rng):
    _, forward, backward, _, _ = CELLS[kind]
    batch, time, inputs, hidden = 2, 7, 3, 4
    x = rng.standard_normal((batch, time, inputs))
    p = make_params(kind, inputs, hidden, rng)
    h0 = rng.standard_normal((batch, hidden)) if with_h0 else None
    dH = rng.standard_normal((batch, time, hidden))
    grads = backward(x, **p, dH=dH, h0=h0, method=method)
    assert set(grads) == set(p) | {"x", "h0"}

    def loss():
        return float(np.sum(forward(x, **p, h0=h0, method=method) * dH))

    for name, value in [*p.items(), ("x", x)] + ([("h0", h0)] if with_h0 else []):
        assert grads[name].shape == value.shape
        assert relative_error(grads[name], numerical_gradient(loss, value)) < 1e-7, name
    if not with_h0:      # the gradient on the zero initial state: perturb an explicit zero
        zero = np.zeros((batch, hidden))
        numeric = numerical_gradient(
            lambda: float(np.sum(forward(x, **p, h0=zero, method=method) * dH)), zero)
        assert relative_error(grads["h0"], numeric) < 1e-7


@pytest.mark.parametrize("kind", CELLS)
def test_float32_stays_float32_and_float64_promotes(kind, rng):
    _, forward, backward, _, _ = CELLS[kind]
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    p = make_params(kind, 3, 5, rng, np.float32)
    dH = np.ones((2, 4, 5), np.float32)
    assert forward(x, **p).dtype == np.float32
    assert all(g.dtype == np.float32 for g in backward(x, **p, dH=dH).values())
    assert forward(x.astype(np.float64), **p).dtype == np.float64
    assert backward(x, **p, dH=dH.astype(np.float64))["W_h"].dtype == np.float64


def test_mingru_with_an_open_gate_copies_the_candidate_and_with_a_shut_one_keeps_h0():
    x = np.ones((1, 3, 1))
    p = {"W_z": np.zeros((1, 1)), "W_h": np.array([[2.0]]), "b_h": np.array([1.0])}
    open_ = mingru_forward(x, **p, b_z=np.array([60.0]), h0=np.array([[5.0]]))
    shut = mingru_forward(x, **p, b_z=np.array([-60.0]), h0=np.array([[5.0]]))
    np.testing.assert_allclose(open_[0, :, 0], 3.0)
    np.testing.assert_allclose(shut[0, :, 0], 5.0)


def test_parameter_counts():
    assert mingru_param_count(2, 140) == 2 * 140 * 3 == 840
    assert minlstm_param_count(16, 224) == 3 * 224 * 17
    for kind, count in (("minGRU", mingru_param_count), ("minLSTM", minlstm_param_count)):
        layer = CELLS[kind][4](7)
        layer(np.zeros((1, 3, 5), np.float32))
        assert layer.count_params() == count(5, 7)


# ----------------------------------------------------------------------------------------------
# Keras parity
# ----------------------------------------------------------------------------------------------
def keras_pair(kind, inputs, hidden, rng, dtype):
    """The custom-cell layer and the scan layer, built with the same random weights."""
    _, _, _, Cell, Scan = CELLS[kind]
    rnn = keras.layers.RNN(Cell(hidden, dtype=dtype), return_sequences=True, dtype=dtype)
    scan = Scan(hidden, return_sequences=True, dtype=dtype)
    probe = np.zeros((1, 2, inputs), dtype)
    rnn(probe)
    scan(probe)
    weights = [0.6 * rng.standard_normal(w.shape).astype(dtype) for w in rnn.get_weights()]
    rnn.set_weights(weights)
    scan.set_weights(weights)
    return rnn, scan


def keras_grads(layer, x, h0, dH, is_cell_layer):
    x_t, h0_t = tf.constant(x), tf.constant(h0)
    with tf.GradientTape() as tape:
        tape.watch([x_t, h0_t])
        out = layer(x_t, initial_state=[h0_t] if is_cell_layer else h0_t)
        loss = tf.reduce_sum(out * dH)
    kernel, bias = layer.trainable_weights
    g_kernel, g_bias, g_x, g_h0 = tape.gradient(loss, [kernel, bias, x_t, h0_t])
    return np.asarray(out), np.asarray(g_kernel), np.asarray(g_bias), np.asarray(g_x), \
        np.asarray(g_h0)


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("batch,time,inputs,hidden", SHAPES)
@pytest.mark.parametrize("dtype,tol", [("float32", 1e-5), ("float64", 1e-12)])
def test_keras_cell_and_scan_layers_equal_rnnbook(kind, batch, time, inputs, hidden, dtype,
                                                  tol, rng):
    blocks, forward, backward, _, _ = CELLS[kind]
    rnn, scan = keras_pair(kind, inputs, hidden, rng, dtype)
    p = book_weights(rnn)
    assert all(v.dtype == dtype for v in p.values())
    x = rng.standard_normal((batch, time, inputs)).astype(dtype)
    h0 = rng.standard_normal((batch, hidden)).astype(dtype)
    dH = rng.standard_normal((batch, time, hidden)).astype(dtype)
    H = forward(x, **p, h0=h0)
    grads = backward(x, **p, dH=dH, h0=h0)
    g_kernel = np.concatenate([grads["W_" + b] for b in blocks]).T
    g_bias = np.concatenate([grads["b_" + b] for b in blocks])
    for layer, is_cell in ((rnn, True), (scan, False)):
        out, k_kernel, k_bias, k_x, k_h0 = keras_grads(layer, x, h0, dH, is_cell)
        np.testing.assert_allclose(out, H, rtol=tol, atol=tol)
        for mine, theirs in ((g_kernel, k_kernel), (g_bias, k_bias), (grads["x"], k_x),
                             (grads["h0"], k_h0)):
            np.testing.assert_allclose(mine, theirs, rtol=tol, atol=tol * np.abs(mine).max())


@pytest.mark.parametrize("kind", CELLS)
def test_keras_layers_return_the_last_state_and_start_from_zeros(kind, rng):
    _, forward, _, Cell, Scan = CELLS[kind]
    x = rng.standard_normal((3, 6, 2)).astype(np.float32)
    scan = Scan(4)
    last = np.asarray(scan(x))
    assert last.shape == (3, 4)
    np.testing.assert_allclose(last, forward(x, **book_weights(scan))[:, -1], atol=1e-6)
    assert scan.compute_output_shape((None, 6, 2)) == (None, 4)
    rnn = keras.layers.RNN(Cell(4))
    rnn(x)
    np.testing.assert_allclose(np.asarray(rnn(x)),
                               forward(x, **book_weights(rnn))[:, -1], atol=1e-6)


def test_scan_layer_trains_inside_a_compiled_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5, 2)), MinGRU(3), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).standard_normal((32, 5, 2)).astype(np.float32)
    before = model.evaluate(x, x[:, -1, :1], verbose=0)
    model.fit(x, x[:, -1, :1], epochs=5, batch_size=8, verbose=0)
    assert model.evaluate(x, x[:, -1, :1], verbose=0) < before


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------
def good_mingru(rng):
    return (rng.standard_normal((2, 3, 4)), {"W_z": np.zeros((5, 4)), "b_z": np.zeros(5),
                                             "W_h": np.zeros((5, 4)), "b_h": np.zeros(5)})


@pytest.mark.parametrize("change,message", [
    ({"W_z": np.zeros((5, 4, 1))}, r"W_z must have 2 dimensions \(hidden, input\)"),
    ({"W_h": np.zeros((6, 4))}, r"W_h must have shape \(hidden, input\) = \(5, 4\) to match "
                                r"W_z of shape \(5, 4\); got W_h of shape \(6, 4\)"),
    ({"b_z": np.zeros(4)}, r"b_z must have shape \(hidden,\) = \(5,\)"),
    ({"b_h": np.zeros((5, 1))}, r"b_h must have 1 dimension"),
    ({"x": np.zeros((2, 3))}, r"x must have 3 dimensions \(batch, time, input\); "
                              r"got shape \(2, 3\)"),
    ({"x": np.zeros((2, 3, 3))}, r"input size of x \(2, 3, 3\) must equal W_z.shape\[1\]"),
    ({"x": np.zeros((2, 0, 4))}, r"at least one time step"),
    ({"h0": np.zeros((2, 4))}, r"h0 must have shape \(batch, hidden\) = \(2, 5\).*got \(2, 4\)"),
    ({"method": "fast"}, r"method must be one of"),
])
def test_mingru_errors_name_the_argument_and_shapes(change, message, rng):
    x, p = good_mingru(rng)
    args = {"x": x, **p, **change}
    with pytest.raises(ValueError, match=message):
        mingru_forward(**args)
    with pytest.raises(ValueError, match=message):
        mingru_backward(**args, dH=np.zeros((2, 3, 5)))


def test_backward_checks_dH_and_nan_inputs(rng):
    x, p = good_mingru(rng)
    with pytest.raises(ValueError, match=r"dH must have shape \(batch, time, hidden\) = "
                                         r"\(2, 3, 5\); got \(2, 3, 4\)"):
        mingru_backward(x, **p, dH=np.zeros((2, 3, 4)))
    x[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        mingru_forward(x, **p)
    with pytest.raises(TypeError, match="W_z must be a numeric"):
        mingru_forward(x, **{**p, "W_z": np.full((5, 4), "a")})


def test_minlstm_errors_name_the_argument(rng):
    x = rng.standard_normal((2, 3, 4))
    p = make_params("minLSTM", 4, 5, rng)
    with pytest.raises(ValueError, match=r"W_i must have shape \(hidden, input\) = \(5, 4\) "
                                         r"to match W_f"):
        minlstm_forward(x, **{**p, "W_i": np.zeros((5, 3))})
    with pytest.raises(ValueError, match=r"b_f must have shape \(hidden,\) = \(5,\)"):
        minlstm_backward(x, **{**p, "b_f": np.zeros(3)}, dH=np.zeros((2, 3, 5)))


def test_keras_helpers_explain_misuse():
    with pytest.raises(ValueError, match="no weights yet"):
        book_weights(MinGRU(3))
    with pytest.raises(ValueError, match="must be a minGRU or minLSTM layer"):
        book_weights(keras.layers.Dense(3))
    layer = MinGRU(3)

    @tf.function(input_signature=[tf.TensorSpec((None, None, 2))])
    def unknown_length(x):
        return layer(x)

    with pytest.raises(ValueError, match="needs a known number of time steps"):
        unknown_length(tf.zeros((1, 4, 2)))
