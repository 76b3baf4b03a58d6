"""The output layer: an affine map from hidden state to output, ``y_t = W_y h_t + b_y``."""

from __future__ import annotations

import numpy as np

from ._checks import as_array, check_dim, check_rank

__all__ = ["dense_forward", "dense_backward"]


def _check(h, W_y, b_y):
    h = as_array("h", h)
    W_y = as_array("W_y", W_y)
    b_y = as_array("b_y", b_y)
    if h.ndim < 1:
        raise ValueError(f"h must have at least one dimension (..., hidden); got shape {h.shape}")
    check_rank("W_y", W_y, 2, "(output, hidden)")
    check_rank("b_y", b_y, 1, "(output,)")
    check_dim("h", h.shape[-1], W_y.shape[1],
              f"hidden size of h {h.shape} must equal W_y.shape[1] for W_y {W_y.shape}")
    check_dim("b_y", b_y.shape[0], W_y.shape[0],
              f"b_y {b_y.shape} must have one entry per row of W_y {W_y.shape}")
    return h, W_y, b_y


def dense_forward(h, W_y, b_y) -> np.ndarray:
    """Output layer, ``y = W_y h + b_y``, applied to every row (and every time step).

    Batched rows, as computed: ``y = h @ W_y.T + b_y``. Keras's ``Dense`` stores
    ``kernel = W_y.T``.

    Args:
        h: hidden states, shape (..., hidden): (batch, hidden) for one step or
            (batch, time, hidden) for a whole sequence.
        W_y: output weights, shape (output, hidden).
        b_y: output bias, shape (output,).

    Returns:
        ``y``, shape (..., output). No activation is applied: a sigmoid or softmax head is a
        separate step (see ``rnnbook.losses``).
    """
    h, W_y, b_y = _check(h, W_y, b_y)
    return h @ W_y.T + b_y


def dense_backward(h, W_y, b_y, dy) -> dict:
    """Gradients of :func:`dense_forward` given ``dy = dL/dy`` of shape (..., output).

    ``dW_y = sum dy^T h`` over all leading axes, ``db_y = sum dy``, ``dh = dy @ W_y``.

    Returns:
        dict with ``W_y`` (output, hidden), ``b_y`` (output,) and ``h`` (same shape as ``h``).
    """
    h, W_y, b_y = _check(h, W_y, b_y)
    dy = as_array("dy", dy)
    expected = h.shape[:-1] + (W_y.shape[0],)
    if dy.shape != expected:
        raise ValueError(f"dy must have shape {expected} (h's leading axes, output); got {dy.shape}")
    dy2 = dy.reshape(-1, W_y.shape[0])
    h2 = h.reshape(-1, h.shape[-1])
    return {"W_y": dy2.T @ h2, "b_y": dy2.sum(axis=0), "h": dy @ W_y}
