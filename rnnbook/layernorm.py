"""Layer normalization, alone and inside an LSTM cell: forward passes and their gradients.

**Layer normalization** (Ba, Kiros and Hinton, 2016) rescales each row of a batch by its own
mean and standard deviation over the feature axis, then applies a learned gain and bias. For one
row ``v`` of N features (``epsilon`` as in ``keras.layers.LayerNormalization``, 1e-3 by default)::

    mu = mean(v),   s = sqrt(mean((v - mu)**2) + epsilon),   v^ = (v - mu) / s
    LN(v; gamma, beta) = gamma * v^ + beta

**The layer-normalized LSTM** of Ba et al. (2016) normalizes the input product and the recurrent
product separately, each over all 4H gate pre-activations together, and normalizes the cell state
before its tanh; the carried cell state itself is not normalized. With column vectors::

    a_t = LN(W_x x_t; gamma_x) + LN(W_h h_{t-1}; gamma_h) + b          (4H,), blocks i, f, c, o
    i_t = sigma(a_i),  f_t = sigma(a_f),  c~_t = tanh(a_c),  o_t = sigma(a_o)
    c_t = f_t * c_{t-1} + i_t * c~_t
    h_t = o_t * tanh(LN(c_t; gamma_c, beta_c))

The two normalizations of the products have gains but no bias of their own (``b`` is the one
bias of the gates; a bias in each would only add to it), so the parameters are ``W_x`` (4H, D),
``W_h`` (4H, H), ``b`` (4H,), ``gamma_x`` and ``gamma_h`` (4H,), ``gamma_c`` and ``beta_c``
(H,). The gate blocks are in Keras's LSTM order **i, f, c, o**. In Keras this is
:class:`rnnbook.keras_cells.LayerNormLSTMCell` inside ``keras.layers.RNN``, with
``LayerNormalization(center=False)`` for the two products and ``LayerNormalization()`` for the
cell state.

Code keeps a batch in rows, ``x`` of shape (batch, time, input). The time loop, masks and
``go_backwards`` are those of SimpleRNN, LSTM and GRU (``rnnbook._recurrence``).
"""

from __future__ import annotations

import numpy as np

from . import _recurrence as rec
from ._checks import as_array, check_rank, check_shape_matches, result_dtype

__all__ = ["layer_norm", "layer_norm_backward", "layernorm_lstm_forward",
           "layernorm_lstm_backward", "LAYERNORM_EPSILON"]

#: ``keras.layers.LayerNormalization``'s default epsilon.
LAYERNORM_EPSILON = 1e-3

#: The names of the layer-normalized LSTM's parameters, in the order the functions take them.
LN_LSTM_PARAMS = ("W_x", "W_h", "b", "gamma_x", "gamma_h", "gamma_c", "beta_c")


# ----------------------------------------------------------------------------------------------
# Layer normalization of the last axis: unchecked kernels and the public functions
# ----------------------------------------------------------------------------------------------
def _normalize(v: np.ndarray, epsilon: float, out: np.ndarray, s: np.ndarray) -> None:
    """``out = (v - mean) / s`` row by row, with ``s`` (rows, 1) = sqrt(variance + epsilon)."""
    mu = v.mean(axis=-1, keepdims=True)
    np.subtract(v, mu, out=out)
    np.mean(out * out, axis=-1, keepdims=True, out=s)
    s += epsilon
    np.sqrt(s, out=s)
    out /= s


def _normalize_backward(d_hat: np.ndarray, v_hat: np.ndarray, s: np.ndarray) -> np.ndarray:
    """dL/dv from dL/dv^ for ``v^ = (v - mean(v)) / s``::

        dv = (dv^ - mean(dv^) - v^ * mean(dv^ * v^)) / s
    """
    return (d_hat - d_hat.mean(axis=-1, keepdims=True)
            - v_hat * np.mean(d_hat * v_hat, axis=-1, keepdims=True)) / s


def _check_epsilon(epsilon) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float, np.floating,
                                                               np.integer)):
        raise TypeError(f"epsilon must be a number; got {type(epsilon).__name__}")
    if not np.isfinite(epsilon) or epsilon <= 0:
        raise ValueError(f"epsilon must be a positive finite number; got {epsilon}")
    return float(epsilon)


