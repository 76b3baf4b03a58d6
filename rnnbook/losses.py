"""Sigmoid and binary cross-entropy, computed the way Keras 3 (TensorFlow backend) computes them.

For a label ``y`` in {0, 1} and a predicted probability ``p = sigmoid(z)``, binary cross-entropy is
``-(y log p + (1 - y) log(1 - p))``. Keras has two paths:

* from the logit ``z`` (``from_logits=True``, and on the TensorFlow backend also whenever the
  prediction comes straight out of a sigmoid layer, whose logit TensorFlow keeps):
  ``max(z, 0) - z y + log(1 + exp(-|z|))``, which is exact even for saturated ``z``;
* from a probability: ``p`` is clipped to ``[eps, 1 - eps]`` with ``eps = 1e-7`` first. The JAX,
  PyTorch and NumPy backends take this path for a sigmoid layer's output too, so
  ``Dense(1)`` + ``BinaryCrossentropy(from_logits=True)`` is the form that is exact everywhere.

Both are averaged over the last axis, then over the batch.

``sigmoid`` and ``softmax`` accept infinite logits wherever the function has a value, as Keras
does: ``sigmoid(+inf) = 1``, ``sigmoid(-inf) = 0``, and a ``-inf`` logit gets probability 0 in a
softmax (how attention masks padding). NaN is always refused.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array

__all__ = ["sigmoid", "softmax", "bce_loss", "bce_grad", "EPSILON"]

EPSILON = 1e-7  #: Keras's ``backend.epsilon()``, used to clip probabilities


def _as_array_without_nan(name: str, value) -> np.ndarray:
    """Like ``as_array`` but letting +-inf through: only NaN is refused, naming the argument."""
    arr = as_array(name, value, finite=False)
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN (shape {arr.shape})")
    return arr


def sigmoid(z) -> np.ndarray:
    """The logistic function ``sigmoid(z) = 1 / (1 + exp(-z))``, elementwise, without overflow.

    ``exp`` is only ever taken of ``-|z|``, so nothing overflows; ``z = +inf`` gives exactly 1
    and ``z = -inf`` exactly 0, as in Keras. NaN raises ``ValueError``.
    """
    z = _as_array_without_nan("z", z)
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

    A logit of ``-inf`` gets probability exactly 0 and the others share the total as if it were
    absent: this is how attention masks padding, and Keras gives the same result. The function
    is undefined (Keras returns NaN) where a slice along ``axis`` is all ``-inf`` or contains
    ``+inf``; those, and NaN anywhere, raise ``ValueError``.

    Returns:
        Probabilities of the same shape, non-negative and summing to 1 along ``axis``.
    """
    z = _as_array_without_nan("z", z)
    if z.ndim == 0:
        raise ValueError("z must have at least one dimension (the classes); got a scalar")
    if not -z.ndim <= axis < z.ndim:
        raise ValueError(f"axis {axis} is out of range for z of shape {z.shape}")
    if z.shape[axis] == 0:
        raise ValueError(f"z has no classes along axis {axis} (shape {z.shape}); softmax needs "
                         "at least one")
    if np.isposinf(z).any():
        raise ValueError(f"z contains +inf along axis {axis} (shape {z.shape}); softmax is "
                         f"undefined there (inf / inf). Use -inf to mask an entry out.")
    top = z.max(axis=axis, keepdims=True)
    if np.isneginf(top).any():
        raise ValueError(f"z has a slice along axis {axis} whose entries are all -inf (shape "
                         f"{z.shape}): nothing is left to normalise, softmax is undefined there")
    e = np.exp(z - top)                       # -inf - finite = -inf, exp(-inf) = 0: no warning
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
