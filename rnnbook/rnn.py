"""The simple (Elman) recurrent layer: one step, the forward pass over time, and its gradients.

The book writes the hidden-state update with column vectors::

    h_t = tanh(W_h h_{t-1} + W_x x_t + b_h),      t = 1, ..., T,

with ``x_t`` in R^D, ``h_t`` in R^H, ``W_x`` of shape (H, D), ``W_h`` of shape (H, H) and ``b_h`` of
shape (H,). Code keeps a batch of B sequences in *rows*, so the same step reads::

    h_t = tanh(x_t @ W_x.T + h_{t-1} @ W_h.T + b_h)

with ``x_t`` of shape (B, D) and ``h_t`` of shape (B, H). Keras stores the transposes:
``kernel = W_x.T``, ``recurrent_kernel = W_h.T``, ``bias = b_h`` (see ``rnnbook.keras_interop``).
"""

from __future__ import annotations

import numpy as np

from . import _recurrence as rec
from ._checks import as_array, check_dim, check_rank, result_dtype

__all__ = ["rnn_step", "rnn_forward", "rnn_backward"]


class _SimpleCell:
    """The SimpleRNN cell for the shared loop: ``h_t = tanh(P_t + h_{t-1} @ W_h.T)``.

    ``P_t = x_t @ W_x.T + b_h`` arrives precomputed; the states are written over it, in place.
    """

    same_pq = True

    def __init__(self, time, batch, W_h, h0, dtype, states=None, drop=None):
        hidden = W_h.shape[0]
        self.hidden, self.W_h = hidden, W_h
        self.drop = drop                                 # rec.RecurrentDropout or None
        # P_t, overwritten by h_t; or states already computed (for the backward pass only)
        self.H = np.empty((time, batch, hidden), dtype) if states is None else states
        self.W_hT = np.ascontiguousarray(W_h.T)
        self.initial = (np.zeros((batch, hidden), dtype) if h0 is None else h0,)
        self.scratch = np.empty((batch, hidden), dtype)
        self.dW_h = np.zeros((hidden, hidden), dtype)

    def projections(self, start, stop):
        return self.H[start:stop]

    def step(self, t, p, prev):
        h = p                                            # P_t, in place: becomes h_t
        if self.drop is None:
            np.matmul(prev[0], self.W_hT, out=self.scratch)
        else:                                            # (h_{t-1} * m) W_h^T
            self.drop.product(prev[0], self.W_hT, self.scratch)
        h += self.scratch                                # (x_t W_x^T + b_h) + h_{t-1} W_h^T
        np.tanh(h, out=h)
        return (h,)

    def back_step(self, t, g, dp, dq):
        h = self.H[t]
        np.multiply(h, h, out=dp)
        np.subtract(1.0, dp, out=dp)                     # tanh' = 1 - h_t^2
        dp *= g[0]                                       # da_t
        if self.drop is None:
            return [dp @ self.W_h]
        return [self.drop.back(dp, self.W_h)]

    def accumulate(self, dq, start, stop):
        prev = rec.previous(self.H, self.initial[0], start, stop)
        if self.drop is not None:
            self.drop.accumulate(self.dW_h, dq, prev)
            return
        n, batch, hidden = dq.shape
        self.dW_h += dq.reshape(n * batch, hidden).T @ prev.reshape(n * batch, hidden)


def _prepare(x, W_x, W_h, b_h, h0, mask, input_dropout=None, recurrent_dropout=None):
    W_x, W_h, biases, hidden = rec.check_weights(W_x, W_h, {"b_h": b_h}, 1, "hidden")
    x = rec.check_sequence(x, W_x)
    batch, time, _ = x.shape
    h0 = rec.check_state("h0", h0, batch, hidden)
    mask = rec.check_mask(mask, batch, time)
    drops = rec.check_dropouts(input_dropout, recurrent_dropout, 1, x.shape, hidden)
    arrays = [a for a in (x, W_x, W_h, biases["b_h"], h0) if a is not None]
    return x, W_x, W_h, biases["b_h"], h0, mask, drops, result_dtype(*arrays)


def _forward(x, W_x, W_h, b_h, h0, mask, go_backwards, dtype, drops=(None, None)):
    """Unchecked forward pass: the filled cell, ``[x_t, 1]``, the mask and the input weights
    (those of the masked copies of ``x`` with ``input_dropout``), time-major."""
    x1, m_tm, (W_x, W_h, b_h, h0) = rec.begin(x, mask, go_backwards, dtype, W_x, W_h, b_h, h0,
                                              input_dropout=drops[0])
    cell = _SimpleCell(x.shape[1], x.shape[0], W_h, h0, dtype,
                       drop=rec.recurrent_dropout(drops[1], W_h.shape[0], dtype))
    rec.run_forward(cell, x1, rec.projection_matrix(W_x, b_h, dtype), m_tm)
    return cell, x1, m_tm, W_x


