"""minGRU and minLSTM: gated cells whose gates do not read the state (Feng et al., 2024).

Take the GRU and the LSTM and let the gates and the candidate see only the input ``x_t``, not
``h_{t-1}``; drop the ``tanh`` of the candidate. With column vectors, ``sigma`` the logistic
sigmoid and ``*`` the elementwise product, every weight matrix of shape (hidden, input)::

    minGRU                                  minLSTM
    z_t  = sigma(W_z x_t + b_z)             f_t  = sigma(W_f x_t + b_f)
    h~_t = W_h x_t + b_h                    i_t  = sigma(W_i x_t + b_i)
    h_t  = (1 - z_t) * h_{t-1} + z_t * h~_t f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)
                                            h~_t = W_h x_t + b_h
                                            h_t  = f'_t * h_{t-1} + i'_t * h~_t

(``z_t`` here weighs the *new* candidate, as in Feng et al.; Keras's GRU lets ``z_t`` keep the
old state.) Nothing on the right depends on ``h_{t-1}`` except through one elementwise product,
so both layers are the linear recurrence ``h_t = a_t * h_{t-1} + b_t`` of
:func:`rnnbook.scan.linear_scan`, with

    minGRU:   a_t = 1 - z_t,  b_t = z_t * h~_t;      minLSTM:  a_t = f'_t,  b_t = i'_t * h~_t,

and the whole forward pass is two (or three) matrix products followed by one scan. The backward
pass is a scan too, run from the last step to the first: with ``dH[:, t] = dL/d(output_t)`` the
full gradient ``g_t = dL/dh_t`` obeys ``g_t = dH_t + a_{t+1} * g_{t+1}``, and then
``dL/da_t = g_t * h_{t-1}``, ``dL/db_t = g_t``, ``dL/dh_0 = a_1 * g_1``.

Shapes: ``x`` (batch, time, input), ``h0`` (batch, hidden) or None for zeros, outputs
(batch, time, hidden). float32 in, float32 out; any float64 argument makes the result float64.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array, check_dim, check_rank, check_shape_matches, result_dtype
from ._recurrence import sigmoid_
from .scan import METHODS, _KERNELS, _scan_backward

__all__ = ["mingru_forward", "mingru_backward", "minlstm_forward", "minlstm_backward",
           "mingru_param_count", "minlstm_param_count"]


# ----------------------------------------------------------------------------------------------
# Checks (once, at the entry)
# ----------------------------------------------------------------------------------------------
def _check(x, weights: dict, biases: dict, h0, method: str):
    """Validate ``x``, the (hidden, input) weights, the (hidden,) biases and ``h0``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    first = next(iter(weights))
    checked = {}
    for name, W in weights.items():
        W = as_array(name, W)
        check_rank(name, W, 2, "(hidden, input)")
        if name != first:
            check_shape_matches(name, W, checked[first].shape, "(hidden, input)", first,
                                checked[first].shape)
        checked[name] = W
    hidden, inputs = checked[first].shape
    for name, b in biases.items():
        b = as_array(name, b)
        check_rank(name, b, 1, "(hidden,)")
        check_shape_matches(name, b, (hidden,), "(hidden,)", first, checked[first].shape)
        checked[name] = b
    x = as_array("x", x)
    check_rank("x", x, 3, "(batch, time, input)")
    check_dim("x", x.shape[2], inputs,
              f"input size of x {x.shape} must equal {first}.shape[1] for {first} "
              f"{checked[first].shape}")
    if x.shape[1] == 0:
        raise ValueError(f"x must contain at least one time step; got shape {x.shape}")
    if h0 is not None:
        h0 = as_array("h0", h0)
        if h0.shape != (x.shape[0], hidden):
            raise ValueError(f"h0 must have shape (batch, hidden) = ({x.shape[0]}, {hidden}) "
                             f"to match x {x.shape} and {first} {checked[first].shape}; "
                             f"got {h0.shape}")
    dtype = result_dtype(x, *checked.values(), *([h0] if h0 is not None else []))
    checked = {k: v.astype(dtype, copy=False) for k, v in checked.items()}
    x = x.astype(dtype, copy=False)
    h0 = None if h0 is None else h0.astype(dtype, copy=False)
    return x, checked, h0, dtype


def _check_dH(dH, shape: tuple):
    dH = as_array("dH", dH, finite=False)
    if dH.shape != shape:
        raise ValueError(f"dH must have shape (batch, time, hidden) = {shape}; got {dH.shape}")
    return dH


