"""Specification of rnnbook.conv1d: a 1-D convolution over time equal to keras.layers.Conv1D.

conv1d_forward must equal Conv1D (given the same kernel and bias) for the three paddings, kernel
sizes 1 to 5 (odd and even: "same" splits an odd span with the extra zero on the right),
dilation rates 1 to 4 and batches of 1 to 16; conv1d_backward must equal TensorFlow's
GradientTape and float64 finite differences. Measured float32 agreement with Keras: the forward
pass bit for bit, the gradients within 1e-6 of their largest entry (a weight gradient sums
batch * time products, which TensorFlow adds in another order). The tolerance is 1e-5, for the
gradients times their largest entry when that exceeds 1. The equation itself (which input step
each tap reads), causality and the receptive field of a stack are checked directly, and bad
arguments must be named in the error.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import rnnbook
from rnnbook.conv1d import conv1d_backward, conv1d_forward, conv1d_padding, receptive_field
from rnnbook.gradcheck import numerical_gradient

ATOL = 1e-5
PADDINGS = ["causal", "same", "valid"]
# (batch, time, input, filters, kernel_size, dilation_rate)
SHAPES = [(1, 1, 1, 1, 1, 1), (2, 9, 3, 4, 2, 1), (3, 17, 2, 5, 3, 2), (1, 12, 4, 3, 4, 3),
          (4, 25, 5, 6, 5, 4), (2, 8, 1, 2, 2, 3), (2, 16, 3, 3, 4, 1), (16, 100, 16, 32, 3, 4)]


def _shape_fits(shape, padding):
    _, time, _, _, k, d = shape
    return padding != "valid" or time >= (k - 1) * d + 1


def _keras_layer(shape, padding, use_bias=True):
    _, time, n_in, filters, k, d = shape
    layer = keras.layers.Conv1D(filters, k, padding=padding, dilation_rate=d, use_bias=use_bias)
    layer.build((None, time, n_in))
    return layer


def _random_weights(layer, rng):
    """Random kernel and bias (Keras initialises the bias to 0, which would hide its role)."""
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in layer.weights]
    layer.set_weights(weights)
    return weights


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("use_bias", [True, False])
def test_forward_matches_keras(shape, padding, use_bias, rng, keras_seed):
    if not _shape_fits(shape, padding):
        pytest.skip("valid padding needs time >= receptive field")
    layer = _keras_layer(shape, padding, use_bias)
    weights = _random_weights(layer, rng)
    x = rng.normal(size=shape[:3]).astype(np.float32)
    expected = np.asarray(layer(x))
    bias = weights[1] if use_bias else None
    y = conv1d_forward(x, weights[0], bias, padding=padding, dilation_rate=shape[5])
    assert y.dtype == np.float32 and y.shape == expected.shape
    np.testing.assert_allclose(y, expected, atol=ATOL)


def _tape_gradients(layer, x, dY):
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        loss = tf.reduce_sum(layer(x_t) * dY)
    return [np.asarray(g) for g in tape.gradient(loss, [x_t, *layer.trainable_weights])]


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_matches_gradient_tape(shape, padding, rng, keras_seed):
    if not _shape_fits(shape, padding):
        pytest.skip("valid padding needs time >= receptive field")
    layer = _keras_layer(shape, padding)
    kernel, bias = _random_weights(layer, rng)
    x = rng.normal(size=shape[:3]).astype(np.float32)
    y = conv1d_forward(x, kernel, bias, padding=padding, dilation_rate=shape[5])
    dY = rng.normal(size=y.shape).astype(np.float32)
    dx, dkernel, dbias = _tape_gradients(layer, x, dY)
    grads = conv1d_backward(x, kernel, dY, bias, padding=padding, dilation_rate=shape[5])
    assert set(grads) == {"x", "kernel", "bias"}
    for name, expected in [("x", dx), ("kernel", dkernel), ("bias", dbias)]:
        assert grads[name].dtype == np.float32 and grads[name].shape == expected.shape
        scale = max(1.0, float(np.abs(expected).max()))      # float32 sums of batch*time terms
        np.testing.assert_allclose(grads[name], expected, atol=ATOL * scale, err_msg=name)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("shape", [(2, 7, 2, 3, 2, 1), (1, 10, 3, 2, 3, 2), (2, 9, 1, 2, 4, 2)])
def test_backward_matches_finite_differences(shape, padding, rng):
    batch, time, n_in, filters, k, d = shape
    x = rng.normal(size=(batch, time, n_in))
    kernel = rng.normal(size=(k, n_in, filters))
    bias = rng.normal(size=filters)
    dY = rng.normal(size=conv1d_forward(x, kernel, bias, padding, d).shape)

    def loss():
        return float(np.sum(conv1d_forward(x, kernel, bias, padding, d) * dY))

    grads = conv1d_backward(x, kernel, dY, bias, padding, d)
    for name, array in [("x", x), ("kernel", kernel), ("bias", bias)]:
        assert grads[name].dtype == np.float64
        np.testing.assert_allclose(grads[name], numerical_gradient(loss, array), atol=1e-7,
                                   err_msg=name)


def test_bias_gradient_is_given_without_a_bias(rng):
    x = rng.normal(size=(2, 6, 3))
    kernel = rng.normal(size=(2, 3, 4))
    dY = rng.normal(size=(2, 6, 4))
    grads = conv1d_backward(x, kernel, dY)
    np.testing.assert_allclose(grads["bias"], dY.sum(axis=(0, 1)))
    with_bias = conv1d_backward(x, kernel, dY, bias=np.ones(4))
    for name in ("x", "kernel"):
        np.testing.assert_allclose(grads[name], with_bias[name])


def test_causal_equation_tap_by_tap(rng):
    """y_t = b + sum_j W_j x_{t - (k-1-j) d}, W_j = kernel[j].T, x_s = 0 for s < 0."""
    x = rng.normal(size=(2, 11, 3))
    kernel = rng.normal(size=(3, 3, 4))
    bias = rng.normal(size=4)
    d = 2
    y = conv1d_forward(x, kernel, bias, "causal", d)
    for t in range(11):
        expected = np.tile(bias, (2, 1))
        for j in range(3):
            s = t - (3 - 1 - j) * d
            if s >= 0:
                expected = expected + x[:, s] @ kernel[j]
        np.testing.assert_allclose(y[:, t], expected, atol=1e-12)


def test_same_padding_puts_the_extra_zero_on_the_right(rng):
    """Kernel size 2, dilation 3: span 3 = 1 zero on the left, 2 on the right."""
    assert conv1d_padding(2, 3, "same") == (1, 2)
    assert conv1d_padding(4, 1, "same") == (1, 2)
    assert conv1d_padding(3, 2, "same") == (2, 2)
    assert conv1d_padding(3, 2, "causal") == (4, 0)
    assert conv1d_padding(3, 2, "valid") == (0, 0)
    x = rng.normal(size=(1, 8, 1))
    kernel = rng.normal(size=(2, 1, 1))
    y = conv1d_forward(x, kernel, padding="same", dilation_rate=3)[0, :, 0]
    x0 = np.concatenate([[0.0], x[0, :, 0], [0.0, 0.0]])
    np.testing.assert_allclose(y, kernel[0, 0, 0] * x0[:8] + kernel[1, 0, 0] * x0[3:11])


@pytest.mark.parametrize("padding", PADDINGS)
def test_output_length(padding):
    x = np.zeros((2, 20, 3), np.float32)
    kernel = np.zeros((4, 3, 5), np.float32)
    y = conv1d_forward(x, kernel, padding=padding, dilation_rate=3)
    assert y.shape == (2, 20 if padding != "valid" else 20 - 9, 5)
    assert conv1d_forward(x[:, :10], kernel, padding="valid", dilation_rate=3).shape == (2, 1, 5)


def test_causal_output_never_reads_the_future(rng):
    x = rng.normal(size=(3, 15, 2))
    kernel = rng.normal(size=(3, 2, 2))
    y = conv1d_forward(x, kernel, padding="causal", dilation_rate=2)
    x2 = x.copy()
    x2[:, 9:] = rng.normal(size=x2[:, 9:].shape)
    y2 = conv1d_forward(x2, kernel, padding="causal", dilation_rate=2)
    np.testing.assert_array_equal(y[:, :9], y2[:, :9])
    assert np.all(np.abs(y[:, 9] - y2[:, 9]) > 0)


@pytest.mark.parametrize("kernel_size, dilations", [(2, [1, 2, 4, 8]), (3, [1, 2, 4]),
                                                    (4, [1]), (2, [1, 1, 1])])
def test_receptive_field_of_a_causal_stack(kernel_size, dilations, rng):
    """The last output of a stack depends on exactly the receptive field's last input steps."""
    field = receptive_field(kernel_size, dilations)
    assert field == 1 + sum((kernel_size - 1) * d for d in dilations)
    time = field + 5
    inputs, kernels = [], []
    h = rng.normal(size=(1, time, 2))
    for d in dilations:
        kernels.append(rng.normal(size=(kernel_size, h.shape[2], 2)))
        inputs.append(h)
        h = np.tanh(conv1d_forward(h, kernels[-1], padding="causal", dilation_rate=d))
    g = np.zeros_like(h)
    g[0, -1] = 1.0                                         # d y_{T-1} / d x
    for h_in, kernel, d in zip(inputs[::-1], kernels[::-1], dilations[::-1]):
        out = np.tanh(conv1d_forward(h_in, kernel, padding="causal", dilation_rate=d))
        g = conv1d_backward(h_in, kernel, g * (1 - out ** 2), padding="causal",
                            dilation_rate=d)["x"]
    reached = np.flatnonzero(np.abs(g[0]).sum(axis=1) > 0)
    np.testing.assert_array_equal(reached, np.arange(time - field, time))