def _check_vector(name: str, value, size: int, meaning: str, other: str, other_shape):
    value = as_array(name, value)
    check_rank(name, value, 1, f"({meaning},)")
    check_shape_matches(name, value, (size,), f"({meaning},)", other, other_shape)
    return value


def _prepare_layer_norm(v, gamma, beta, epsilon):
    v = as_array("v", v)
    if v.ndim < 1 or v.shape[-1] == 0:
        raise ValueError(f"v must have a last axis of at least one feature; got shape {v.shape}")
    n = v.shape[-1]
    gamma = None if gamma is None else _check_vector("gamma", gamma, n, "features", "v",
                                                     v.shape)
    beta = None if beta is None else _check_vector("beta", beta, n, "features", "v", v.shape)
    epsilon = _check_epsilon(epsilon)
    dtype = result_dtype(*[a for a in (v, gamma, beta) if a is not None])
    return v.astype(dtype, copy=False), gamma, beta, epsilon, dtype


def layer_norm(v, gamma=None, beta=None, epsilon: float = LAYERNORM_EPSILON) -> np.ndarray:
    """Layer normalization over the last axis: ``gamma * (v - mu) / s + beta``.

    ``mu`` and ``s = sqrt(variance + epsilon)`` are the mean and the (population) standard
    deviation of each row over the last axis, as in ``keras.layers.LayerNormalization(axis=-1)``.

    Args:
        v: any shape (..., N).
        gamma, beta: gain and bias, shape (N,), or None for 1 and 0.
        epsilon: added to the variance (Keras's default 1e-3).

    Returns:
        The normalized array, shape (..., N); float32 when every input is float32.
    """
    v, gamma, beta, epsilon, dtype = _prepare_layer_norm(v, gamma, beta, epsilon)
    out = np.empty_like(v)
    s = np.empty(v.shape[:-1] + (1,), dtype)
    _normalize(v, epsilon, out, s)
    if gamma is not None:
        out *= gamma
    if beta is not None:
        out += beta
    return out


def layer_norm_backward(v, d_out, gamma=None, beta=None,
                        epsilon: float = LAYERNORM_EPSILON) -> dict:
    """Gradients of :func:`layer_norm` given ``d_out = dL/d(output)``.

    With ``v^ = (v - mu) / s`` and ``d_hat = d_out * gamma``::

        dL/dv     = (d_hat - mean(d_hat) - v^ * mean(d_hat * v^)) / s     (means over the row)
        dL/dgamma = sum over rows of d_out * v^,     dL/dbeta = sum over rows of d_out

    Returns:
        A dict with ``v`` (same shape as ``v``) and, where given, ``gamma`` and ``beta`` (N,).
    """
    v, gamma, beta, epsilon, dtype = _prepare_layer_norm(v, gamma, beta, epsilon)
    d_out = as_array("d_out", d_out)
    if d_out.shape != v.shape:
        raise ValueError(f"d_out must have the shape of v {v.shape}; got {d_out.shape}")
    dtype = result_dtype(dtype, d_out)
    v, d_out = v.astype(dtype, copy=False), d_out.astype(dtype, copy=False)
    v_hat = np.empty_like(v)
    s = np.empty(v.shape[:-1] + (1,), dtype)
    _normalize(v, epsilon, v_hat, s)
    d_hat = d_out if gamma is None else d_out * gamma
    grads = {"v": _normalize_backward(d_hat, v_hat, s)}
    rows = (-1, v.shape[-1])
    if gamma is not None:
        grads["gamma"] = (d_out * v_hat).reshape(rows).sum(axis=0)
    if beta is not None:
        grads["beta"] = d_out.reshape(rows).sum(axis=0)
    return grads


