"""Finite-difference gradient checks."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._checks import as_array

__all__ = ["numerical_gradient", "relative_error"]


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference estimate of ``df/dx``, one entry of ``x`` at a time.

    ``df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``, with error of order ``eps**2``.
    ``x`` is perturbed *in place* (and restored), so ``f`` takes no arguments and reads ``x``
    through a closure. Use float64 arrays: in float32 the rounding error of ``f`` swamps the
    difference.

    Args:
        f: a function of no arguments returning a scalar loss that depends on ``x``.
        x: a float64 array, shape (...); it is modified during the call and restored after.
        eps: the step size.

    Returns:
        The estimated gradient, same shape as ``x``.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a NumPy array that f reads (it is perturbed in place); got {type(x)}")
    as_array("x", x)
    if x.dtype != np.float64:
        raise ValueError(f"x must be float64 for a meaningful finite difference; got {x.dtype} "
                         f"with shape {x.shape}")
    if not eps > 0:
        raise ValueError(f"eps must be positive; got {eps}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        f_plus = float(f())
        x[i] = old - eps
        f_minus = float(f())
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a, b) -> float:
    """``max |a - b| / max(|a|, |b|, 1e-12)`` elementwise: scale-free agreement of two gradients."""
    a = as_array("a", a)
    b = as_array("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape; got a {a.shape} and b {b.shape}")
    denom = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)
    return float(np.max(np.abs(a - b) / denom)) if a.size else 0.0
