"""The simple (Elman) recurrent layer: one step, the forward pass over time, and its gradients.

The book writes the hidden-state update with column vectors,

    h_t = tanh(W_h h_{t-1} + W_x x_t + b_h),      t = 1, ..., T,

with ``x_t`` in R^D, ``h_t`` in R^H, ``W_x`` of shape (H, D), ``W_h`` of shape (H, H) and ``b_h`` of
shape (H,). Code keeps a batch of B sequences in *rows*, so the same step reads

    h_t = tanh(x_t @ W_x.T + h_{t-1} @ W_h.T + b_h)

with ``x_t`` of shape (B, D) and ``h_t`` of shape (B, H). Keras stores the transposes:
``kernel = W_x.T``, ``recurrent_kernel = W_h.T``, ``bias = b_h`` (see ``rnnbook.keras_interop``).
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array, check_dim, check_rank, result_dtype

__all__ = ["rnn_step", "rnn_forward", "rnn_backward"]


def _check_weights(W_x, W_h, b_h):
    W_x = as_array("W_x", W_x)
    W_h = as_array("W_h", W_h)
    b_h = as_array("b_h", b_h)
    check_rank("W_x", W_x, 2, "(hidden, input)")
    check_rank("W_h", W_h, 2, "(hidden, hidden)")
    check_rank("b_h", b_h, 1, "(hidden,)")
    hidden = W_x.shape[0]
    if W_h.shape != (hidden, hidden):
        raise ValueError(
            f"W_h must have shape (hidden, hidden) = ({hidden}, {hidden}) to match "
            f"W_x of shape {W_x.shape}; got W_h of shape {W_h.shape}"
        )
    if b_h.shape != (hidden,):
        raise ValueError(
            f"b_h must have shape (hidden,) = ({hidden},) to match W_x of shape {W_x.shape}; "
            f"got b_h of shape {b_h.shape}"
        )
    return W_x, W_h, b_h


def _check_state(name, h, batch, hidden):
    h = as_array(name, h)
    if h.shape != (batch, hidden):
        raise ValueError(
            f"{name} must have shape (batch, hidden) = ({batch}, {hidden}); got {h.shape}"
        )
    return h


def rnn_step(x_t, h_prev, W_x, W_h, b_h) -> np.ndarray:
    """One step of the recurrence, for a batch of sequences.

    Equation (column vectors): ``h_t = tanh(W_h h_{t-1} + W_x x_t + b_h)``.
    Batched rows, as computed: ``h_t = tanh(x_t @ W_x.T + h_prev @ W_h.T + b_h)``.

    Args:
        x_t: inputs at this step, shape (batch, input).
        h_prev: previous hidden states, shape (batch, hidden).
        W_x: input weights, shape (hidden, input).
        W_h: recurrent weights, shape (hidden, hidden).
        b_h: bias, shape (hidden,).

    Returns:
        The new hidden states ``h_t``, shape (batch, hidden).
    """
    W_x, W_h, b_h = _check_weights(W_x, W_h, b_h)
    x_t = as_array("x_t", x_t)
    check_rank("x_t", x_t, 2, "(batch, input)")
    check_dim("x_t", x_t.shape[1], W_x.shape[1],
              f"input size of x_t {x_t.shape} must equal W_x.shape[1] for W_x {W_x.shape}")
    h_prev = _check_state("h_prev", h_prev, x_t.shape[0], W_x.shape[0])
    return np.tanh(x_t @ W_x.T + h_prev @ W_h.T + b_h)


def _prepare(x, W_x, W_h, b_h, h0):
    W_x, W_h, b_h = _check_weights(W_x, W_h, b_h)
    x = as_array("x", x)
    check_rank("x", x, 3, "(batch, time, input)")
    batch, time, inputs = x.shape
    hidden = W_x.shape[0]
    check_dim("x", inputs, W_x.shape[1],
              f"input size of x {x.shape} must equal W_x.shape[1] for W_x {W_x.shape}")
    if time == 0:
        raise ValueError(f"x must contain at least one time step; got shape {x.shape}")
    arrays = [x, W_x, W_h, b_h]
    if h0 is not None:
        h0 = _check_state("h0", h0, batch, hidden)
        arrays.append(h0)
    dtype = result_dtype(*arrays)
    return x, W_x, W_h, b_h, h0, dtype


def rnn_forward(x, W_x, W_h, b_h, h0=None, go_backwards: bool = False) -> np.ndarray:
    """Run the recurrence over whole sequences and return every hidden state.

    Equation: ``h_t = tanh(W_h h_{t-1} + W_x x_t + b_h)`` for ``t = 1..T``, from ``h_0 = h0``
    (zeros when ``h0`` is None).

    The input projections ``x_t @ W_x.T + b_h`` do not depend on the recurrence, so they are
    computed for all steps at once in one matrix product; only ``h_{t-1} @ W_h.T`` stays inside
    the loop over time. The sum is formed as ``(x_t W_x^T + b_h) + h_{t-1} W_h^T``, the same order
    as Keras's ``SimpleRNNCell``.

    Args:
        x: input sequences, shape (batch, time, input).
        W_x: input weights, shape (hidden, input).
        W_h: recurrent weights, shape (hidden, hidden).
        b_h: bias, shape (hidden,).
        h0: initial hidden states, shape (batch, hidden), or None for zeros.
        go_backwards: read each sequence from its last step to its first, like Keras's
            ``go_backwards=True``; the returned states stay in that processing order
            (``out[:, 0]`` is the state after reading ``x[:, -1]``).

    Returns:
        All hidden states ``h_1..h_T``, shape (batch, time, hidden), dtype float32 when every
        input is float32 and float64 otherwise. ``out[:, -1]`` is the final state.
    """
    x, W_x, W_h, b_h, h0, dtype = _prepare(x, W_x, W_h, b_h, h0)
    if go_backwards:
        x = x[:, ::-1]
    batch, time, _ = x.shape
    hidden = W_x.shape[0]
    W_xT = W_x.T.astype(dtype, copy=False)
    W_hT = np.ascontiguousarray(W_h.T, dtype=dtype)
    # Time-major working buffers keep each step's slice contiguous.
    states = np.empty((time, batch, hidden), dtype=dtype)
    x_tm = np.ascontiguousarray(x.transpose(1, 0, 2), dtype=dtype)
    np.matmul(x_tm, W_xT, out=states)
    states += b_h.astype(dtype, copy=False)
    if h0 is None:
        np.tanh(states[0], out=states[0])
    else:
        states[0] += h0.astype(dtype, copy=False) @ W_hT
        np.tanh(states[0], out=states[0])
    scratch = np.empty((batch, hidden), dtype=dtype)
    for t in range(1, time):
        np.matmul(states[t - 1], W_hT, out=scratch)
        states[t] += scratch
        np.tanh(states[t], out=states[t])
    return states.transpose(1, 0, 2)


def rnn_backward(x, W_x, W_h, b_h, dH, h0=None, go_backwards: bool = False, H=None) -> dict:
    """Backpropagation through time for :func:`rnn_forward`.

    Given ``dH[:, t] = dL/dh_t`` (the loss's *direct* dependence on each returned state), the
    recursion runs from the last step to the first:

        g_t  = dH_t + dL/dh_t carried back from step t+1      (batch, hidden)
        da_t = g_t * (1 - h_t**2)                               tanh' at the pre-activation
        dL/dh_{t-1} (carried) = da_t @ W_h                      (batch, hidden)
        dW_x = sum_t da_t.T @ x_t,   dW_h = sum_t da_t.T @ h_{t-1},   db_h = sum_t sum_b da_t
        dx_t = da_t @ W_x

    Args:
        x, W_x, W_h, b_h, h0, go_backwards: as for :func:`rnn_forward`.
        dH: upstream gradients, shape (batch, time, hidden), in the same (processing) order as
            the states :func:`rnn_forward` returns.
        H: optionally, the states ``rnn_forward`` already returned for these arguments, to save
            recomputing them, shape (batch, time, hidden).

    Returns:
        A dict of gradients in the book's notation and shapes: ``W_x`` (hidden, input),
        ``W_h`` (hidden, hidden), ``b_h`` (hidden,), ``x`` (batch, time, input) in the original
        time order of ``x``, and ``h0`` (batch, hidden).
    """
    x, W_x, W_h, b_h, h0, dtype = _prepare(x, W_x, W_h, b_h, h0)
    batch, time, inputs = x.shape
    hidden = W_x.shape[0]
    dH = as_array("dH", dH)
    if dH.shape != (batch, time, hidden):
        raise ValueError(
            f"dH must have shape (batch, time, hidden) = ({batch}, {time}, {hidden}); "
            f"got {dH.shape}"
        )
    if H is None:
        H = rnn_forward(x, W_x, W_h, b_h, h0, go_backwards=go_backwards)
    else:
        H = as_array("H", H)
        if H.shape != (batch, time, hidden):
            raise ValueError(
                f"H must have shape (batch, time, hidden) = ({batch}, {time}, {hidden}); "
                f"got {H.shape}"
            )
    dtype = np.result_type(dtype, dH)
    xs = x[:, ::-1] if go_backwards else x
    H_tm = np.ascontiguousarray(H.transpose(1, 0, 2), dtype=dtype)        # (T, B, H)
    dA = np.array(dH.transpose(1, 0, 2), dtype=dtype, order="C")          # copy; becomes da_t
    dA *= 1.0 - H_tm * H_tm                                               # tanh' factors
    W_h_ = W_h.astype(dtype, copy=False)
    carry = np.zeros((batch, hidden), dtype=dtype)
    for t in range(time - 1, -1, -1):
        # da_t = (dH_t + carry) * (1 - h_t^2); the first term was folded in above
        carry *= 1.0 - H_tm[t] * H_tm[t]
        dA[t] += carry
        carry = dA[t] @ W_h_
    h_init = np.zeros((batch, hidden), dtype=dtype) if h0 is None else h0.astype(dtype)
    H_prev = np.concatenate([h_init[None], H_tm[:-1]], axis=0)            # (T, B, H)
    dA_flat = dA.reshape(time * batch, hidden)
    x_tm = np.ascontiguousarray(xs.transpose(1, 0, 2), dtype=dtype).reshape(time * batch, inputs)
    dW_x = dA_flat.T @ x_tm
    dW_h = dA_flat.T @ H_prev.reshape(time * batch, hidden)
    db_h = dA_flat.sum(axis=0)
    dx = (dA @ W_x.astype(dtype, copy=False)).transpose(1, 0, 2)
    if go_backwards:
        dx = dx[:, ::-1]
    return {"W_x": dW_x, "W_h": dW_h, "b_h": db_h, "x": np.ascontiguousarray(dx), "h0": carry}
