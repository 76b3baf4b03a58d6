"""rnn_backward's speed-ups must not change its results: time blocks and deferred NaN checks."""

import numpy as np
import pytest

import rnnbook
import rnnbook._recurrence
from rnnbook import rnn_backward, rnn_forward


@pytest.mark.parametrize("block_bytes", [1, 200, 10_000])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("with_h0", [False, True])
def test_gradients_do_not_depend_on_the_block_size(block_bytes, go_backwards, with_h0, rng,
                                                   monkeypatch):
    """Blocks of 1 step, a few steps, or all steps give the same gradients."""
    x, W_x = rng.normal(size=(3, 11, 2)), rng.normal(size=(4, 2))
    W_h, b_h = rng.normal(scale=0.5, size=(4, 4)), rng.normal(size=4)
    h0 = rng.normal(size=(3, 4)) if with_h0 else None
    dH = rng.normal(size=(3, 11, 4))
    expected = rnn_backward(x, W_x, W_h, b_h, dH, h0=h0, go_backwards=go_backwards)
    monkeypatch.setattr(rnnbook._recurrence, "BLOCK_BYTES", block_bytes)
    got = rnn_backward(x, W_x, W_h, b_h, dH, h0=h0, go_backwards=go_backwards)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-12, atol=1e-12, err_msg=key)


def test_one_step_blocks_match_finite_differences(rng, monkeypatch):
    monkeypatch.setattr(rnnbook._recurrence, "BLOCK_BYTES", 1)
    x, W_x = rng.normal(size=(2, 5, 3)), rng.normal(size=(4, 3))
    W_h, b_h = rng.normal(scale=0.5, size=(4, 4)), rng.normal(size=4)
    h0, weights = rng.normal(size=(2, 4)), rng.normal(size=(2, 5, 4))

    def loss():
        return float(np.sum(weights * rnn_forward(x, W_x, W_h, b_h, h0)))

    grads = rnn_backward(x, W_x, W_h, b_h, weights, h0=h0)
    for name, value in [("W_x", W_x), ("W_h", W_h), ("b_h", b_h), ("x", x), ("h0", h0)]:
        numeric = rnnbook.numerical_gradient(loss, value)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("name", ["dH", "H"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_upstream_gradient_or_states_are_named(name, bad, rng):
    x, W_x, W_h, b_h = (rng.normal(size=(2, 3, 4)), rng.normal(size=(5, 4)),
                        rng.normal(size=(5, 5)), rng.normal(size=5))
    arrays = {"dH": rng.normal(size=(2, 3, 5)), "H": rnn_forward(x, W_x, W_h, b_h)}
    arrays[name][1, 2, 3] = bad
    with pytest.raises(ValueError, match=f"{name} contains NaN or infinite values"):
        rnn_backward(x, W_x, W_h, b_h, arrays["dH"], H=arrays["H"])


def test_an_exploding_gradient_is_returned_not_rejected():
    """Finite inputs whose gradient overflows float32 are not an input error."""
    H = np.zeros((1, 60, 3), dtype=np.float32)       # tanh' = 1 at every step
    dH = np.ones((1, 60, 3), dtype=np.float32)
    W_h = (50 * np.eye(3)).astype(np.float32)
    with np.errstate(over="ignore"):
        grads = rnn_backward(np.ones((1, 60, 1), np.float32), np.ones((3, 1), np.float32), W_h,
                             np.zeros(3, np.float32), dH, H=H)
    assert not np.all(np.isfinite(grads["b_h"]))