def test_receptive_field_forms():
    assert receptive_field(2, [1, 2, 4, 8, 16]) == 32             # WaveNet: 2^L
    assert receptive_field(3) == 3
    assert receptive_field(5, 2) == 9
    assert receptive_field([2, 3], [1, 4]) == 1 + 1 + 8
    assert receptive_field([3, 3, 3], 2) == 13
    assert receptive_field(np.array([2, 2]), np.array([1, 2])) == 4
    assert rnnbook.receptive_field is receptive_field


def test_dtypes(rng):
    x32 = rng.normal(size=(2, 5, 3)).astype(np.float32)
    k32 = rng.normal(size=(2, 3, 4)).astype(np.float32)
    b32 = np.zeros(4, np.float32)
    assert conv1d_forward(x32, k32, b32).dtype == np.float32
    assert conv1d_forward(x32.astype(np.float64), k32, b32).dtype == np.float64
    assert conv1d_forward(x32, k32, b32.astype(np.float64)).dtype == np.float64
    grads = conv1d_backward(x32, k32, np.ones((2, 5, 4), np.float32), b32)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert rnnbook.conv1d_forward is conv1d_forward
    assert rnnbook.conv1d_backward is conv1d_backward


@pytest.mark.parametrize("call, message", [
    (lambda x, k: conv1d_forward(x[0], k), r"x must have 3 dimensions .*shape \(5, 3\)"),
    (lambda x, k: conv1d_forward(x, k[0]), r"kernel must have 3 dimensions .*shape \(3, 4\)"),
    (lambda x, k: conv1d_forward(x[..., :2], k),
     r"x has 2 input features \(shape \(2, 5, 2\)\) but kernel expects 3"),
    (lambda x, k: conv1d_forward(x, k[:0]), r"kernel_size .* at least 1; .*\(0, 3, 4\)"),
    (lambda x, k: conv1d_forward(x, k, np.zeros(3)),
     r"bias must have shape \(filters,\) = \(4,\).*got bias of shape \(3,\)"),
    (lambda x, k: conv1d_forward(x, k, padding="full"), r"padding must be one of .*'full'"),
    (lambda x, k: conv1d_forward(x, k, padding=None), r"padding must be one of"),
    (lambda x, k: conv1d_forward(x, k, dilation_rate=0), r"dilation_rate must be a positive"),
    (lambda x, k: conv1d_forward(x, k, dilation_rate=1.5), r"dilation_rate must be a positive"),
    (lambda x, k: conv1d_forward(x, k, padding="valid", dilation_rate=5),
     r"padding='valid' needs at least .* = 6 time steps; got x of shape \(2, 5, 3\)"),
    (lambda x, k: conv1d_forward(x.astype(np.int64), k),
     r"x must be a real floating-point array .*int64 with shape \(2, 5, 3\)"),
    (lambda x, k: conv1d_forward(x, k.astype(bool)), r"kernel must be a real floating-point"),
    (lambda x, k: conv1d_forward(x, k, np.zeros(4, complex)), r"bias must be a real floating"),
    (lambda x, k: conv1d_forward(np.where(x > 0, np.nan, x), k),
     r"x contains NaN or infinite values \(shape \(2, 5, 3\)\)"),
    (lambda x, k: conv1d_forward(x, k * np.inf), r"kernel contains NaN or infinite"),
    (lambda x, k: conv1d_backward(x, k, np.zeros((2, 4, 4))),
     r"dY must have shape \(batch, T_out, filters\) = \(2, 5, 4\).*got dY of shape \(2, 4, 4\)"),
    (lambda x, k: conv1d_backward(x, k, np.zeros((2, 5, 4), int)), r"dY must be a real"),
    (lambda x, k: conv1d_backward(x, k, np.full((2, 5, 4), np.nan)), r"dY contains NaN"),
    (lambda x, k: conv1d_backward(x, k, np.zeros((2, 5, 4)), padding="wide"),
     r"padding must be one of"),
    (lambda x, k: conv1d_padding(0, 1, "same"), r"kernel_size must be a positive"),
    (lambda x, k: receptive_field(0, [1]), r"kernel_size must be a positive integer; got 0"),
    (lambda x, k: receptive_field(2, [1, 0]), r"dilation_rates\[1\] must be a positive"),
    (lambda x, k: receptive_field([2, 2], [1, 2, 4]),
     r"one entry per layer; got 2 kernel sizes \[2, 2\] and 3 dilation rates"),
    (lambda x, k: receptive_field(2, []), r"dilation_rates is empty"),
])
def test_bad_arguments_are_named(call, message):
    x = np.ones((2, 5, 3))
    kernel = np.ones((2, 3, 4))
    with pytest.raises(ValueError, match=message):
        call(x, kernel)
