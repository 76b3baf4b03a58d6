"""Paired comparisons over seeds: the mean difference and its t-interval.

Two models trained from the same seeds give paired scores ``a_s`` and ``b_s``. Their differences
``Δ_s = a_s - b_s`` (s = 1..n) have mean ``Δ̂`` and sample standard deviation ``ς``; the
two-sided t-interval at confidence ``level`` is ::

    Δ̂ ± t_{(1 + level)/2, n - 1} · ς / sqrt(n)

An interval that excludes zero is what the book means when it ranks the two models.
"""

from __future__ import annotations

import numpy as np

__all__ = ["paired_t_interval"]


def paired_t_interval(a, b, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired seeds and its t-interval: ``(mean, low, high)``.

    Args:
        a, b: 1-d arrays of the same length n >= 2, one score per seed.
        level: the interval's confidence, in (0, 1).
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size < 2:
        raise ValueError(f"a and b must be 1-d arrays of the same length (at least 2 seeds); "
                         f"got shapes {a.shape} and {b.shape}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1); got {level!r}")
    d = a - b
    half = stats.t.ppf((1 + level) / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half
