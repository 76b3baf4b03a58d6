"""Layer normalization and the layer-normalized LSTM (rnnbook.layernorm, rnnbook.keras_cells).

Specification: ``layer_norm`` equals ``keras.layers.LayerNormalization``; the LSTM's forward pass
equals its defining equations written out step by step; every gradient equals float64 finite
differences; the Keras custom cell run by ``keras.layers.RNN`` gives the same outputs and,
through ``tf.GradientTape``, the same gradients with respect to every weight, gain, bias and the
input, in float32 and float64, with ``go_backwards``, a mask and initial states; the cell's
dropout is off at inference and reuses one mask per sequence in training; the private Keras
mixin the cell derives from is still the class ``keras.layers.RNN`` tests for, and a Keras
without it gives an ImportError that says so; bad arguments are refused with errors that name
them.
"""

import importlib
import importlib.util
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnnbook import keras_cells, numerical_gradient
from rnnbook.keras_cells import LayerNormLSTMCell, book_weights, set_book_weights
from rnnbook.layernorm import (LN_LSTM_PARAMS, layer_norm, layer_norm_backward,
                               layernorm_lstm_backward, layernorm_lstm_forward)


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def ln_reference(v, gamma, beta=0.0, eps=1e-3):
    mu = v.mean(axis=-1, keepdims=True)
    var = ((v - mu) ** 2).mean(axis=-1, keepdims=True)
    return gamma * (v - mu) / np.sqrt(var + eps) + beta


def loop_reference(x, p, h0=None, c0=None, eps=1e-3):
    """The defining equations, one step at a time, written out independently of rnnbook."""
    hidden = p["W_h"].shape[1]
    h = np.zeros((x.shape[0], hidden)) if h0 is None else h0
    c = np.zeros_like(h) if c0 is None else c0
    out = []
    for t in range(x.shape[1]):
        a = (ln_reference(x[:, t] @ p["W_x"].T, p["gamma_x"], eps=eps)
             + ln_reference(h @ p["W_h"].T, p["gamma_h"], eps=eps) + p["b"])
        i, f, cc, o = np.split(a, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(cc)
        h = sigmoid(o) * np.tanh(ln_reference(c, p["gamma_c"], p["beta_c"], eps=eps))
        out.append(h)
    return np.stack(out, axis=1)


def make_params(inputs, hidden, rng, dtype=np.float64):
    p = {"W_x": rng.standard_normal((4 * hidden, inputs)),
         "W_h": rng.standard_normal((4 * hidden, hidden)) / np.sqrt(hidden),
         "b": 0.5 * rng.standard_normal(4 * hidden),
         "gamma_x": 1 + 0.3 * rng.standard_normal(4 * hidden),
         "gamma_h": 1 + 0.3 * rng.standard_normal(4 * hidden),
         "gamma_c": 1 + 0.3 * rng.standard_normal(hidden),
         "beta_c": 0.3 * rng.standard_normal(hidden)}
    return {k: v.astype(dtype) for k, v in p.items()}


SHAPES = [(1, 1, 1, 2), (2, 5, 3, 4), (3, 12, 2, 6), (4, 30, 5, 3)]


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 8), (5, 1)])
def test_layer_norm_equals_keras(shape, rng):
    v = rng.standard_normal(shape) * 3 + 1
    gamma, beta = rng.standard_normal(shape[-1]), rng.standard_normal(shape[-1])
    layer = keras.layers.LayerNormalization(dtype="float64")
    layer.build(shape)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    np.testing.assert_allclose(layer_norm(v, gamma, beta), layer(v).numpy(), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(layer_norm(v), ln_reference(v, 1.0), rtol=1e-12, atol=1e-12)


def test_layer_norm_backward_equals_finite_differences(rng):
    v = rng.standard_normal((3, 4, 6))
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    d_out = rng.standard_normal(v.shape)
    grads = layer_norm_backward(v, d_out, gamma, beta, epsilon=0.01)

    def loss():
        return float(np.sum(d_out * layer_norm(v, gamma, beta, epsilon=0.01)))

    for name, value in (("v", v), ("gamma", gamma), ("beta", beta)):
        np.testing.assert_allclose(grads[name], numerical_gradient(loss, value),
                                   rtol=1e-6, atol=1e-8)
    assert set(layer_norm_backward(v, d_out)) == {"v"}


@pytest.mark.parametrize("batch,time,inputs,hidden", SHAPES)
def test_forward_equals_the_step_by_step_equations(batch, time, inputs, hidden, rng):
    x = rng.standard_normal((batch, time, inputs))
    p = make_params(inputs, hidden, rng)
    h0, c0 = rng.standard_normal((2, batch, hidden))
    H, C = layernorm_lstm_forward(x, **p)
    np.testing.assert_allclose(H, loop_reference(x, p), rtol=1e-12, atol=1e-13)
    assert C.shape == H.shape
    H0, _ = layernorm_lstm_forward(x, **p, h0=h0, c0=c0, epsilon=0.01)
    np.testing.assert_allclose(H0, loop_reference(x, p, h0, c0, eps=0.01), rtol=1e-12,
                               atol=1e-13)
    assert layernorm_lstm_forward(x.astype(np.float32), **{
        k: v.astype(np.float32) for k, v in p.items()})[0].dtype == np.float32


@pytest.mark.parametrize("go_backwards,masked", [(False, False), (True, False),
                                                 (False, True), (True, True)])
def test_backward_equals_finite_differences(go_backwards, masked, rng):
    batch, time, inputs, hidden = 3, 6, 2, 3
    x = rng.standard_normal((batch, time, inputs))
    p = make_params(inputs, hidden, rng)
    h0, c0 = rng.standard_normal((2, batch, hidden))
    mask = rng.random((batch, time)) > 0.3 if masked else None
    dH = rng.standard_normal((batch, time, hidden))
    kw = {"h0": h0, "c0": c0, "go_backwards": go_backwards, "mask": mask}
    grads = layernorm_lstm_backward(x, **p, dH=dH, **kw)

    def loss():
        return float(np.sum(dH * layernorm_lstm_forward(x, **p, **kw)[0]))

    for name, value in {**p, "x": x, "h0": h0, "c0": c0}.items():
        numeric = numerical_gradient(loss, value)
        scale = np.abs(numeric).max()
        np.testing.assert_allclose(grads[name], numeric, rtol=0, atol=1e-6 * max(scale, 1),
                                   err_msg=name)


def keras_layer(inputs, hidden, rng, dtype, **kwargs):
    layer = keras.layers.RNN(LayerNormLSTMCell(hidden, dtype=dtype), return_sequences=True,
                             dtype=dtype, **kwargs)
    layer.build((None, None, inputs))
    p = make_params(inputs, hidden, rng)
    set_book_weights(layer, p)
    return layer, {k: v.astype(dtype) for k, v in p.items()}


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 2e-4)])
@pytest.mark.parametrize("batch,time,inputs,hidden", SHAPES)
def test_keras_cell_equals_rnnbook(batch, time, inputs, hidden, dtype, tol, rng):
    layer, p = keras_layer(inputs, hidden, rng, dtype)
    x = rng.standard_normal((batch, time, inputs)).astype(dtype)
    h0, c0 = rng.standard_normal((2, batch, hidden)).astype(dtype)
    dH = rng.standard_normal((batch, time, hidden)).astype(dtype)
    x_var = tf.Variable(x)
    weights = [layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias,
               layer.cell.ln_x.gamma, layer.cell.ln_h.gamma, layer.cell.ln_c.gamma,
               layer.cell.ln_c.beta]
    with tf.GradientTape() as tape:
        out = layer(x_var, initial_state=[tf.constant(h0), tf.constant(c0)])
        loss = tf.reduce_sum(out * dH)
    keras_grads = tape.gradient(loss, [w.value for w in weights] + [x_var])
    H, _ = layernorm_lstm_forward(x, **p, h0=h0, c0=c0)
    np.testing.assert_allclose(out.numpy(), H, rtol=0, atol=tol)
    grads = layernorm_lstm_backward(x, **p, dH=dH, h0=h0, c0=c0)
    for name, g in zip(LN_LSTM_PARAMS + ("x",), keras_grads):
        g = np.asarray(g)
        g = g.T if name in ("W_x", "W_h") else g
        scale = max(np.abs(grads[name]).max(), 1.0)
        np.testing.assert_allclose(g, grads[name], rtol=0, atol=tol * scale, err_msg=name)


