"""Argument checks shared by rnnbook's public functions.

Every public function validates what it is given and raises an error that names the offending
argument and the shape or dtype it saw, so that a reader's mistake is explained where it is made.
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_array", "check_rank", "check_dim", "check_shape_matches"]


def as_array(name: str, value, *, finite: bool = True) -> np.ndarray:
    """Return ``value`` as a floating-point ndarray, or raise naming ``name``.

    Integer and boolean arrays are promoted to float64; float16/32/64 keep their dtype.
    Raises ``TypeError`` for non-numeric data and ``ValueError`` for NaN or infinite entries.
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and other unconvertible objects
        raise TypeError(f"{name} could not be converted to a numeric array ({exc})") from None
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind != "f":
        raise TypeError(
            f"{name} must be a numeric (real floating-point) array; got dtype {arr.dtype} "
            f"with shape {arr.shape}"
        )
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values (shape {arr.shape})")
    return arr


def check_rank(name: str, arr: np.ndarray, rank: int, meaning: str) -> None:
    """Raise ``ValueError`` unless ``arr.ndim == rank``; ``meaning`` spells out the axes."""
    if arr.ndim != rank:
        raise ValueError(
            f"{name} must have {rank} dimension{'s' if rank != 1 else ''} {meaning}; "
            f"got shape {arr.shape}"
        )


def check_dim(name: str, actual: int, expected: int, context: str) -> None:
    """Raise ``ValueError`` when one axis length disagrees with another array's."""
    if actual != expected:
        raise ValueError(f"{name}: {context} (expected {expected}, got {actual})")


def check_shape_matches(name: str, arr: np.ndarray, expected: tuple, meaning: str,
                        other: str, other_shape: tuple) -> None:
    """Raise ``ValueError`` unless ``arr.shape == expected``, a shape implied by another argument.

    ``meaning`` spells out the axes, e.g. "(hidden, hidden)"; ``other`` names the argument the
    expected shape comes from and ``other_shape`` is its shape.
    """
    if arr.shape != expected:
        raise ValueError(
            f"{name} must have shape {meaning} = {expected} to match {other} of shape "
            f"{other_shape}; got {name} of shape {arr.shape}"
        )


def result_dtype(*arrays: np.ndarray) -> np.dtype:
    """The floating dtype the computation runs in: float32 only if every input is float32."""
    return np.result_type(*arrays, np.float32)
