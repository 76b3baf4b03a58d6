"""Diagonal state-space layers as linear recurrences: the LRU and a selective scan (chapter 23).

Both run the diagonal linear recurrence of :mod:`rnnbook.scan`, ``h_t = a_t * h_{t-1} + b_t``,
with the decay ``a_t`` made in two different ways.

**The linear recurrent unit (LRU)** of Orvieto et al. (2023) has a complex diagonal decay that
does not change with time, parametrised so that it is stable for every value of its
parameters. With ``nu`` and ``theta`` of shape (hidden,), ``W_x`` complex (hidden, input),
``W_y`` complex (output, hidden) and ``W_skip`` real (output, input) (the papers' B, C and D)::

    lambda = exp(-exp(nu) + i theta)               |lambda| = exp(-exp(nu)) in (0, 1)
    gamma  = sqrt(1 - |lambda|^2)                  (normalisation, when normalize=True)
    h_t    = lambda * h_{t-1} + gamma * (W_x x_t)  complex states, h_0 = h0 or 0
    y_t    = Re(W_y h_t) + W_skip x_t

**A selective scan** in the manner of Mamba (Gu and Dao, 2023), simplified to one real
diagonal ``A`` per channel and state: for input channels ``d = 1..D`` and ``P`` states per
channel, with ``A`` (D, P) negative, ``W_delta`` (D, D), ``b_delta`` (D,), ``W_beta`` and
``W_omega`` (P, D) (Mamba's B_t and C_t are ``beta_t`` and ``omega_t`` here)::

    delta_t = softplus(W_delta x_t + b_delta)        (D,)  a step size per channel
    beta_t = W_beta x_t,  omega_t = W_omega x_t      (P,)  input-dependent, shared by channels
    h_t[d, p] = exp(delta_t[d] A[d, p]) h_{t-1}[d, p] + delta_t[d] beta_t[p] x_t[d]
    y_t[d] = sum_p omega_t[p] h_t[d, p]

Its decay depends on the input (through ``delta_t``), not on ``h``, so the same scan applies.
In code a batch is stored in rows: ``x`` has shape (batch, time, input).
"""

from __future__ import annotations

import numpy as np

from .scan import METHODS, _scan_parallel, _scan_sequential

__all__ = ["lru_lambda", "lru_init", "lru_forward", "selective_scan"]

_KERNELS = {"sequential": _scan_sequential, "parallel": _scan_parallel}


def _real(name: str, value, ndim: int, meaning: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise ValueError(f"{name} must be a real floating-point array {meaning}; got dtype "
                         f"{arr.dtype} with shape {arr.shape}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension{'s' * (ndim != 1)} {meaning}; "
                         f"got shape {arr.shape}")
    return arr


def _shape(name: str, arr: np.ndarray, expected: tuple, meaning: str) -> None:
    if arr.shape != expected:
        raise ValueError(f"{name} must have shape {meaning} = {expected}; got {arr.shape}")


def _method(method) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")


def lru_lambda(nu, theta) -> np.ndarray:
    """The LRU's decays ``lambda = exp(-exp(nu) + i theta)``, complex, shape of ``nu``.

    Whatever real ``nu`` and ``theta`` are, ``|lambda| = exp(-exp(nu))`` lies strictly between
    0 and 1, so the recurrence cannot blow up during training.
    """
    nu = np.asarray(nu)
    theta = np.asarray(theta)
    if nu.dtype.kind != "f" or theta.dtype.kind != "f" or nu.shape != theta.shape:
        raise ValueError(f"nu and theta must be real floating-point arrays of one shape; got "
                         f"nu {nu.dtype} {nu.shape} and theta {theta.dtype} {theta.shape}")
    return np.exp(-np.exp(nu) + 1j * theta)


def lru_init(hidden: int, rng: np.random.Generator, r_min: float = 0.9, r_max: float = 0.999,
             max_phase: float = 2 * np.pi) -> tuple[np.ndarray, np.ndarray]:
    """``(nu, theta)`` of shape (hidden,) with decays uniform on a ring of the complex plane.

    Orvieto et al.'s initialisation: ``|lambda|^2`` uniform on ``[r_min^2, r_max^2]`` (so the
    decays are spread uniformly over the ring's area) and the phase uniform on
    ``[0, max_phase]``; then ``nu = log(-log |lambda|)``.
    """
    if not (isinstance(hidden, (int, np.integer)) and hidden > 0):
        raise ValueError(f"hidden must be a positive integer; got {hidden!r}")
    if not 0 < r_min <= r_max < 1:
        raise ValueError(f"need 0 < r_min <= r_max < 1; got r_min={r_min}, r_max={r_max}")
    radius = np.sqrt(rng.uniform(r_min ** 2, r_max ** 2, size=hidden))
    theta = rng.uniform(0.0, max_phase, size=hidden)
    return np.log(-np.log(radius)), theta


def lru_forward(x, nu, theta, W_x, W_y, W_skip, h0=None, *, normalize: bool = True,
                method: str = "parallel", return_states: bool = False):
    """The LRU's outputs ``y_t = Re(W_y h_t) + W_skip x_t`` (see the module docstring).

    Args:
        x: (batch, time, input) real inputs, float32 or float64.
        nu, theta: (hidden,) real: the decays are ``exp(-exp(nu) + i theta)``.
        W_x: (hidden, input) complex input matrix.
        W_y: (output, hidden) complex output matrix.
        W_skip: (output, input) real skip matrix.
        h0: (batch, hidden) complex initial state, or None for zeros.
        normalize: multiply ``W_x x_t`` by ``gamma = sqrt(1 - |lambda|^2)``.
        method: ``"parallel"`` or ``"sequential"`` (see :func:`rnnbook.scan.linear_scan`).
        return_states: also return the complex states.

    Returns:
        y: (batch, time, output) in the dtype of ``x``; with ``return_states``, ``(y, h)`` and
        h (batch, time, hidden) complex64 (float32 ``x``) or complex128.
    """
    _method(method)
    x = _real("x", x, 3, "(batch, time, input)")
    nu = _real("nu", nu, 1, "(hidden,)")
    theta = _real("theta", theta, 1, "(hidden,)")
    batch, _, inputs = x.shape
    hidden = nu.shape[0]
    _shape("theta", theta, (hidden,), "(hidden,) like nu")
    W_x, W_y = np.asarray(W_x), np.asarray(W_y)
    for name, arr in (("W_x", W_x), ("W_y", W_y)):
        if arr.dtype.kind not in "fc":
            raise ValueError(f"{name} must be a complex (or real) floating-point array; got "
                             f"dtype {arr.dtype} with shape {arr.shape}")
    _shape("W_x", W_x, (hidden, inputs), "(hidden, input)")
    if W_y.ndim != 2 or W_y.shape[1] != hidden:
        raise ValueError(f"W_y must have shape (output, hidden) with hidden = {hidden}; "
                         f"got {W_y.shape}")
    W_skip = _real("W_skip", W_skip, 2, "(output, input)")
    _shape("W_skip", W_skip, (W_y.shape[0], inputs), "(output, input)")
    ctype = np.complex64 if x.dtype == np.float32 else np.complex128
    if h0 is not None:
        h0 = np.asarray(h0)
        _shape("h0", h0, (batch, hidden), "(batch, hidden)")
        h0 = h0.astype(ctype)
    lam = lru_lambda(nu, theta).astype(ctype)
    u = x.astype(ctype) @ W_x.astype(ctype).T                               # (batch, T, H)
    if normalize:
        u *= np.sqrt(1 - np.abs(lam) ** 2).astype(ctype)
    a = np.broadcast_to(lam, u.shape)
    h = _KERNELS[method](a, u, h0)
    y = (h @ W_y.astype(ctype).T).real.astype(x.dtype) + x @ W_skip.astype(x.dtype).T
    return (y, h) if return_states else y


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0, z)


