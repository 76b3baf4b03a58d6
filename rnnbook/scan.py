"""The diagonal linear recurrence and its parallel scan (chapter 21, ch-linear-recurrences).

With ``*`` the elementwise product, every array of shape (batch, time, hidden)::

    h_t = a_t * h_{t-1} + b_t,        t = 0, ..., T-1,    h_{-1} = h0 (or 0)

Because ``h`` enters linearly, one step is the affine map ``h -> a h + b``, and composing two
such maps is again one: applying ``(a_1, b_1)`` and then ``(a_2, b_2)`` gives::

    (a_2, b_2) o (a_1, b_1) = (a_2 a_1,  a_2 b_1 + b_2)

an associative operator. So the states are the prefix "sums" of the pairs ``(a_t, b_t)`` under
``o``, and any parallel prefix-sum (scan) algorithm computes them. :func:`linear_scan` offers the
time loop (``method="sequential"``) and a work-efficient scan of depth about ``2 log2 T``
(``method="parallel"``, Blelloch 1990's up-sweep/down-sweep written as a recursion): pair
neighbouring steps, scan the half-length sequence of pairs, then fill in the steps between. Each
level is one vectorised NumPy expression over the time axis. ``h0`` folds into the first step:
``b_0 <- b_0 + a_0 h0``.

:func:`linear_scan_backward` returns the gradients. With ``dh_t = dL/dh_t`` given for every step
(the direct part only), the total gradient ``db_t = dL/db_t = dL/dh_t`` obeys a linear recurrence
backwards in time, so it is a reverse scan of the same kind::

    db_t = dh_t + a_{t+1} * db_{t+1},    db_{T-1} = dh_{T-1}
    da_t = db_t * h_{t-1},               dh0 = a_0 * db_0

The public functions validate once; the private kernels ``_scan_sequential`` and
``_scan_parallel`` take ``(a, b)`` already checked (any shape with time on axis 1; real or complex)
and are what other modules (``rnnbook.mingru``, ``rnnbook.lru``) call in their inner loops.
"""

from __future__ import annotations

import numpy as np

__all__ = ["linear_scan", "linear_scan_backward", "scan_combine", "METHODS"]

#: The values :func:`linear_scan`'s ``method`` accepts.
METHODS = ("sequential", "parallel")


def scan_combine(earlier, later):
    """The associative operator: ``(a_2, b_2) o (a_1, b_1) = (a_2 a_1, a_2 b_1 + b_2)``.

    ``earlier = (a_1, b_1)`` is applied first, ``later = (a_2, b_2)`` second (the argument order
    of ``keras.ops.associative_scan``'s and ``jax.lax.associative_scan``'s ``fn``). Works on any
    broadcastable arrays, NumPy or backend tensors.
    """
    a1, b1 = earlier
    a2, b2 = later
    return a2 * a1, a2 * b1 + b2


def _fold_h0(a: np.ndarray, b: np.ndarray, h0) -> np.ndarray:
    """``b`` with ``b_0 + a_0 h0`` as its first step (a new array when ``h0`` is given)."""
    if h0 is None:
        return b
    b = b.copy()
    b[:, 0] += a[:, 0] * h0
    return b


def _scan_sequential(a: np.ndarray, b: np.ndarray, h0=None) -> np.ndarray:
    """The time loop ``h_t = a_t h_{t-1} + b_t`` over axis 1 (unchecked; any trailing shape).

    float64 and complex128 run in extended precision (:func:`_in_extended_precision`)."""
    return _in_extended_precision(_loop, a, b, h0)


def _loop(a: np.ndarray, b: np.ndarray, h0=None) -> np.ndarray:
    h = np.empty(np.broadcast_shapes(a.shape, b.shape), np.result_type(a, b))
    prev = np.zeros_like(h[:, 0]) if h0 is None else h0
    for t in range(h.shape[1]):
        prev = h[:, t] = a[:, t] * prev + b[:, t]
    return h


def _scan_parallel(a: np.ndarray, b: np.ndarray, h0=None) -> np.ndarray:
    """The same states by a work-efficient parallel scan over axis 1 (unchecked).

    Depth about ``2 log2 T`` vectorised steps, about ``2 T`` applications of the operator.
    float64 and complex128 run in extended precision (:func:`_in_extended_precision`).
    """
    return _in_extended_precision(lambda a, b, h0: _scan_pairs(a, _fold_h0(a, b, h0)),
                                  a, b, h0)


