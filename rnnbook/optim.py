"""Gradient-descent optimizers, written to match ``keras.optimizers`` update for update.

Parameters and gradients are dicts of NumPy arrays with the same keys (``{"W_x": ..., ...}``);
``step`` updates the parameter arrays in place, so a reader's dict stays the model.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array

__all__ = ["SGD", "Adam", "clip_by_norm", "global_norm"]


def _check_number(name: str, value, *, low: float, high: float | None = None,
                  low_inclusive: bool = False) -> float:
    """``value`` as a float, or ``ValueError`` unless it is a real number in the given range.

    NaN fails every comparison, so it is refused explicitly rather than slipping through a
    ``value <= 0`` test; booleans and complex numbers are refused too.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise ValueError(f"{name} must be a real number; got {value!r} ({type(value).__name__})")
    value = float(value)
    above = value >= low if low_inclusive else value > low
    below = True if high is None else value < high
    if not (np.isfinite(value) and above and below):
        if high is not None:
            rule = f"in [{low:g}, {high:g})" if low_inclusive else f"in ({low:g}, {high:g})"
        elif low == 0:
            rule = "non-negative and finite" if low_inclusive else "positive and finite"
        else:
            rule = f"finite and {'>=' if low_inclusive else '>'} {low:g}"
        raise ValueError(f"{name} must be {rule}; got {value!r}")
    return value


def _check_params(params: dict) -> None:
    for key, p in params.items():
        if not isinstance(p, np.ndarray):
            raise TypeError(f"params[{key!r}] must be a NumPy array (updated in place); got {type(p)}")
        if p.dtype.kind != "f":
            raise ValueError(
                f"params[{key!r}] must be a real floating-point array; got dtype {p.dtype} "
                f"with shape {p.shape}"
            )
        if not np.all(np.isfinite(p)):
            raise ValueError(f"params[{key!r}] contains NaN or infinite values (shape {p.shape})")


def _check_grads(params: dict, grads: dict) -> None:
    if set(grads) != set(params):
        raise ValueError(
            f"grads must have the same keys as params; params has {sorted(params)}, "
            f"grads has {sorted(grads)}"
        )
    _check_params(params)
    for key, p in params.items():
        g = as_array(f"grads[{key!r}]", grads[key])
        if g.shape != p.shape:
            raise ValueError(
                f"grads[{key!r}] has shape {g.shape} but params[{key!r}] has shape {p.shape}"
            )


class SGD:
    """Stochastic gradient descent, as ``keras.optimizers.SGD``.

    Without momentum: ``w <- w - lr * g``. With momentum ``mu``:
    ``m <- mu * m - lr * g;  w <- w + m`` (Keras's form; ``m`` starts at zero).
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0):
        self.learning_rate = _check_number("learning_rate", learning_rate, low=0.0)
        self.momentum = _check_number("momentum", momentum, low=0.0, high=1.0, low_inclusive=True)
        self.iterations = 0
        self.velocity: dict = {}

    def step(self, params: dict, grads: dict) -> None:
        """Apply one update to every array in ``params`` (in place)."""
        _check_grads(params, grads)
        for key, p in params.items():
            g = np.asarray(grads[key], dtype=p.dtype)
            if self.momentum:
                m = self.velocity.setdefault(key, np.zeros_like(p))
                m *= self.momentum
                m -= self.learning_rate * g
                p += m
            else:
                p -= self.learning_rate * g
        self.iterations += 1


class Adam:
    """Adam, exactly as ``keras.optimizers.Adam`` (Keras 3) implements it.

    With ``t = iterations + 1`` and per-parameter moments ``m``, ``v`` starting at zero::

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m <- m + (g - m) * (1 - beta_1)
        v <- v + (g**2 - v) * (1 - beta_2)
        w <- w - alpha * m / (sqrt(v) + epsilon)

    The bias corrections are folded into the step size, so ``epsilon`` is added to the
    *uncorrected* ``sqrt(v)``; Algorithm 1 of Kingma & Ba adds it to the corrected one.
    """

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7):
        self.learning_rate = _check_number("learning_rate", learning_rate, low=0.0)
        self.beta_1 = _check_number("beta_1", beta_1, low=0.0, high=1.0, low_inclusive=True)
        self.beta_2 = _check_number("beta_2", beta_2, low=0.0, high=1.0, low_inclusive=True)
        self.epsilon = _check_number("epsilon", epsilon, low=0.0, low_inclusive=True)
        self.iterations = 0
        self.m: dict = {}
        self.v: dict = {}

    def step(self, params: dict, grads: dict) -> None:
        """Apply one Adam update to every array in ``params`` (in place)."""
        _check_grads(params, grads)
        t = self.iterations + 1
        for key, p in params.items():
            dt = p.dtype
            g = np.asarray(grads[key], dtype=dt)
            lr = dt.type(self.learning_rate)
            b1, b2 = dt.type(self.beta_1), dt.type(self.beta_2)
            alpha = lr * np.sqrt(1 - b2 ** dt.type(t)) / (1 - b1 ** dt.type(t))
            m = self.m.setdefault(key, np.zeros_like(p))
            v = self.v.setdefault(key, np.zeros_like(p))
            # Keras forms 1 - beta in Python floats, then casts: (1 - b2) in float32 would differ
            m += (g - m) * dt.type(1 - self.beta_1)
            v += (g * g - v) * dt.type(1 - self.beta_2)
            p -= (m * alpha) / (np.sqrt(v) + dt.type(self.epsilon))
        self.iterations += 1


def global_norm(grads: dict) -> float:
    """The Euclidean norm of all gradient arrays taken together, ``sqrt(sum ||g||^2)``."""
    return float(np.sqrt(sum(float(np.sum(np.square(as_array(f"grads[{k!r}]", g))))
                             for k, g in grads.items())))


def clip_by_norm(grads: dict, max_norm: float) -> dict:
    """Rescale gradients so their global norm is at most ``max_norm``.

    ``g <- g * max_norm / max(||g||, max_norm)`` for every array, with ``||g||`` from
    :func:`global_norm`: the direction is kept and only the length is capped. (Keras's
    ``global_clipnorm`` option does the same.) ``max_norm = inf`` returns the gradients
    unchanged (as copies).

    Returns:
        A new dict; the input arrays are not modified.
    """
    if isinstance(max_norm, (bool, np.bool_)) or not isinstance(
            max_norm, (int, float, np.integer, np.floating)) or not max_norm > 0:
        raise ValueError(f"max_norm must be a positive number (inf: no clipping); got {max_norm!r}")
    norm = global_norm(grads)
    scale = 1.0 if np.isinf(max_norm) else max_norm / max(norm, max_norm)
    return {k: np.asarray(g) * scale for k, g in grads.items()}