def rnn_step(x_t, h_prev, W_x, W_h, b_h, input_dropout=None,
             recurrent_dropout=None) -> np.ndarray:
    """One step of the recurrence, for a batch of sequences.

    Equation (column vectors): ``h_t = tanh(W_h h_{t-1} + W_x x_t + b_h)``.
    Batched rows, as computed: ``h_t = tanh((x_t @ W_x.T + b_h) + h_prev @ W_h.T)``, by the same
    code as one step of :func:`rnn_forward`, so the two agree to the last bit.

    Args:
        x_t: inputs at this step, shape (batch, input).
        h_prev: previous hidden states, shape (batch, hidden).
        W_x: input weights, shape (hidden, input).
        W_h: recurrent weights, shape (hidden, hidden).
        b_h: bias, shape (hidden,).
        input_dropout, recurrent_dropout: as for :func:`rnn_forward`.

    Returns:
        The new hidden states ``h_t``, shape (batch, hidden).
    """
    x_t = as_array("x_t", x_t)
    check_rank("x_t", x_t, 2, "(batch, input)")
    W_x = as_array("W_x", W_x)
    check_rank("W_x", W_x, 2, "(hidden, input)")
    check_dim("x_t", x_t.shape[1], W_x.shape[1],
              f"input size of x_t {x_t.shape} must equal W_x.shape[1] for W_x {W_x.shape}")
    x, W_x, W_h, b_h, h0, _, drops, dtype = _prepare(x_t[:, None], W_x, W_h, b_h, None, None,
                                                     input_dropout, recurrent_dropout)
    h_prev = rec.check_state("h_prev", h_prev, x_t.shape[0], W_x.shape[0])
    dtype = result_dtype(dtype, h_prev)
    cell, _, _, _ = _forward(x, W_x, W_h, b_h, h_prev, None, False, dtype, drops)
    return cell.H[0]


def rnn_forward(x, W_x, W_h, b_h, h0=None, go_backwards: bool = False,
                mask=None, input_dropout=None, recurrent_dropout=None) -> np.ndarray:
    """Run the recurrence over whole sequences and return every hidden state.

    Equation: ``h_t = tanh(W_h h_{t-1} + W_x x_t + b_h)`` for ``t = 1..T``, from ``h_0 = h0``
    (zeros when ``h0`` is None).

    What is computed: the input projections ``x_t @ W_x.T + b_h`` do not depend on the
    recurrence, so they are formed for all steps at once, in one matrix product of ``[x_t, 1]``
    with ``[[W_x.T], [b_h]]`` (the column of ones adds the bias inside the product). Only
    ``h_{t-1} @ W_h.T`` stays inside the loop over time and is added to that. Keras's
    ``SimpleRNNCell`` adds the bias in a separate step, so the two differ in the last bits of
    float32 (about 1e-7), not in anything else.

    Args:
        x: input sequences, shape (batch, time, input).
        W_x: input weights, shape (hidden, input).
        W_h: recurrent weights, shape (hidden, hidden).
        b_h: bias, shape (hidden,).
        h0: initial hidden states, shape (batch, hidden), or None for zeros.
        go_backwards: read each sequence from its last step to its first, like Keras's
            ``go_backwards=True``; the returned states stay in that processing order
            (``out[:, 0]`` is the state after reading ``x[:, -1]``).
        mask: None, or booleans of shape (batch, time) in the original time order of ``x``
            (True for a real step). At a masked step the state is carried over unchanged and the
            output repeats the previous one (zeros before the first real step), as in Keras.
        input_dropout: None, or a dropout mask on the inputs, ``x_t * m_x`` at every step
            (Keras's ``dropout``): shape (batch, input), values 0 or 1/(1 - rate), already
            scaled (:func:`~rnnbook.dropout.dropout_masks`). SimpleRNN draws one mask, never one per
            gate; (1, batch, input) is accepted too.
        recurrent_dropout: None, or a mask on the previous state where it enters the
            recurrent product, ``tanh(x_t W_x^T + b_h + (h_{t-1} * m_h) W_h^T)`` (Keras's
            ``recurrent_dropout``): shape (batch, hidden), values as above. The same masks are
            used at every step (Gal and Ghahramani's variational dropout, as Keras does).
            The masks are cast to the computation dtype and do not change it.

    Returns:
        All outputs (the hidden states ``h_1..h_T``), shape (batch, time, hidden), dtype float32
        when every input is float32 and float64 otherwise. ``out[:, -1]`` is the final output.
    """
    x, W_x, W_h, b_h, h0, mask, drops, dtype = _prepare(x, W_x, W_h, b_h, h0, mask,
                                                        input_dropout, recurrent_dropout)
    cell, _, m_tm, _ = _forward(x, W_x, W_h, b_h, h0, mask, go_backwards, dtype, drops)
    return rec.outputs(cell.H, m_tm).transpose(1, 0, 2)


