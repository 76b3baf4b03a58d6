"""The one-nearest-neighbour baseline for sequences, with dynamic time warping as the distance.

A 1-NN classifier gives a new sequence the label of the training sequence closest to it. For
sequences of different lengths the usual distance is dynamic time warping (DTW): align two
sequences ``a`` (length T_a) and ``b`` (length T_b), both with D features per step, by a
monotone path of index pairs from (1, 1) to (T_a, T_b) and add up the local costs along it,

    c(i, j) = ||a_i - b_j||^2                                   (squared Euclidean, over D)
    C(1, 1) = c(1, 1)
    C(i, j) = c(i, j) + min(C(i-1, j), C(i, j-1), C(i-1, j-1))   (missing neighbours: +inf)
    DTW(a, b) = C(T_a, T_b).

This is the dependent form (all features warped together) with no warping window and no square
root at the end (the defaults of ``aeon.distances.dtw_distance``). One
multivariate step of ``a`` may match several of ``b`` and vice versa, so sequences of different
lengths are compared without padding or resampling.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._checks import as_array, check_rank
from .padding import pad_sequences

__all__ = ["dtw_distances", "nearest_neighbour_predict"]

#: At most this many differences (queries x references x steps x features) are held at once.
_BLOCK_ELEMENTS = 4_000_000


def _as_sequences(name: str, sequences) -> tuple[np.ndarray, np.ndarray]:
    """Pad to float64 (N, T, D) and return it with the lengths (N,); errors name ``name``."""
    if not isinstance(sequences, (Sequence, np.ndarray)) or len(sequences) == 0:
        raise ValueError(f"{name} must be a non-empty list of arrays of shape (time, features)")
    try:
        with np.errstate(over="ignore"):  # only the mask is used; values beyond float32 are fine
            x, mask = pad_sequences(sequences)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    # pad_sequences stores float32; recompute in float64 from the originals for exactness
    x64 = np.zeros(x.shape, dtype=np.float64)
    for i, seq in enumerate(sequences):
        seq = np.asarray(seq, dtype=np.float64)
        x64[i, :seq.shape[0]] = seq
    return x64, mask.sum(axis=1)


def dtw_distances(queries: Sequence, references: Sequence) -> np.ndarray:
    """DTW distance of every query to every reference, shape (N_q, N_r), in float64.

    The recursion runs for all pairs at once, one cell ``(i, j)`` of the cost table at a time:
    sequences are padded to the longest length, and pair ``(q, r)`` reads its distance at cell
    ``(T_q, T_r)``, which depends only on cells inside both sequences, so padding never enters.

    Args:
        queries: N_q arrays of shape (T_q, D), T_q >= 1.
        references: N_r arrays of shape (T_r, D), with the same D.

    Returns:
        ``d`` of shape (N_q, N_r) with ``d[q, r] = DTW(queries[q], references[r])``.
    """
    xq, len_q = _as_sequences("queries", queries)
    xr, len_r = _as_sequences("references", references)
    if xq.shape[2] != xr.shape[2]:
        raise ValueError(
            f"queries have {xq.shape[2]} features per step but references have {xr.shape[2]}; "
            f"they must match (padded shapes {xq.shape} and {xr.shape})"
        )
    n_q, t_q, n_f = xq.shape
    n_r, t_r, _ = xr.shape
    # The local costs are summed from the differences a_i - b_j themselves. Expanding
    # ||a||^2 + ||b||^2 - 2 a.b would be cheaper, but it cancels catastrophically when the data
    # sit far from 0 (values near 1e8 lose every digit) and overflows for huge values.
    ref_by_step = np.ascontiguousarray(xr.transpose(1, 0, 2))   # b_j, (T_r, N_r, D)
    columns = np.arange(n_r)
    out = np.empty((n_q, n_r))
    block = max(1, _BLOCK_ELEMENTS // (n_r * t_r * n_f))
    for start in range(0, n_q, block):
        q = xq[start:start + block]
        lq = len_q[start:start + block]
        prev = cur = None
        diff = np.empty((t_r, q.shape[0], n_r, n_f))
        for i in range(t_q):
            np.subtract(q[None, :, i, None, :], ref_by_step[:, None], out=diff)
            cost = np.einsum("jbrd,jbrd->jbr", diff, diff)      # ||a_i - b_j||^2, (T_r, B, N_r)
            prev, cur = cur, cost                               # C(i, .) overwrites c(i, .)
            for j in range(t_r):
                if i == 0:
                    if j > 0:
                        cur[j] += cur[j - 1]
                    continue
                best = prev[j] if j == 0 else np.minimum(np.minimum(prev[j], prev[j - 1]),
                                                         cur[j - 1])
                cur[j] += best
            ending = np.flatnonzero(lq == i + 1)                # queries whose last step is i
            if ending.size:
                out[start + ending] = cur[len_r[None, :] - 1, ending[:, None], columns[None, :]]
    return out


def nearest_neighbour_predict(distances, reference_labels) -> np.ndarray:
    """Label of the nearest reference for each query: ``labels[argmin_r distances[q, r]]``.

    Ties go to the reference that comes first.

    Args:
        distances: shape (N_q, N_r), e.g. from :func:`dtw_distances`; no NaN.
        reference_labels: shape (N_r,), the labels of the references.

    Returns:
        The predicted labels, shape (N_q,), with the dtype of ``reference_labels``.
    """
    d = as_array("distances", distances, finite=False)
    check_rank("distances", d, 2, "(queries, references)")
    if np.isnan(d).any():
        raise ValueError(f"distances contains NaN (shape {d.shape})")
    labels = np.asarray(reference_labels)
    check_rank("reference_labels", labels, 1, "(references,)")
    if labels.shape[0] != d.shape[1] or d.shape[1] == 0:
        raise ValueError(
            f"reference_labels has shape {labels.shape} but distances has shape {d.shape}: "
            f"need one label per reference (column), at least one"
        )
    return labels[np.argmin(d, axis=1)]
