"""Sequences of different lengths in one array: padding and the mask that goes with it.

A recurrent layer reads a batch as one array of shape (batch, time, features), so sequences
``s_1, ..., s_N`` of lengths ``T_1, ..., T_N`` (each ``s_i`` of shape (T_i, D)) are padded to a
common length ``T >= max_i T_i`` with a filler value ``v``. With post-padding (the real steps
first, the filler after them)::

    x[i, t] = s_i[t]   for t < T_i,        x[i, t] = v   for T_i <= t < T,
    m[i, t] = 1        for t < T_i,        m[i, t] = 0   otherwise,

and with pre-padding the filler comes first: ``x[i, t] = s_i[t - (T - T_i)]`` and
``m[i, t] = 1`` for ``t >= T - T_i``. The mask ``m`` of shape (batch, time) is what Keras's
``Masking`` layer computes from ``x``, and what :func:`~rnnbook.gru.gru_forward` and its
siblings take as ``mask=``. Post-padding is the layout cuDNN requires (see the classification
chapter).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._checks import as_array, check_rank

__all__ = ["pad_sequences"]


def pad_sequences(sequences: Sequence, length: int | None = None, *,
                  padding: str = "post", value: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Pad sequences of shapes (T_i, D) to one float32 array (N, T, D) and its mask (N, T).

    Unlike ``keras.utils.pad_sequences``, whose defaults are ``padding="pre"``,
    ``dtype="int32"`` (real-valued inputs would be truncated to integers) and silent truncation
    of longer sequences, this pads at the end by default, keeps float32 and never cuts a
    sequence. ``pad_sequences(s, T, padding=p)[0]`` equals
    ``keras.utils.pad_sequences(s, T, dtype="float32", padding=p)``.

    Args:
        sequences: N arrays (or nested lists) of shape (T_i, D), with T_i >= 1 and the same D.
        length: the padded length T, at least max T_i; None for max T_i.
        padding: ``"post"`` (filler after the real steps) or ``"pre"`` (filler before them).
        value: the filler, a finite number.

    Returns:
        ``(x, mask)``: ``x`` of shape (N, T, D), float32, and ``mask`` of shape (N, T), bool,
        True at the real steps.
    """
    if padding not in ("post", "pre"):
        raise ValueError(f"padding must be 'post' or 'pre'; got {padding!r}")
    if isinstance(sequences, np.ndarray) and sequences.dtype != object:
        sequences = list(sequences)
    if not isinstance(sequences, Sequence) or len(sequences) == 0:
        raise ValueError("sequences must be a non-empty list of arrays of shape (time, features)")
    arrays = []
    for i, seq in enumerate(sequences):
        arr = as_array(f"sequences[{i}]", seq)
        check_rank(f"sequences[{i}]", arr, 2, "(time, features)")
        if arr.shape[0] == 0:
            raise ValueError(f"sequences[{i}] has no time steps (shape {arr.shape})")
        if arrays and arr.shape[1] != arrays[0].shape[1]:
            raise ValueError(
                f"sequences[{i}] has shape {arr.shape}, but sequences[0] has "
                f"{arrays[0].shape[1]} features; all must have the same number of features"
            )
        arrays.append(arr)
    lengths = np.array([a.shape[0] for a in arrays])
    longest = int(lengths.max())
    if length is None:
        length = longest
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)):
        raise TypeError(f"length must be an integer or None; got {type(length).__name__}")
    if length < longest:
        worst = int(np.argmax(lengths))
        raise ValueError(
            f"length={length} is shorter than sequences[{worst}] of shape "
            f"{arrays[worst].shape}; truncate the sequences yourself if that is intended"
        )
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"value must be a finite number; got {value}")
    n, features = len(arrays), arrays[0].shape[1]
    x = np.full((n, int(length), features), value, dtype=np.float32)
    mask = np.zeros((n, int(length)), dtype=bool)
    for i, arr in enumerate(arrays):
        start = 0 if padding == "post" else int(length) - arr.shape[0]
        steps = slice(start, start + arr.shape[0])
        x[i, steps] = arr
        mask[i, steps] = True
    return x, mask
