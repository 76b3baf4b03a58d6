"""Attention over a sequence of states, and greedy decoding, as Keras 3 computes them.

An attention layer lets each of ``Tq`` *queries* (for a translator: the decoder's states) read a
weighted average of ``Tv`` *values* (the encoder's states). In row-vector form, for one sequence,
with queries ``q_i``, keys ``k_j`` (the values themselves unless given) and values ``v_j``::

    e_ij = score(q_i, k_j)                                   (Tq, Tv)  scores
    a_ij = exp(e_ij) / sum_l exp(e_il)                        (Tq, Tv)  weights, rows sum to 1
    c_i  = sum_j a_ij v_j                                     (Tq, dim) context vectors

Two scores, matching ``keras.layers.Attention`` and ``keras.layers.AdditiveAttention``:

* dot product (Luong et al., 2015): ``e_ij = s * q_i . k_j``, with ``s`` Keras's scalar ``scale``
  (``use_scale=True``; 1 otherwise);
* additive (after Bahdanau et al., 2015): ``e_ij = sum_d w_d tanh(q_id + k_jd)``, with ``w``
  Keras's vector ``scale`` of shape (dim,) (``use_scale=True``, the default; all ones otherwise).
  Bahdanau's score ``w . tanh(W_q q_i + W_k k_j)`` is this applied to projected queries and
  keys: Keras leaves the two matrices to ``Dense`` layers in front of the layer.

Masks follow Keras: ``value_mask`` (batch, Tv) removes values from every query's average (Keras
subtracts 1e9 from their scores; here they get ``-inf``, whose weight is exactly 0 in float32
and float64 alike), ``causal=True`` (Keras's ``use_causal_mask``) lets query ``i`` see only
values ``j <= i``, and ``query_mask`` (batch, Tq) sets the context of masked queries to 0 (their
weights are returned unchanged, as Keras returns them). Keras's ``score_mode="concat"`` and
dropout are not covered.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._checks import as_array, check_rank, result_dtype
from .losses import softmax

__all__ = ["dot_attention", "additive_attention", "greedy_decode"]


def _check_mask(name: str, mask, shape: tuple, meaning: str, other: str) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != bool:
        if mask.dtype.kind not in "biu" or not np.isin(mask, (0, 1)).all():
            raise ValueError(f"{name} must be boolean (or 0/1): True marks a real step; got "
                             f"dtype {mask.dtype} with shape {mask.shape}")
        mask = mask.astype(bool)
    if mask.shape != shape:
        raise ValueError(f"{name} must have shape {meaning} = {shape} to match {other}; got "
                         f"{name} of shape {mask.shape}")
    return mask


def _check_inputs(query, value, key, value_mask, query_mask):
    query = as_array("query", query)
    value = as_array("value", value)
    check_rank("query", query, 3, "(batch, Tq, dim)")
    check_rank("value", value, 3, "(batch, Tv, dim_v)")
    key = value if key is None else as_array("key", key)
    check_rank("key", key, 3, "(batch, Tv, dim)")
    if value.shape[0] != query.shape[0] or key.shape[0] != query.shape[0]:
        raise ValueError(f"query, key and value must have the same batch size; got query "
                         f"{query.shape}, key {key.shape}, value {value.shape}")
    if key.shape[1] != value.shape[1]:
        raise ValueError(f"key and value must have the same number of steps Tv; got key "
                         f"{key.shape} and value {value.shape}")
    if key.shape[2] != query.shape[2]:
        raise ValueError(f"query and key must have the same last dimension (dim); got query "
                         f"{query.shape} and key {key.shape}")
    batch, tq, tv = query.shape[0], query.shape[1], value.shape[1]
    value_mask = _check_mask("value_mask", value_mask, (batch, tv), "(batch, Tv)",
                             f"value of shape {value.shape}")
    query_mask = _check_mask("query_mask", query_mask, (batch, tq), "(batch, Tq)",
                             f"query of shape {query.shape}")
    dtype = result_dtype(query, key, value)
    return (query.astype(dtype, copy=False), key.astype(dtype, copy=False),
            value.astype(dtype, copy=False), value_mask, query_mask)


def _attend(scores, value, value_mask, query_mask, causal):
    """Mask the scores, softmax over the values, average them; zero masked queries."""
    allowed = np.ones(scores.shape, dtype=bool)                       # (batch, Tq, Tv)
    if value_mask is not None:
        allowed &= value_mask[:, None, :]
    if causal:
        tq, tv = scores.shape[1:]
        allowed &= np.tril(np.ones((tq, tv), dtype=bool))[None]      # j <= i
    if not allowed.any(axis=-1).all():
        b, i = np.argwhere(~allowed.any(axis=-1))[0]
        raise ValueError(
            f"value_mask{' with causal=True' if causal else ''} leaves query {i} of sequence "
            f"{b} no value to attend to (scores of shape {scores.shape}); every row needs "
            f"at least one True entry (Keras would return meaningless weights there)")
    weights = softmax(np.where(allowed, scores, -np.inf), axis=-1)    # (batch, Tq, Tv)
    context = weights @ value                                          # (batch, Tq, dim_v)
    if query_mask is not None:
        context = np.where(query_mask[:, :, None], context, 0).astype(context.dtype)
    return context, weights


def dot_attention(query, value, key=None, *, scale=None, value_mask=None, query_mask=None,
                  causal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Dot-product attention, ``keras.layers.Attention`` (``score_mode="dot"``).

    ``e_ij = s q_i . k_j``, ``a_ij = softmax_j(e_ij)``, ``c_i = sum_j a_ij v_j``: the batched
    scores are the matrix product ``query @ key.swapaxes(1, 2)``.

    Args:
        query: shape (batch, Tq, dim), e.g. the decoder's states.
        value: shape (batch, Tv, dim_v), e.g. the encoder's states.
        key: shape (batch, Tv, dim), or None to use ``value`` (Keras's default).
        scale: the scalar ``s``, Keras's ``scale`` weight when ``use_scale=True``; None for 1.
        value_mask: None or booleans (batch, Tv), True for real steps.
        query_mask: None or booleans (batch, Tq); masked queries get a zero context.
        causal: Keras's ``use_causal_mask``: query ``i`` sees values ``j <= i`` only.

    Returns:
        ``(context, weights)``: shapes (batch, Tq, dim_v) and (batch, Tq, Tv), what
        ``Attention(...)([query, value, key], return_attention_scores=True)`` returns.
    """
    query, key, value, value_mask, query_mask = _check_inputs(query, value, key, value_mask,
                                                              query_mask)
    scores = query @ key.swapaxes(1, 2)                                # (batch, Tq, Tv)
    if scale is not None:
        s = as_array("scale", scale)
        if s.size != 1:
            raise ValueError(f"scale must be a single number (Keras's scalar scale); got "
                             f"shape {s.shape}")
        scores = scores * s.reshape(()).astype(scores.dtype)
    return _attend(scores, value, value_mask, query_mask, causal)


