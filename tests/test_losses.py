"""Specification of rnnbook.sigmoid and rnnbook.softmax at the edges of their domain.

Infinite inputs are legitimate where the function has a value: a logit of +inf means "certain",
and a logit of -inf is how attention masks padding (Part IV). Both functions must return what
Keras returns there, without RuntimeWarnings, and must still refuse NaN with an error that names
the argument. (Finite inputs are covered by tests/test_training_parity.py and
tests/test_dense_and_interop.py.)
"""

import warnings

import keras
import numpy as np
import pytest

from rnnbook import sigmoid, softmax

INF = np.inf


def no_warnings(fn, *args, **kwargs):
    """Call fn and fail if it emits any warning (RuntimeWarning from exp/log included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            return fn(*args, **kwargs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_of_infinities_is_zero_or_one_like_keras(dtype):
    z = np.array([-INF, -800.0, -1.0, 0.0, 1.0, 800.0, INF], dtype=dtype)
    ours = no_warnings(sigmoid, z)
    expected = keras.ops.convert_to_numpy(keras.activations.sigmoid(z))
    np.testing.assert_array_equal(ours[[0, -1]], [0.0, 1.0])
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=0)
    assert ours.dtype == np.dtype(dtype)


def test_sigmoid_of_plus_infinity_alone_is_one():
    np.testing.assert_array_equal(no_warnings(sigmoid, [INF]), [1.0])


def test_masked_softmax_gives_minus_infinity_zero_weight_like_keras():
    z = np.array([[0.0, -INF, 1.0]])
    ours = no_warnings(softmax, z)
    expected = keras.ops.convert_to_numpy(keras.activations.softmax(z))
    np.testing.assert_allclose(ours, [[0.26894142, 0.0, 0.73105858]], rtol=1e-7)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=0)
    assert ours[0, 1] == 0.0


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_masked_softmax_along_any_axis_equals_softmax_of_the_unmasked_entries(axis, rng):
    z = rng.normal(scale=3.0, size=(4, 5))
    mask = rng.random((4, 5)) < 0.4
    mask[0, :] = mask[:, 0] = False                     # every row and column keeps an entry
    masked = np.where(mask, -INF, z)
    ours = no_warnings(softmax, masked, axis=axis)
    assert np.all(ours[mask] == 0.0)
    np.testing.assert_allclose(ours.sum(axis=axis), 1.0, rtol=1e-12)
    # what is left is the softmax of the kept entries alone
    e = np.where(mask, 0.0, np.exp(z - z.max(axis=axis, keepdims=True)))
    np.testing.assert_allclose(ours, e / e.sum(axis=axis, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(
        ours, keras.ops.convert_to_numpy(keras.activations.softmax(masked, axis=axis)),
        rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("fn", [sigmoid, softmax])
def test_nan_is_still_rejected_naming_the_argument(fn):
    with pytest.raises(ValueError, match=r"z contains NaN \(shape \(1, 3\)\)"):
        fn(np.array([[0.0, np.nan, 1.0]]))


@pytest.mark.parametrize("z, match", [
    ([[0.0, INF, 1.0]], r"z contains \+inf along axis -1 .*undefined"),
    ([[-INF, -INF], [0.0, 1.0]], r"z has a slice along axis -1 whose entries are all -inf"),
])
def test_softmax_rejects_slices_where_it_is_undefined(z, match):
    with pytest.raises(ValueError, match=match):
        softmax(np.array(z))
