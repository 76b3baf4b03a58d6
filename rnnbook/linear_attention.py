"""Causal linear attention, in its parallel form and as a recurrent network (chapter 23).

Katharopoulos et al. (2020) replace the softmax of attention by a kernel
``phi(q)^T phi(k)`` with the positive feature map ``phi(z) = elu(z) + 1``. For queries and keys
``q_t, k_t`` of size ``d_k`` and values ``v_t`` of size ``d_v``, causal linear attention is::

    y_t = sum_{s<=t} (phi(q_t)^T phi(k_s)) v_s  /  sum_{s<=t} phi(q_t)^T phi(k_s)

*Parallel form*: with ``M`` the (time, time) matrix ``phi(q_t)^T phi(k_s)`` for ``s <= t`` and
0 above the diagonal, ``Y = (M V) / (M 1)``, like softmax attention with a causal mask.

*Recurrent form*: ``phi(q_t)`` factors out of both sums, leaving running sums that are a
linear recurrence with decay 1 (a matrix state ``S_t`` of shape (d_k, d_v) and a normaliser
``z_t`` (d_k,))::

    S_t = S_{t-1} + phi(k_t) v_t^T,     z_t = z_{t-1} + phi(k_t)
    y_t = S_t^T phi(q_t) / (z_t^T phi(q_t))

so the layer runs as an RNN with constant memory per step, or through the scan of
:mod:`rnnbook.scan`. Arrays keep a batch in rows: ``q``, ``k`` (batch, time, d_k), ``v``
(batch, time, d_v).
"""

from __future__ import annotations

import numpy as np

from .scan import _scan_parallel, _scan_sequential

__all__ = ["elu_feature_map", "causal_linear_attention", "FORMS"]

#: The values :func:`causal_linear_attention`'s ``form`` accepts.
FORMS = ("parallel", "recurrent", "scan")


def elu_feature_map(z) -> np.ndarray:
    """``phi(z) = elu(z) + 1``: ``z + 1`` for ``z > 0``, ``exp(z)`` otherwise; always positive."""
    z = np.asarray(z)
    return np.where(z > 0, z + 1, np.exp(np.minimum(z, 0)))


def _check(q, k, v):
    arrays = []
    for name, value in (("q", q), ("k", k), ("v", v)):
        arr = np.asarray(value)
        if arr.dtype.kind != "f":
            raise ValueError(f"{name} must be a real floating-point array; got dtype "
                             f"{arr.dtype} with shape {arr.shape}")
        if arr.ndim != 3:
            raise ValueError(f"{name} must have 3 dimensions (batch, time, features); got "
                             f"shape {arr.shape}")
        arrays.append(arr)
    q, k, v = arrays
    if k.shape != q.shape:
        raise ValueError(f"k must have the shape of q, (batch, time, d_k) = {q.shape}; got "
                         f"k of shape {k.shape}")
    if v.shape[:2] != q.shape[:2]:
        raise ValueError(f"v must have the batch and time of q, {q.shape[:2]}; got v of shape "
                         f"{v.shape}")
    if not q.dtype == k.dtype == v.dtype:
        raise ValueError(f"q, k and v must have one dtype; got {q.dtype}, {k.dtype}, {v.dtype}")
    return q, k, v


def causal_linear_attention(q, k, v, form: str = "parallel") -> np.ndarray:
    """Causal linear attention with ``phi = elu + 1`` (see the module docstring).

    Args:
        q, k: (batch, time, d_k) queries and keys.
        v: (batch, time, d_v) values; one dtype for all three.
        form: ``"parallel"`` (the masked (time, time) matrix), ``"recurrent"`` (the RNN, one
            step at a time) or ``"scan"`` (the same recurrence by the parallel scan).

    Returns:
        y: (batch, time, d_v) in the inputs' dtype.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}; got {form!r}")
    q, k, v = _check(q, k, v)
    fq, fk = elu_feature_map(q), elu_feature_map(k)
    if form == "parallel":
        scores = np.tril(fq @ np.swapaxes(fk, 1, 2))                    # (batch, T, T)
        return (scores @ v) / scores.sum(axis=2, keepdims=True)
    # the running sums: S_t (d_k, d_v) flattened beside z_t (d_k,), decay 1
    batch, time, d_k = fk.shape
    outer = (fk[..., :, None] * v[..., None, :]).reshape(batch, time, -1)
    b = np.concatenate([outer, fk], axis=2)                        # (batch, T, d_k d_v + d_k)
    kernel = _scan_sequential if form == "recurrent" else _scan_parallel
    sums = kernel(np.ones_like(b), b)
    S = sums[..., :-d_k].reshape(batch, time, d_k, -1)
    z = sums[..., -d_k:]
    return np.einsum("btk,btkv->btv", fq, S) / np.einsum("btk,btk->bt", fq, z)[..., None]
