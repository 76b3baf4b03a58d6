"""dense_forward/backward and the Keras <-> book weight mapping."""

import keras
import numpy as np
import pytest

from rnnbook import (dense_backward, dense_forward, from_keras, numerical_gradient,
                     relative_error, rnn_forward, to_keras)


@pytest.mark.parametrize("leading", [(4,), (3, 7), (1,)])
def test_dense_matches_column_vector_equation(leading, rng):
    W_y, b_y = rng.normal(size=(2, 5)), rng.normal(size=2)
    h = rng.normal(size=leading + (5,))
    y = dense_forward(h, W_y, b_y)
    assert y.shape == leading + (2,)
    flat_h, flat_y = h.reshape(-1, 5), y.reshape(-1, 2)
    for row_h, row_y in zip(flat_h, flat_y):
        np.testing.assert_allclose(row_y, W_y @ row_h + b_y)


@pytest.mark.parametrize("units, hidden", [(1, 32), (3, 8), (10, 1)])
def test_dense_matches_keras(units, hidden, rng, keras_seed):
    layer = keras.layers.Dense(units)
    h = rng.normal(size=(6, hidden)).astype("float32")
    expected = np.asarray(layer(h))
    p = from_keras(layer)
    assert p["W_y"].shape == (units, hidden)
    np.testing.assert_allclose(dense_forward(h, **p), expected, atol=1e-5)


def test_dense_backward_matches_finite_differences(rng):
    W_y, b_y, h = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=(2, 5, 4))
    weights = rng.normal(size=(2, 5, 3))
    grads = dense_backward(h, W_y, b_y, weights)
    arrays = {"W_y": W_y, "b_y": b_y, "h": h}
    for name, arr in arrays.items():
        numeric = numerical_gradient(lambda: float(np.sum(weights * dense_forward(h, W_y, b_y))), arr)
        assert relative_error(grads[name], numeric) < 1e-6, name


@pytest.mark.parametrize("kwargs, match", [
    ({"h": np.zeros((2, 3))}, r"hidden size of h \(2, 3\) must equal W_y.shape\[1\] for W_y \(1, 4\)"),
    ({"W_y": np.zeros(4)}, r"W_y must have 2 dimensions"),
    ({"b_y": np.zeros(2)}, r"b_y \(2,\) must have one entry per row of W_y \(1, 4\)"),
    ({"h": np.float64(1.0)}, r"h must have at least one dimension"),
])
def test_dense_rejects_bad_input(kwargs, match):
    args = {"h": np.zeros((2, 4)), "W_y": np.zeros((1, 4)), "b_y": np.zeros(1), **kwargs}
    with pytest.raises(ValueError, match=match):
        dense_forward(**args)


def test_from_keras_gives_book_layout(keras_seed):
    layer = keras.layers.SimpleRNN(6)
    layer.build((None, 3, 2))
    p = from_keras(layer)
    assert {k: v.shape for k, v in p.items()} == {"W_x": (6, 2), "W_h": (6, 6), "b_h": (6,)}
    np.testing.assert_array_equal(p["W_x"], np.asarray(layer.cell.kernel).T)
    np.testing.assert_array_equal(p["W_h"], np.asarray(layer.cell.recurrent_kernel).T)
    p["W_x"][0, 0] = 99.0  # a copy: editing it leaves the layer alone
    assert np.asarray(layer.cell.kernel)[0, 0] != 99.0


def test_to_keras_round_trip(rng, keras_seed):
    layer = keras.layers.SimpleRNN(5, return_sequences=True)
    layer.build((None, 4, 3))
    params = {"W_x": rng.normal(size=(5, 3)), "W_h": rng.normal(size=(5, 5)) * 0.3,
              "b_h": rng.normal(size=5)}
    to_keras(layer, params)
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(layer(x)), rnn_forward(x, **params), atol=1e-5)
    for key, value in from_keras(layer).items():
        np.testing.assert_allclose(value, params[key], rtol=1e-6)


def test_interop_error_paths(keras_seed):
    with pytest.raises(TypeError, match=r"SimpleRNN, LSTM, GRU, Bidirectional or Dense layer; "
                                        r"got Conv1D"):
        from_keras(keras.layers.Conv1D(3, 2))
    with pytest.raises(ValueError, match="has no weights yet"):
        from_keras(keras.layers.SimpleRNN(3))
    relu = keras.layers.SimpleRNN(3, activation="relu")
    relu.build((None, 2, 1))
    with pytest.raises(ValueError, match="must use tanh"):
        from_keras(relu)
    no_bias = keras.layers.Dense(2, use_bias=False)
    no_bias.build((None, 3))
    np.testing.assert_array_equal(from_keras(no_bias)["b_y"], np.zeros(2))
    with pytest.raises(ValueError, match="use_bias=False, so its biases must be zero"):
        to_keras(no_bias, {"W_y": np.zeros((2, 3)), "b_y": np.ones(2)})
    dense = keras.layers.Dense(2)
    dense.build((None, 3))
    with pytest.raises(ValueError, match=r"must have keys \['W_y', 'b_y'\]"):
        to_keras(dense, {"W_x": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"params\['W_y'\] must have shape \(2, 3\).*got \(3, 2\)"):
        to_keras(dense, {"W_y": np.zeros((3, 2)), "b_y": np.zeros(2)})


def test_numerical_gradient_and_relative_error_contracts():
    x = np.array([1.0, -2.0, 0.5])
    g = numerical_gradient(lambda: float(np.sum(x ** 3)), x)
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, -2.0, 0.5])  # restored after perturbation
    assert relative_error(np.ones(3), np.ones(3)) == 0.0
    assert relative_error([1.0], [1.1]) == pytest.approx(0.1 / 1.1)
    with pytest.raises(ValueError, match="must be float64"):
        numerical_gradient(lambda: 0.0, np.zeros(2, dtype=np.float32))
    with pytest.raises(TypeError, match="must be a NumPy array"):
        numerical_gradient(lambda: 0.0, [1.0])
    with pytest.raises(ValueError, match=r"a \(2,\) and b \(3,\)"):
        relative_error(np.zeros(2), np.zeros(3))


@pytest.mark.parametrize("shape, axis", [((4, 3), -1), ((2, 5, 7), -1), ((6, 2), 0)])
def test_softmax_matches_keras_and_is_stable(shape, axis, rng):
    from rnnbook import softmax

    z = rng.normal(scale=3.0, size=shape).astype("float32")
    expected = np.asarray(keras.activations.softmax(z, axis=axis))
    np.testing.assert_allclose(softmax(z, axis=axis), expected, atol=1e-6)
    huge = softmax(np.array([[1000.0, 0.0, -1000.0]]))
    np.testing.assert_allclose(huge, [[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="axis 3 is out of range for z of shape"):
        softmax(z, axis=3)
    with pytest.raises(ValueError, match="got a scalar"):
        softmax(1.0)