# ----------------------------------------------------------------------------------------------
# The layer-normalized LSTM cell for the shared loop
# ----------------------------------------------------------------------------------------------
class _LNLSTMCell:
    """The cell for ``rec.run_forward``/``run_backward``. ``P_t = x_t @ W_x.T`` arrives
    precomputed (the projection matrix has a zero bias row: the bias is added after the
    normalization).

    Buffers (time-major), kept when ``keep``: ``XN``/``HN`` (time, batch, 4H) the normalized
    products, ``SX``/``SH``/``SC`` (time, batch, 1) their standard deviations, ``A`` (time,
    batch, 4H) the gate values ``[i, f, c~, o]``, ``CN`` (time, batch, H) the normalized cell
    state and ``TC`` its gained tanh, ``tanh(LN(c_t))``; ``H`` and ``C`` hold the states.
    """

    same_pq = False

    def __init__(self, time, batch, W_h, params, h0, c0, epsilon, dtype, keep):
        rows, hidden = W_h.shape
        self.hidden, self.rows, self.W_h, self.epsilon = hidden, rows, W_h, epsilon
        self.b, self.gamma_x, self.gamma_h, self.gamma_c, self.beta_c = params
        self.W_hT = np.ascontiguousarray(W_h.T)
        self.keep = keep
        self.projections = rec.Projections(time, batch, rows, dtype, keep)
        steps = time if keep else 1                      # without keep: one reused slot

        def buffer(width):
            return np.empty((steps, batch, width), dtype)

        self.XN, self.HN, self.A = buffer(rows), buffer(rows), buffer(rows)
        self.SX, self.SH, self.SC = buffer(1), buffer(1), buffer(1)
        self.CN, self.TC = buffer(hidden), buffer(hidden)
        self.H = np.empty((time, batch, hidden), dtype)
        self.C = np.empty((time, batch, hidden), dtype)
        zeros = np.zeros((batch, hidden), dtype)
        self.initial = (zeros if h0 is None else h0, zeros if c0 is None else c0)
        self.scratch = np.empty((batch, rows), dtype)
        self.dW_h = np.zeros((rows, hidden), dtype)
        self.grads = {name: np.zeros(rows, dtype) for name in ("b", "gamma_x", "gamma_h")}
        self.grads.update({name: np.zeros(hidden, dtype) for name in ("gamma_c", "beta_c")})

    def step(self, t, p, prev):
        h_prev, c_prev = prev
        n, k = self.hidden, (t if self.keep else 0)
        xn, hn, a = self.XN[k], self.HN[k], self.A[k]
        _normalize(p, self.epsilon, xn, self.SX[k])          # LN of W_x x_t
        np.matmul(h_prev, self.W_hT, out=self.scratch)
        _normalize(self.scratch, self.epsilon, hn, self.SH[k])   # LN of W_h h_{t-1}
        np.multiply(xn, self.gamma_x, out=a)
        a += hn * self.gamma_h
        a += self.b                                          # a_t
        rec.sigmoid_(a[:, :2 * n])                           # i, f
        rec.sigmoid_(a[:, 3 * n:])                           # o
        np.tanh(a[:, 2 * n:3 * n], out=a[:, 2 * n:3 * n])    # c~
        i, f, cc, o = a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]
        c, h = self.C[t], self.H[t]
        np.multiply(f, c_prev, out=c)
        c += i * cc                                          # c_t = f c_{t-1} + i c~
        cn, tc = self.CN[k], self.TC[k]
        _normalize(c, self.epsilon, cn, self.SC[k])          # (c_t - mu) / s
        np.multiply(cn, self.gamma_c, out=tc)
        tc += self.beta_c
        np.tanh(tc, out=tc)                                  # tanh(LN(c_t))
        np.multiply(o, tc, out=h)                            # h_t = o tanh(LN(c_t))
        return (h, c)

    def back_step(self, t, g, dp, dq):
        gh, gc = g
        n = self.hidden
        a, tc, cn = self.A[t], self.TC[t], self.CN[t]
        i, f, cc, o = a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]
        c_prev = self.C[t - 1] if t > 0 else self.initial[1]
        # through h_t = o * tanh(LN(c_t))
        d_ln = gh * o * (1.0 - tc * tc)                      # dL/dLN(c_t)
        self.grads["gamma_c"] += np.sum(d_ln * cn, axis=0)
        self.grads["beta_c"] += np.sum(d_ln, axis=0)
        dc = gc + _normalize_backward(d_ln * self.gamma_c, cn, self.SC[t])   # dL/dc_t
        da = np.empty_like(a)                                # dL/da_t, blocks i, f, c, o
        da[:, :n] = dc * cc * i * (1.0 - i)
        da[:, n:2 * n] = dc * c_prev * f * (1.0 - f)
        da[:, 2 * n:3 * n] = dc * i * (1.0 - cc * cc)
        da[:, 3 * n:] = gh * tc * o * (1.0 - o)
        xn, hn = self.XN[t], self.HN[t]
        self.grads["b"] += da.sum(axis=0)
        self.grads["gamma_x"] += np.sum(da * xn, axis=0)
        self.grads["gamma_h"] += np.sum(da * hn, axis=0)
        dp[...] = _normalize_backward(da * self.gamma_x, xn, self.SX[t])   # dL/d(W_x x_t)
        dq[...] = _normalize_backward(da * self.gamma_h, hn, self.SH[t])   # dL/d(W_h h_{t-1})
        return [dq @ self.W_h, dc * f]                       # dL/dh_{t-1}, dL/dc_{t-1}

    def accumulate(self, dq, start, stop):
        prev = rec.previous(self.H, self.initial[0], start, stop)
        n, batch, rows = dq.shape
        self.dW_h += dq.reshape(n * batch, rows).T @ prev.reshape(n * batch, self.hidden)