# ----------------------------------------------------------------------------------------------
# Unchecked kernels
# ----------------------------------------------------------------------------------------------
def _project(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``W x_t + b`` for every step and sequence: (batch, time, hidden)."""
    return x @ W.T + b


def _mingru_coefficients(x, p):
    z = sigmoid_(_project(x, p["W_z"], p["b_z"]))
    candidate = _project(x, p["W_h"], p["b_h"])
    return z, candidate


def _minlstm_coefficients(x, p):
    f = sigmoid_(_project(x, p["W_f"], p["b_f"]))
    i = sigmoid_(_project(x, p["W_i"], p["b_i"]))
    total = f + i
    candidate = _project(x, p["W_h"], p["b_h"])
    return f, i, total, candidate


def _sum_grads(x, da: dict) -> dict:
    """``dW = sum over batch and time of da_t^T x_t`` and ``db = sum da_t``, per pre-activation."""
    flat_x = x.reshape(-1, x.shape[-1])
    out = {}
    for name, d in da.items():
        flat = d.reshape(-1, d.shape[-1])
        out["W_" + name] = flat.T @ flat_x
        out["b_" + name] = flat.sum(axis=0)
    return out


# ----------------------------------------------------------------------------------------------
# minGRU
# ----------------------------------------------------------------------------------------------
def mingru_forward(x, W_z, b_z, W_h, b_h, h0=None, method: str = "parallel") -> np.ndarray:
    """The minGRU over whole sequences: ``h_t = (1 - z_t) * h_{t-1} + z_t * h~_t``.

    ``z_t = sigma(W_z x_t + b_z)`` and ``h~_t = W_h x_t + b_h`` depend on the input only, so all
    steps' gates and candidates are two matrix products, and the states are one
    :func:`~rnnbook.scan.linear_scan` with ``a_t = 1 - z_t`` and ``b_t = z_t * h~_t``.

    Args:
        x: input sequences, shape (batch, time, input).
        W_z, W_h: update-gate and candidate weights, shape (hidden, input) each.
        b_z, b_h: their biases, shape (hidden,) each.
        h0: initial states, shape (batch, hidden), or None for zeros.
        method: ``"parallel"`` (the associative scan) or ``"sequential"`` (the loop over time);
            both give the same states up to rounding.

    Returns:
        The states ``h_1 .. h_T``, shape (batch, time, hidden); float32 when every input is
        float32, float64 otherwise.
    """
    x, p, h0, _ = _check(x, {"W_z": W_z, "W_h": W_h}, {"b_z": b_z, "b_h": b_h}, h0, method)
    z, candidate = _mingru_coefficients(x, p)
    return _KERNELS[method](1.0 - z, z * candidate, h0)


def mingru_backward(x, W_z, b_z, W_h, b_h, dH, h0=None, method: str = "parallel") -> dict:
    """Gradients of a loss ``L`` through :func:`mingru_forward`.

    With ``g_t = dL/dh_t`` from the reverse scan ``g_t = dH_t + (1 - z_{t+1}) * g_{t+1}``::

        dz_t  = g_t * (h~_t - h_{t-1})              (h_t = h_{t-1} + z_t * (h~_t - h_{t-1}))
        da_z  = dz_t * z_t * (1 - z_t)              (pre-activation of z_t)
        dh~_t = g_t * z_t                           (pre-activation of h~_t: no tanh)
        dW_z = sum_t da_z^T x_t,   db_z = sum_t da_z,   likewise dW_h, db_h from dh~_t
        dx_t = da_z W_z + dh~_t W_h,                dh_0 = (1 - z_1) * g_1

    Args:
        x, W_z, b_z, W_h, b_h, h0, method: as for :func:`mingru_forward`.
        dH: ``dL/d(output_t)``, shape (batch, time, hidden).

    Returns:
        A dict with ``W_z``, ``W_h`` (hidden, input), ``b_z``, ``b_h`` (hidden,), ``x``
        (batch, time, input) and ``h0`` (batch, hidden) (the gradient on the zero state when
        ``h0`` is None).
    """
    x, p, h0, dtype = _check(x, {"W_z": W_z, "W_h": W_h}, {"b_z": b_z, "b_h": b_h}, h0, method)
    dH = _check_dH(dH, x.shape[:2] + (p["W_z"].shape[0],))
    dtype = result_dtype(dtype, dH)
    x, dH = x.astype(dtype, copy=False), dH.astype(dtype, copy=False)
    p = {k: v.astype(dtype, copy=False) for k, v in p.items()}
    h0 = None if h0 is None else h0.astype(dtype, copy=False)
    z, candidate = _mingru_coefficients(x, p)
    a = 1.0 - z
    kernel = _KERNELS[method]
    scan = _scan_backward(a, kernel(a, z * candidate, h0), dH, h0, kernel)
    g = scan["b"]                                       # g_t = dL/dh_t = dL/db_t
    da_z = (g * candidate - scan["a"]) * z * a          # dz = db * h~ - da, da = g * h_{t-1}
    dcandidate = g * z
    out = _sum_grads(x, {"z": da_z, "h": dcandidate})
    out["x"] = da_z @ p["W_z"] + dcandidate @ p["W_h"]
    out["h0"] = scan["h0"]
    return out


# ----------------------------------------------------------------------------------------------
# minLSTM
# ----------------------------------------------------------------------------------------------
def minlstm_forward(x, W_f, b_f, W_i, b_i, W_h, b_h, h0=None,
                    method: str = "parallel") -> np.ndarray:
    """The minLSTM over whole sequences: ``h_t = f'_t * h_{t-1} + i'_t * h~_t``.

    ``f_t = sigma(W_f x_t + b_f)``, ``i_t = sigma(W_i x_t + b_i)``, normalised to
    ``f'_t = f_t / (f_t + i_t)`` and ``i'_t = i_t / (f_t + i_t)`` (so ``f'_t + i'_t = 1``), and
    ``h~_t = W_h x_t + b_h``. The states are one :func:`~rnnbook.scan.linear_scan` with
    ``a_t = f'_t`` and ``b_t = i'_t * h~_t``.

    Args:
        x: input sequences, shape (batch, time, input).
        W_f, W_i, W_h: forget-gate, input-gate and candidate weights, (hidden, input) each.
        b_f, b_i, b_h: their biases, shape (hidden,) each.
        h0, method: as for :func:`mingru_forward`.

    Returns:
        The states, shape (batch, time, hidden), float32 when every input is float32.
    """
    x, p, h0, _ = _check(x, {"W_f": W_f, "W_i": W_i, "W_h": W_h},
                         {"b_f": b_f, "b_i": b_i, "b_h": b_h}, h0, method)
    f, i, total, candidate = _minlstm_coefficients(x, p)
    return _KERNELS[method](f / total, i / total * candidate, h0)


def minlstm_backward(x, W_f, b_f, W_i, b_i, W_h, b_h, dH, h0=None,
                     method: str = "parallel") -> dict:
    """Gradients of a loss ``L`` through :func:`minlstm_forward`.

    With ``s_t = f_t + i_t`` and ``g_t = dL/dh_t`` from the reverse scan
    ``g_t = dH_t + f'_{t+1} * g_{t+1}``::

        df'_t = g_t * h_{t-1},    di'_t = g_t * h~_t,    dh~_t = g_t * i'_t
        df_t  = (df'_t - di'_t) * i_t / s_t**2       (f' = f/s, i' = i/s: d f'/df = i/s^2,
        di_t  = (di'_t - df'_t) * f_t / s_t**2        d f'/di = -f/s^2, and i' = 1 - f')
        da_f  = df_t * f_t (1 - f_t),   da_i = di_t * i_t (1 - i_t)
        dW_* = sum_t da_*^T x_t,   db_* = sum_t da_*,   dx_t = da_f W_f + da_i W_i + dh~_t W_h
        dh_0 = f'_1 * g_1

    Args:
        x, W_f, b_f, W_i, b_i, W_h, b_h, h0, method: as for :func:`minlstm_forward`.
        dH: ``dL/d(output_t)``, shape (batch, time, hidden).

    Returns:
        A dict with ``W_f``, ``W_i``, ``W_h`` (hidden, input), ``b_f``, ``b_i``, ``b_h``
        (hidden,), ``x`` (batch, time, input) and ``h0`` (batch, hidden).
    """
    x, p, h0, dtype = _check(x, {"W_f": W_f, "W_i": W_i, "W_h": W_h},
                             {"b_f": b_f, "b_i": b_i, "b_h": b_h}, h0, method)
    dH = _check_dH(dH, x.shape[:2] + (p["W_f"].shape[0],))
    dtype = result_dtype(dtype, dH)
    x, dH = x.astype(dtype, copy=False), dH.astype(dtype, copy=False)
    p = {k: v.astype(dtype, copy=False) for k, v in p.items()}
    h0 = None if h0 is None else h0.astype(dtype, copy=False)
    f, i, total, candidate = _minlstm_coefficients(x, p)
    a, w = f / total, i / total
    kernel = _KERNELS[method]
    scan = _scan_backward(a, kernel(a, w * candidate, h0), dH, h0, kernel)
    g = scan["b"]                                       # g_t = dL/dh_t
    d_difference = (scan["a"] - g * candidate) / (total * total)    # (df' - di') / s^2
    da_f = d_difference * i * f * (1.0 - f)
    da_i = -d_difference * f * i * (1.0 - i)
    dcandidate = g * w
    out = _sum_grads(x, {"f": da_f, "i": da_i, "h": dcandidate})
    out["x"] = da_f @ p["W_f"] + da_i @ p["W_i"] + dcandidate @ p["W_h"]
    out["h0"] = scan["h0"]
    return out


# ----------------------------------------------------------------------------------------------
# Parameter counts
# ----------------------------------------------------------------------------------------------
def mingru_param_count(inputs: int, hidden: int) -> int:
    """Parameters of a minGRU layer: ``W_z, W_h`` (H x D) and ``b_z, b_h`` (H): 2H(D + 1)."""
    return 2 * hidden * (inputs + 1)


def minlstm_param_count(inputs: int, hidden: int) -> int:
    """Parameters of a minLSTM layer: three (H x D) weights and three (H,) biases: 3H(D + 1)."""
    return 3 * hidden * (inputs + 1)