def test_keras_cell_with_go_backwards_and_mask(rng):
    layer, p = keras_layer(3, 4, rng, "float64", go_backwards=True)
    x = rng.standard_normal((3, 7, 3))
    mask = np.ones((3, 7), bool)
    mask[0, 5:] = False                                  # right-padded rows
    mask[2, 3:] = False
    out = layer(x, mask=tf.constant(mask)).numpy()
    H, _ = layernorm_lstm_forward(x, **p, go_backwards=True, mask=mask)
    np.testing.assert_allclose(out, H, rtol=0, atol=1e-12)


def test_book_weights_round_trip_and_parameter_count(rng):
    layer = keras.layers.RNN(LayerNormLSTMCell(5))
    layer.build((None, None, 3))
    w = book_weights(layer)
    assert {k: v.shape for k, v in w.items()} == {
        "W_x": (20, 3), "W_h": (20, 5), "b": (20,), "gamma_x": (20,), "gamma_h": (20,),
        "gamma_c": (5,), "beta_c": (5,)}
    np.testing.assert_array_equal(w["b"], np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    assert layer.count_params() == 4 * 5 * (3 + 5 + 1) + 2 * 20 + 2 * 5
    set_book_weights(layer.cell, {k: v + 1 for k, v in w.items()})
    np.testing.assert_allclose(book_weights(layer.cell)["W_h"], w["W_h"] + 1, rtol=1e-6)


def test_keras_cell_dropout_one_mask_per_sequence_and_off_at_inference(rng):
    keras.utils.set_random_seed(3)
    cell = LayerNormLSTMCell(4, dropout=0.5, seed=5)
    layer = keras.layers.RNN(cell, return_sequences=True)
    x = np.ones((2, 6, 3), np.float32)
    plain = layer(x).numpy()                              # training=False: no dropout
    np.testing.assert_array_equal(layer(x, training=False).numpy(), plain)
    p = book_weights(layer)
    np.testing.assert_allclose(plain, layernorm_lstm_forward(x, **p)[0], rtol=0, atol=2e-5)
    # In training, the input mask of one sequence is the same at every step: with the same x_t
    # at every step, it is as if the dropped inputs were zero throughout.
    dropped = layer(x, training=True).numpy()
    assert not np.allclose(dropped, plain)
    mask = cell._create_dropout_mask(x[:, 0], 0.5)        # the masks have this form
    assert set(np.unique(np.asarray(mask))) <= {0.0, 2.0}
    keep = [np.array(m) for m in np.ndindex(*(2,) * 3)]
    for row in range(2):
        candidates = [layernorm_lstm_forward(x[row:row + 1] * 2 * m, **p)[0] for m in keep]
        assert min(np.abs(c - dropped[row:row + 1]).max() for c in candidates) < 2e-5
    assert cell.get_config()["dropout"] == 0.5


def test_keras_rnn_recognises_the_private_dropout_mixin_the_cell_derives_from():
    # rnnbook.keras_cells imports DropoutRNNCell from keras.src because Keras exports it nowhere
    # public and keras.layers.RNN draws dropout masks only for instances of it (see the comment
    # at the import). This fails, saying so, when a Keras release moves or replaces it.
    where = keras_cells._MIXIN_PATH
    try:
        module = importlib.import_module(where)
    except ImportError:
        pytest.fail(f"Keras {keras.__version__} has no module {where}: find where it keeps "
                    f"DropoutRNNCell now and update rnnbook/keras_cells.py")
    mixin = getattr(module, "DropoutRNNCell", None)
    assert mixin is not None and mixin is keras_cells.DropoutRNNCell, (
        f"Keras {keras.__version__}: {where} has no DropoutRNNCell")
    rnn_module = sys.modules[keras.layers.RNN.__module__]
    assert getattr(rnn_module, "DropoutRNNCell", None) is mixin, (
        f"Keras {keras.__version__}: keras.layers.RNN ({rnn_module.__name__}) no longer tests "
        f"for {where}.DropoutRNNCell, so it may not draw LayerNormLSTMCell's dropout masks")
    assert issubclass(LayerNormLSTMCell, mixin) and issubclass(keras.layers.LSTMCell, mixin)


def test_a_moved_dropout_mixin_gives_an_import_error_that_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, keras_cells._MIXIN_PATH, None)    # as if it were gone
    spec = importlib.util.spec_from_file_location("keras_cells_copy", keras_cells.__file__)
    with pytest.raises(ImportError, match=r"DropoutRNNCell.*3\.0\.0 to 3\.15\.1"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_errors_name_the_argument(rng):
    x = rng.standard_normal((2, 4, 3))
    p = make_params(3, 5, rng)
    with pytest.raises(ValueError, match="gamma_x"):
        layernorm_lstm_forward(x, **{**p, "gamma_x": np.ones(19)})
    with pytest.raises(ValueError, match="gamma_c"):
        layernorm_lstm_forward(x, **{**p, "gamma_c": np.ones(20)})
    with pytest.raises(ValueError, match="beta_c"):
        layernorm_lstm_forward(x, **{**p, "beta_c": np.ones((5, 1))})
    with pytest.raises(ValueError, match="W_x"):
        layernorm_lstm_forward(x, **{**p, "W_x": np.ones((18, 3))})
    with pytest.raises(ValueError, match="x"):
        layernorm_lstm_forward(x[..., :2], **p)
    with pytest.raises(ValueError, match="epsilon"):
        layernorm_lstm_forward(x, **p, epsilon=0.0)
    with pytest.raises(TypeError, match="epsilon"):
        layer_norm(x, epsilon="small")
    with pytest.raises(ValueError, match="c0"):
        layernorm_lstm_forward(x, **p, c0=np.zeros((3, 5)))
    with pytest.raises(ValueError, match="mask"):
        layernorm_lstm_forward(x, **p, mask=np.ones((2, 5), bool))
    with pytest.raises(ValueError, match="dH"):
        layernorm_lstm_backward(x, **p, dH=np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="NaN"):
        layernorm_lstm_forward(x, **{**p, "b": np.full(20, np.nan)})
    with pytest.raises(ValueError, match="gamma"):
        layer_norm(x, gamma=np.ones(4))
    with pytest.raises(ValueError, match="d_out"):
        layer_norm_backward(x, np.ones((2, 4)))
    with pytest.raises(ValueError, match="LayerNormLSTMCell"):
        book_weights(keras.layers.LSTM(3))
    with pytest.raises(ValueError, match="no weights"):
        book_weights(LayerNormLSTMCell(3))
    layer = keras.layers.RNN(LayerNormLSTMCell(5))
    layer.build((None, None, 3))
    with pytest.raises(ValueError, match="W_h"):
        set_book_weights(layer, {**p, "W_h": np.ones((20, 4))})