def selective_scan(x, A, W_delta, b_delta, W_beta, W_omega, h0=None, *, method: str = "parallel",
                   return_states: bool = False):
    """A Mamba-style selective scan with input-dependent step sizes (module docstring).

    Args:
        x: (batch, time, channels) real inputs.
        A: (channels, states) negative reals: the continuous-time decay rates.
        W_delta: (channels, channels), b_delta: (channels,): the step-size projection.
        W_beta, W_omega: (states, channels): the input and output projections.
        h0: (batch, channels, states) initial state, or None for zeros.
        method: ``"parallel"`` or ``"sequential"``.
        return_states: also return ``h`` of shape (batch, time, channels, states).

    Returns:
        y: (batch, time, channels) in the dtype of ``x`` (and ``h`` with ``return_states``).
    """
    _method(method)
    x = _real("x", x, 3, "(batch, time, channels)")
    batch, _, channels = x.shape
    A = _real("A", A, 2, "(channels, states)")
    states = A.shape[1]
    _shape("A", A, (channels, states), "(channels, states)")
    if np.any(A >= 0):
        raise ValueError(f"A must be negative (decay rates); got a largest entry of "
                         f"{A.max():.3g} in A of shape {A.shape}")
    W_delta = _real("W_delta", W_delta, 2, "(channels, channels)")
    _shape("W_delta", W_delta, (channels, channels), "(channels, channels)")
    b_delta = _real("b_delta", b_delta, 1, "(channels,)")
    _shape("b_delta", b_delta, (channels,), "(channels,)")
    W_beta = _real("W_beta", W_beta, 2, "(states, channels)")
    _shape("W_beta", W_beta, (states, channels), "(states, channels)")
    W_omega = _real("W_omega", W_omega, 2, "(states, channels)")
    _shape("W_omega", W_omega, (states, channels), "(states, channels)")
    if h0 is not None:
        h0 = _real("h0", h0, 3, "(batch, channels, states)")
        _shape("h0", h0, (batch, channels, states), "(batch, channels, states)")
    dtype = x.dtype
    A, W_delta, b_delta, W_beta, W_omega = (p.astype(dtype)
                                            for p in (A, W_delta, b_delta, W_beta, W_omega))
    delta = _softplus(x @ W_delta.T + b_delta)                        # (batch, T, channels)
    beta = x @ W_beta.T                                               # (batch, T, states)
    omega = x @ W_omega.T
    a = np.exp(delta[..., None] * A)                                  # (batch, T, ch, states)
    b = (delta * x)[..., None] * beta[:, :, None, :]
    h = _KERNELS[method](a, b, None if h0 is None else h0.astype(dtype))
    y = np.einsum("btcp,btp->btc", h, omega)
    return (y, h) if return_states else y