def additive_attention(query, value, key=None, *, scale=None, value_mask=None,
                       query_mask=None, causal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Additive attention, ``keras.layers.AdditiveAttention``.

    ``e_ij = sum_d w_d tanh(q_id + k_jd)``, then as :func:`dot_attention`. The sum broadcasts
    ``query[:, :, None, :] + key[:, None, :, :]``, shape (batch, Tq, Tv, dim).

    Args:
        query, value, key, value_mask, query_mask, causal: as for :func:`dot_attention`.
        scale: the vector ``w``, shape (dim,): Keras's ``scale`` weight (``use_scale=True``,
            the default). None for ``use_scale=False`` (``w`` all ones).

    Returns:
        ``(context, weights)``, shapes (batch, Tq, dim_v) and (batch, Tq, Tv).
    """
    query, key, value, value_mask, query_mask = _check_inputs(query, value, key, value_mask,
                                                              query_mask)
    hidden = np.tanh(query[:, :, None, :] + key[:, None, :, :])     # (batch, Tq, Tv, dim)
    if scale is None:
        scores = hidden.sum(axis=-1)
    else:
        w = as_array("scale", scale)
        if w.shape != (query.shape[2],):
            raise ValueError(f"scale must have shape (dim,) = ({query.shape[2]},) to match "
                             f"query of shape {query.shape}; got scale of shape {w.shape}")
        scores = (hidden * w.astype(hidden.dtype)).sum(axis=-1)
    return _attend(scores, value, value_mask, query_mask, causal)


def greedy_decode(step: Callable, state, start, steps: int,
                  end: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy decoding: feed back the most probable token at every step.

    With a decoder that gives ``p(y_t | y_{<t}, source)``, greedy decoding chooses
    ``y_t = argmax_k p(y_t = k | y_{<t}, source)`` and feeds it back as the next input, for a
    whole batch at once::

        tokens = start
        for t in 1..steps:  probs_t, state = step(tokens, state);  tokens = argmax(probs_t)

    Args:
        step: ``step(tokens, state) -> (probs, state)``: the decoder's one-step function, given
            the previous tokens, shape (batch,) int, and its state (anything: an array, a tuple
            of arrays, ...), returning next-token scores of shape (batch, V) (probabilities or
            logits: only the argmax is used) and the new state.
        state: the decoder's initial state, e.g. the encoder's final state.
        start: the first input tokens, shape (batch,) integers (the start marker).
        steps: the number of tokens to produce, a positive integer.
        end: optional end marker. Once a sequence has produced it, its later tokens are ``end``
            too and its later scores rows of NaN; decoding stops early when every sequence has
            ended (the outputs keep ``steps`` columns).

    Returns:
        ``(tokens, scores)``: shapes (batch, steps) int64 and (batch, steps, V).
    """
    if not callable(step):
        raise TypeError(f"step must be callable as step(tokens, state); got "
                        f"{type(step).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    tokens = np.asarray(start)
    if tokens.ndim != 1 or tokens.dtype.kind not in "iu":
        raise ValueError(f"start must be a 1-D array of integer tokens, shape (batch,); got "
                         f"dtype {tokens.dtype} with shape {tokens.shape}")
    batch = tokens.shape[0]
    out = np.full((batch, steps), -1 if end is None else end, dtype=np.int64)
    scores = None
    done = np.zeros(batch, dtype=bool)
    for t in range(steps):
        probs, state = step(tokens, state)
        probs = np.asarray(probs)
        if probs.ndim != 2 or probs.shape[0] != batch:
            raise ValueError(f"step must return scores of shape (batch, V) = ({batch}, V); "
                             f"got shape {probs.shape} at step {t}")
        if scores is None:
            scores = np.full((batch, steps, probs.shape[1]), np.nan, dtype=probs.dtype)
        tokens = probs.argmax(axis=-1).astype(np.int64)
        if end is not None:
            tokens = np.where(done, end, tokens)
            scores[~done, t] = probs[~done]
            done |= tokens == end
        else:
            scores[:, t] = probs
        out[:, t] = tokens
        if end is not None and done.all():
            break
    return out, scores