def _prepare(x, params, h0, c0, mask, epsilon):
    W_x, W_h, b, gamma_x, gamma_h, gamma_c, beta_c = params
    W_x, W_h, biases, hidden = rec.check_weights(W_x, W_h, {"b": b}, 4, "4 * hidden")
    b = biases["b"]
    gamma_x = _check_vector("gamma_x", gamma_x, 4 * hidden, "4 * hidden", "W_x", W_x.shape)
    gamma_h = _check_vector("gamma_h", gamma_h, 4 * hidden, "4 * hidden", "W_x", W_x.shape)
    gamma_c = _check_vector("gamma_c", gamma_c, hidden, "hidden", "W_h", W_h.shape)
    beta_c = _check_vector("beta_c", beta_c, hidden, "hidden", "W_h", W_h.shape)
    x = rec.check_sequence(x, W_x)
    batch, time, _ = x.shape
    h0 = rec.check_state("h0", h0, batch, hidden)
    c0 = rec.check_state("c0", c0, batch, hidden)
    mask = rec.check_mask(mask, batch, time)
    epsilon = _check_epsilon(epsilon)
    params = (W_x, W_h, b, gamma_x, gamma_h, gamma_c, beta_c)
    dtype = result_dtype(x, *params, *[s for s in (h0, c0) if s is not None])
    return x, params, h0, c0, mask, epsilon, dtype


def _forward(x, params, h0, c0, mask, go_backwards, epsilon, dtype, keep=False):
    x1, m_tm, cast = rec.begin(x, mask, go_backwards, dtype, *params, h0, c0)
    W_x, W_h, *rest = cast[:7]
    h0, c0 = cast[7:]
    W_xb = rec.projection_matrix(W_x, np.zeros(W_x.shape[0], dtype), dtype)   # no bias here
    cell = _LNLSTMCell(x.shape[1], x.shape[0], W_h, rest, h0, c0, epsilon, dtype, keep)
    rec.run_forward(cell, x1, W_xb, m_tm)
    return cell, x1, m_tm, W_x