def _scan_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """States of ``h_t = a_t h_{t-1} + b_t`` with ``h_{-1} = 0``, by recursive pairing."""
    time = a.shape[1]
    if time == 1:
        return b.copy()
    n = time // 2
    a_even, a_odd = a[:, 0:2 * n:2], a[:, 1:2 * n:2]
    # up: the pair (step 2k, step 2k+1) is one map (a_{2k+1} a_{2k}, a_{2k+1} b_{2k} + b_{2k+1})
    h_odd = _scan_pairs(a_odd * a_even, a_odd * b[:, 0:2 * n:2] + b[:, 1:2 * n:2])
    h = np.empty(np.broadcast_shapes(a.shape, b.shape), np.result_type(a, b))
    h[:, 1::2] = h_odd                                   # states 1, 3, 5, ... come back whole
    h[:, 0] = b[:, 0]
    # down: each even step 2k >= 2 is one more step from the odd state before it
    h[:, 2::2] = a[:, 2::2] * h_odd[:, :(time - 1) // 2] + b[:, 2::2]
    return h


_KERNELS = {"sequential": _scan_sequential, "parallel": _scan_parallel}


def _in_extended_precision(kernel, *arrays):
    """Run ``kernel`` on float64 (complex128) arrays in the platform's extended precision.

    The loop and the parallel scan add the same terms in different orders, so in float64 they
    round differently; where a state nearly cancels to zero (``|h_t|`` far below the terms that
    make it up) their difference, relative to ``h_t`` itself, reaches 1e-11. Run with
    ``np.longdouble`` (64-bit mantissa on x86-64) and rounded once at the end, both give ``h_t``
    to within a unit in the last place of float64, so the two methods agree entry by entry. On
    platforms whose ``longdouble`` is float64 this changes nothing. float32 inputs run as they
    are (their results agree to float32 rounding, far inside any float32 tolerance).
    """
    dtype = np.result_type(*[x for x in arrays if x is not None])
    if dtype not in (np.float64, np.complex128) or np.finfo(np.longdouble).eps >= np.finfo(
            np.float64).eps:
        return kernel(*arrays)
    wide = np.longdouble if dtype == np.float64 else np.clongdouble
    return kernel(*[None if x is None else x.astype(wide) for x in arrays]).astype(dtype)


def _check_floating(name: str, arr: np.ndarray, *, allow_complex: bool) -> None:
    kinds = "fc" if allow_complex else "f"
    if arr.dtype.kind not in kinds:
        wanted = "a floating-point or complex" if allow_complex else "a real floating-point"
        raise ValueError(f"{name} must be {wanted} array; got dtype {arr.dtype} "
                         f"with shape {arr.shape}")


def _check_method(method) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")


def _check_scan_arguments(names: tuple, arrays: tuple, h0, *, allow_complex: bool):
    """Check arrays of one shape (batch, time, hidden) and one dtype; return them and ``h0``."""
    arrays = tuple(np.asarray(x) for x in arrays)
    first_name, first = names[0], arrays[0]
    for name, arr in zip(names, arrays):
        _check_floating(name, arr, allow_complex=allow_complex)
        if arr.ndim != 3:
            raise ValueError(f"{name} must have 3 dimensions (batch, time, hidden); "
                             f"got shape {arr.shape}")
        if arr.shape != first.shape:
            raise ValueError(f"{name} must have the shape of {first_name}, (batch, time, hidden)"
                             f" = {first.shape}; got {name} of shape {arr.shape}")
        if arr.dtype != first.dtype:
            raise ValueError(f"{name} and {first_name} must have one dtype; got {name} "
                             f"{arr.dtype} and {first_name} {first.dtype} (shapes {arr.shape})")
    if first.shape[1] == 0:
        raise ValueError(f"{first_name} must have at least one time step; got shape "
                         f"{first.shape}")
    if h0 is not None:
        h0 = np.asarray(h0)
        _check_floating("h0", h0, allow_complex=allow_complex)
        expected = (first.shape[0], first.shape[2])
        if h0.shape != expected:
            raise ValueError(f"h0 must have shape (batch, hidden) = {expected} to match "
                             f"{first_name} of shape {first.shape}; got h0 of shape {h0.shape}")
        if h0.dtype != first.dtype:
            raise ValueError(f"h0 must have the dtype of {first_name} ({first.dtype}); "
                             f"got h0 {h0.dtype} with shape {h0.shape}")
    return arrays, h0


def linear_scan(a, b, h0=None, method: str = "parallel") -> np.ndarray:
    """The states of the diagonal linear recurrence ``h_t = a_t * h_{t-1} + b_t``.

    Args:
        a: (batch, time, hidden) the decay (or transition) of every unit at every step.
        b: (batch, time, hidden) the input added at every step; same dtype as ``a``.
        h0: (batch, hidden) the state before the first step, or None for zeros.
        method: ``"parallel"`` (the work-efficient scan, depth about 2 log2 T) or
            ``"sequential"`` (the time loop).

    Returns:
        h: (batch, time, hidden) in the dtype of the inputs (float32, float64, complex64 or
        complex128; complex is for chapter 23's LRU). float64 and complex128 inputs are run in
        extended precision and rounded once, so that both methods agree entry by entry to about
        1e-16 relative even where a state nearly cancels.

    Raises:
        ValueError: ``a`` and ``b`` not of one shape with 3 dimensions or not of one floating
            dtype, ``h0`` not (batch, hidden) of that dtype, or an unknown ``method``.
    """
    _check_method(method)
    (a, b), h0 = _check_scan_arguments(("a", "b"), (a, b), h0, allow_complex=True)
    return _KERNELS[method](a, b, h0)


def _scan_backward(a: np.ndarray, h: np.ndarray, dh: np.ndarray, h0=None,
                   kernel=_scan_parallel) -> dict:
    """Unchecked gradients of :func:`linear_scan` (see the module docstring)."""
    # db_t = a_{t+1} db_{t+1} + dh_t is a forward scan of the time-reversed sequences whose
    # decay at reversed step s is a_{T-s}, i.e. a shifted by one step (the last one never used).
    a_next = np.zeros_like(a)
    a_next[:, :-1] = a[:, 1:]
    db = kernel(a_next[:, ::-1], dh[:, ::-1])[:, ::-1]
    h_prev = np.empty_like(h)
    h_prev[:, 1:] = h[:, :-1]
    h_prev[:, 0] = 0 if h0 is None else h0
    grads = {"a": db * h_prev, "b": np.ascontiguousarray(db)}
    grads["h0"] = a[:, 0] * db[:, 0]
    return grads


def linear_scan_backward(a, h, dh, h0=None, method: str = "parallel") -> dict:
    """Gradients of a loss ``L`` through ``h = linear_scan(a, b, h0)``, by a reverse scan.

    With ``dh_t = dL/dh_t`` the gradient that reaches each state from outside the recurrence::

        db_t = dh_t + a_{t+1} * db_{t+1}     (db_{T-1} = dh_{T-1})
        da_t = db_t * h_{t-1}                (h_{-1} = h0, or 0)
        dh0  = a_0 * db_0

    Args:
        a: (batch, time, hidden) the decays used in the forward pass (real floating point).
        h: (batch, time, hidden) the states it returned.
        dh: (batch, time, hidden) ``dL/dh``.
        h0: (batch, hidden) the initial state used, or None for zeros.
        method: ``"parallel"`` or ``"sequential"``, the scan used for ``db``.

    Returns:
        ``{"a": dL/da, "b": dL/db, "h0": dL/dh0}``, shapes of ``a``, ``a`` and (batch, hidden)
        (``"h0"`` is returned for ``h0=None`` too: the gradient with respect to a zero start).

    Raises:
        ValueError: as :func:`linear_scan`, for ``a``, ``h``, ``dh`` and ``h0`` (real only).
    """
    _check_method(method)
    (a, h, dh), h0 = _check_scan_arguments(("a", "h", "dh"), (a, h, dh), h0,
                                           allow_complex=False)
    return _scan_backward(a, h, dh, h0, _KERNELS[method])
