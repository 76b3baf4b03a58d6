"""Sigmoid and binary cross-entropy, computed the way Keras 3 (TensorFlow backend) computes them.

For a label ``y`` in {0, 1} and a predicted probability ``p = sigmoid(z)``, binary cross-entropy is
``-(y log p + (1 - y) log(1 - p))``. Keras has two paths:

* from the logit ``z`` (used whenever the prediction comes straight out of a sigmoid layer):
  ``max(z, 0) - z y + log(1 + exp(-|z|))``, which is exact even for saturated ``z``;
* from a probability: ``p`` is clipped to ``[eps, 1 - eps]`` with ``eps = 1e-7`` first.

Both are averaged over the last axis, then over the batch.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array

__all__ = ["sigmoid", "softmax", "bce_loss", "bce_grad", "EPSILON"]

EPSILON = 1e-7  #: Keras's ``backend.epsilon()``, used to clip probabilities


def sigmoid(z) -> np.ndarray:
    """The logistic function ``sigmoid(z) = 1 / (1 + exp(-z))``, elementwise, without overflow."""
    z = as_array("z", z)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def softmax(z, axis: int = -1) -> np.ndarray:
    """``softmax(z)_k = exp(z_k) / sum_j exp(z_j)`` along ``axis``, computed stably.

    Subtracting ``max_j z_j`` first leaves the result unchanged (it cancels between numerator and
    denominator) and keeps every exponent at most 0, so nothing overflows.

    Args:
        z: logits, shape (..., K) for the default ``axis=-1``.
        axis: the axis holding the K classes.

    Returns:
        Probabilities of the same shape, non-negative and summing to 1 along ``axis``.
    """
    z = as_array("z", z)
    if z.ndim == 0:
        raise ValueError("z must have at least one dimension (the classes); got a scalar")
    if not -z.ndim <= axis < z.ndim:
        raise ValueError(f"axis {axis} is out of range for z of shape {z.shape}")
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _check_pair(y_true, y_pred, pred_name):
    y_true = as_array("y_true", y_true)
    y_pred = as_array(pred_name, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and {pred_name} must have the same shape; got y_true {y_true.shape} "
            f"and {pred_name} {y_pred.shape}"
        )
    if y_true.ndim == 0:
        raise ValueError("y_true must have at least one dimension (batch, ...); got a scalar")
    return y_true, y_pred


def bce_loss(y_true, y_pred, *, from_logits: bool = False) -> float:
    """Mean binary cross-entropy, as ``keras.losses.BinaryCrossentropy`` reports it.

    Args:
        y_true: labels in [0, 1], shape (batch, ...) .
        y_pred: logits ``z`` (``from_logits=True``) or probabilities ``p`` (otherwise), same shape.
        from_logits: which of Keras's two formulas to use (module docstring).

    Returns:
        The loss averaged over the last axis and then over everything else, as a Python float.
    """
    y, pred = _check_pair(y_true, y_pred, "y_pred")
    if from_logits:
        z = pred
        per_entry = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    else:
        p = np.clip(pred, EPSILON, 1.0 - EPSILON)
        per_entry = -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
    per_example = per_entry.mean(axis=-1) if per_entry.ndim > 1 else per_entry
    return float(per_example.mean())


def bce_grad(y_true, logits) -> np.ndarray:
    """Gradient of :func:`bce_loss` (``from_logits=True``) with respect to the logits.

    ``dL/dz = (sigmoid(z) - y) / N`` where ``N = y.size`` is the number of averaged entries.

    Returns:
        An array of the logits' shape.
    """
    y, z = _check_pair(y_true, logits, "logits")
    return (sigmoid(z) - y) / y.size