def layernorm_lstm_forward(x, W_x, W_h, b, gamma_x, gamma_h, gamma_c, beta_c, h0=None,
                           c0=None, go_backwards: bool = False, mask=None,
                           epsilon: float = LAYERNORM_EPSILON) -> tuple[np.ndarray, np.ndarray]:
    """Run the layer-normalized LSTM (module docstring) over whole sequences.

    Args:
        x: input sequences, shape (batch, time, input).
        W_x: input weights, shape (4 * hidden, input), gate blocks i, f, c, o.
        W_h: recurrent weights, shape (4 * hidden, hidden).
        b: gate bias, shape (4 * hidden,).
        gamma_x, gamma_h: gains of the normalized input and recurrent products, (4 * hidden,).
        gamma_c, beta_c: gain and bias of the normalized cell state, shape (hidden,).
        h0, c0: initial states, shape (batch, hidden), or None for zeros.
        go_backwards: read the sequences from the last step to the first (results stay in
            processing order, as in Keras).
        mask: None, or booleans (batch, time): at a masked step both states are carried over
            and the output repeats the previous one (zeros before the first real step).
        epsilon: added to every variance (Keras's default 1e-3).

    Returns:
        ``(H, C)``, both (batch, time, hidden): the outputs ``h_t`` and the (unnormalized) cell
        states ``c_t``. float32 when every input is float32, float64 otherwise.
    """
    x, params, h0, c0, mask, epsilon, dtype = _prepare(
        x, (W_x, W_h, b, gamma_x, gamma_h, gamma_c, beta_c), h0, c0, mask, epsilon)
    cell, _, m_tm, _ = _forward(x, params, h0, c0, mask, go_backwards, epsilon, dtype)
    return rec.outputs(cell.H, m_tm).transpose(1, 0, 2), cell.C.transpose(1, 0, 2)


def layernorm_lstm_backward(x, W_x, W_h, b, gamma_x, gamma_h, gamma_c, beta_c, dH, h0=None,
                            c0=None, go_backwards: bool = False, mask=None,
                            epsilon: float = LAYERNORM_EPSILON) -> dict:
    """Backpropagation through time for :func:`layernorm_lstm_forward`.

    With ``g_t = dL/dh_t`` and the carried ``dL/dc_t``, each step (from the last to the first)
    goes back through the three normalizations with :func:`layer_norm_backward`'s formula::

        dLN_c = g_t * o_t * (1 - tanh(LN(c_t))**2)
        dc_t  = dL/dc_t (carried) + LN'(dLN_c * gamma_c)
        da_i = dc_t c~_t i_t (1 - i_t),  da_f = dc_t c_{t-1} f_t (1 - f_t),
        da_c = dc_t i_t (1 - c~_t**2),   da_o = g_t tanh(LN(c_t)) o_t (1 - o_t)
        dP_t = LN'(da_t * gamma_x),      dQ_t = LN'(da_t * gamma_h)
        dL/dh_{t-1} = dQ_t @ W_h,        dL/dc_{t-1} = dc_t * f_t

    where ``LN'(d) = (d - mean(d) - v^ mean(d v^)) / s`` with the step's own normalized vector
    ``v^`` and standard deviation ``s``. Then ``dW_x = sum_t dP_t.T @ x_t``, ``dW_h = sum_t
    dQ_t.T @ h_{t-1}``, ``db = sum da_t``, ``dgamma_x = sum da_t * LN-normalized W_x x_t`` (and
    likewise ``gamma_h``, ``gamma_c``, ``beta_c``), sums over steps and the batch.

    Args:
        x, W_x, W_h, b, gamma_x, gamma_h, gamma_c, beta_c, h0, c0, go_backwards, mask, epsilon:
            as for :func:`layernorm_lstm_forward`.
        dH: upstream gradients on the outputs, (batch, time, hidden), in processing order.

    Returns:
        A dict with a gradient for every parameter (``W_x``, ``W_h``, ``b``, ``gamma_x``,
        ``gamma_h``, ``gamma_c``, ``beta_c``), ``x`` (batch, time, input) in the original time
        order, and ``h0`` and ``c0`` (batch, hidden).
    """
    x, params, h0, c0, mask, epsilon, dtype = _prepare(
        x, (W_x, W_h, b, gamma_x, gamma_h, gamma_c, beta_c), h0, c0, mask, epsilon)
    batch, time, _ = x.shape
    dH = rec.check_upstream("dH", dH, (batch, time, params[1].shape[1]))
    dtype = result_dtype(dtype, dH)
    cell, x1, m_tm, W_x_ = _forward(x, params, h0, c0, mask, go_backwards, epsilon, dtype,
                                    keep=True)
    dWb, dx_tm, (dh0, dc0) = rec.run_backward(cell, x1, W_x_, dH.transpose(1, 0, 2), m_tm)
    dW_x, _, dx = rec.finish_backward(dWb, dx_tm, go_backwards, {"dH": dH})
    return {"W_x": dW_x, "W_h": cell.dW_h, **cell.grads, "x": dx, "h0": dh0, "c0": dc0}