def rnn_backward(x, W_x, W_h, b_h, dH, h0=None, go_backwards: bool = False, H=None,
                 mask=None, input_dropout=None, recurrent_dropout=None) -> dict:
    """Backpropagation through time for :func:`rnn_forward`.

    Given ``dH[:, t] = dL/dh_t`` (the loss's *direct* dependence on each returned output), the
    recursion runs from the last step to the first::

        g_t  = dH_t + dL/dh_t carried back from step t+1      (batch, hidden)
        da_t = g_t * (1 - h_t**2)                               tanh' at the pre-activation
        dL/dh_{t-1} (carried) = da_t @ W_h                      (batch, hidden)
        dW_x = sum_t da_t.T @ x_t,   dW_h = sum_t da_t.T @ h_{t-1},   db_h = sum_t sum_b da_t
        dx_t = da_t @ W_x

    Only the carried gradient is sequential; the tanh' factor is applied inside the loop, step
    by step. The sums over time in ``dW_x``, ``dW_h``, ``db_h`` and the products ``dx_t`` are
    formed a block of steps at a time (see :data:`rnnbook._recurrence.BLOCK_BYTES`), as a few large
    matrix products over all of the block's steps and sequences at once. With a mask, a masked
    step passes the gradient on its state straight back to the previous state. With dropout
    masks, ``x_t`` and ``h_{t-1}`` are replaced by ``x_t * m_x`` and ``h_{t-1} * m_h`` in the
    sums, and ``dx_t`` and the carried gradient are multiplied by ``m_x`` and ``m_h``.

    The computation runs in the promoted dtype of all arguments, ``dH`` included: float32
    weights with a float64 ``dH`` give float64 gradients of float64 accuracy.

    Args:
        x, W_x, W_h, b_h, h0, go_backwards, mask, input_dropout, recurrent_dropout: as for
            :func:`rnn_forward`.
        dH: upstream gradients, shape (batch, time, hidden), in the same (processing) order as
            the outputs :func:`rnn_forward` returns.
        H: optionally, the outputs ``rnn_forward`` already returned for these arguments, to save
            recomputing them, shape (batch, time, hidden).

    Returns:
        A dict of gradients in the book's notation and shapes: ``W_x`` (hidden, input),
        ``W_h`` (hidden, hidden), ``b_h`` (hidden,), ``x`` (batch, time, input) in the original
        time order of ``x``, and ``h0`` (batch, hidden). Like the states of :func:`rnn_forward`,
        ``x`` may be a non-contiguous view.
    """
    x, W_x, W_h, b_h, h0, mask, drops, dtype = _prepare(x, W_x, W_h, b_h, h0, mask,
                                                        input_dropout, recurrent_dropout)
    batch, time, _ = x.shape
    hidden = W_x.shape[0]
    dH = rec.check_upstream("dH", dH, (batch, time, hidden))
    dtype = result_dtype(dtype, dH)
    if H is None:
        cell, x1, m_tm, W_x_ = _forward(x, W_x, W_h, b_h, h0, mask, go_backwards, dtype, drops)
    else:
        H = rec.check_upstream("H", H, (batch, time, hidden))
        x_tm, m_tm = rec.time_major(x, mask, go_backwards)
        x1 = rec.with_ones(x_tm, dtype,
                           None if drops[0] is None else drops[0].astype(dtype, copy=False))
        W_x_ = W_x.astype(dtype, copy=False)
        h_init = None if h0 is None else h0.astype(dtype, copy=False)
        states = rec.given_states(H, m_tm, h_init, dtype)
        cell = _SimpleCell(time, batch, W_h.astype(dtype, copy=False), h_init, dtype, states,
                           rec.recurrent_dropout(drops[1], hidden, dtype))
    dWb, dx_tm, (dh0,) = rec.run_backward(cell, x1, W_x_, dH.transpose(1, 0, 2), m_tm)
    check = {"dH": dH} if H is None else {"dH": dH, "H": H}
    dW_x, db_h, dx = rec.finish_backward(dWb, dx_tm, go_backwards, check, drops[0])
    return {"W_x": dW_x, "W_h": cell.dW_h, "b_h": db_h, "x": dx, "h0": dh0}
