"""The long short-term memory (LSTM) layer: one step, the forward pass, and its gradients.

With column vectors, one step of the LSTM reads (sigma is the logistic sigmoid, * is the
elementwise product)::

    [a_i; a_f; a_c; a_o] = W_x x_t + W_h h_{t-1} + b          (4H,)
    i_t = sigma(a_i)      input gate
    f_t = sigma(a_f)      forget gate
    c~_t = tanh(a_c)      candidate cell
    o_t = sigma(a_o)      output gate
    c_t = f_t * c_{t-1} + i_t * c~_t
    h_t = o_t * tanh(c_t)

``W_x`` (4H, D), ``W_h`` (4H, H) and ``b`` (4H,) stack the four gate blocks along their first
axis in Keras's order **i, f, c, o**, so that, as for SimpleRNN, Keras's ``kernel`` is ``W_x.T``
(D, 4H), its ``recurrent_kernel`` is ``W_h.T`` (H, 4H) and its ``bias`` is ``b``. Code keeps a
batch in rows: ``a = x_t @ W_x.T + h_{t-1} @ W_h.T + b``. The time loop, the masks and the sums of
the backward pass are shared with SimpleRNN and GRU (``rnnbook._recurrence``).
"""

from __future__ import annotations

import numpy as np

from . import _recurrence as rec
from ._checks import as_array, check_rank, result_dtype

__all__ = ["lstm_step", "lstm_forward", "lstm_backward"]


class _LSTMCell:
    """The LSTM cell for the shared loop. ``P_t = x_t @ W_x.T + b`` arrives precomputed.

    Buffers, time-major: ``A`` (time, batch, 4H) holds ``P_t`` and is overwritten with the gate
    values ``[i, f, c~, o]``; ``H`` and ``C`` hold the states. ``tanh(c_t)`` is not kept: the
    backward pass forms it again (:meth:`recompute`) for one block of steps at a time, into
    ``TC``, one cheap elementwise pass that spares a (time, batch, H) array.

    Built from states a forward pass returned (``given = (H, C, x1, W_xb)``, time-major), the
    cell keeps no gates: :meth:`recompute` fills ``A`` and ``TC`` for one block of steps at a
    time, and ``offset`` (the block's first step) maps a step to its row in them.
    """

    same_pq = True

    def __init__(self, time, batch, W_h, h0, c0, dtype, keep, drop=None, given=None):
        rows, hidden = W_h.shape
        self.hidden, self.W_h = hidden, W_h
        self.drop = drop                                     # rec.RecurrentDropout or None
        # P arrives with the i, f and o rows halved (see _forward), and W_h.T gets the same, so
        # that one tanh over all four blocks gives tanh(a_c) and, for i, f, o,
        # tanh(a / 2) = 2 sigma(a) - 1. Halving is exact in floating point.
        self.W_hT = np.ascontiguousarray((W_h * _gate_scale(hidden, dtype)[:, None]).T)
        # sigma(a) = tanh(a / 2) * 1/2 + 1/2 for i, f, o; tanh(a_c) * 1 + 0 stays for c~
        self.gate_scale = _gate_scale(hidden, dtype)
        self.gate_shift = self.gate_scale.copy()
        self.gate_shift[2 * hidden:3 * hidden] = 0.0
        # recomputes: run_backward calls recompute(start, stop) before each block of steps
        self.from_states, self.recomputes, self.offset = given is not None, True, 0
        self.TC = None                                       # one block's, see recompute
        if given is None:
            # keep: the gates of every step are kept for the backward pass; otherwise each
            # step's projections are worked on in a small reused buffer (see rec.run_forward).
            self.projections = rec.Projections(time, batch, rows, dtype, keep)
            self.A = self.projections.all if keep else None
            self.H = np.empty((time, batch, hidden), dtype)
            self.C = np.empty((time, batch, hidden), dtype)
        else:
            self.H, self.C, self.x1, self.W_xb = given
            self.A = None                                    # one block's, see recompute
        zeros = np.zeros((batch, hidden), dtype)
        self.initial = (zeros if h0 is None else h0, zeros if c0 is None else c0)
        self.scratch = np.empty((batch, rows), dtype)
        self.work = np.empty((batch, hidden), dtype)
        self.dW_h = np.zeros((rows, hidden), dtype)

    def gates(self, a, h_prev, scratch):
        """The gate values ``[i, f, c~, o]``, in place over the (halved) projections ``a``:
        one step's (batch, 4H) from ``h_prev`` (batch, H), or a block of steps' (steps, batch,
        4H) from (steps, batch, H). ``scratch`` is ``a``'s shape."""
        if self.drop is None:
            rec.matmul_into(h_prev, self.W_hT, scratch)
        else:                                                # (h_{t-1} * m_g) W_h^g.T
            self.drop.product(h_prev, self.W_hT, scratch)
        a += scratch                                         # (x W_x^T + b) + h W_h^T, halved
        np.tanh(a, out=a)                                    # all four blocks at once
        a *= self.gate_scale                                 # sigma = (tanh(a / 2) + 1) / 2
        a += self.gate_shift                                 # for i, f, o; c~ * 1 + 0

    def step(self, t, p, prev):
        h_prev, c_prev = prev
        n = self.hidden
        a = p                                                # P_t, then the gate values
        self.gates(a, h_prev, self.scratch)
        i, f, cc, o = a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]
        c, h = self.C[t], self.H[t]
        tc = self.work
        np.multiply(f, c_prev, out=c)
        np.multiply(i, cc, out=tc)
        c += tc                                              # c_t = f c_{t-1} + i c~
        np.tanh(c, out=tc)
        np.multiply(o, tc, out=h)                            # h_t = o tanh(c_t)
        return (h, c)

    def recompute(self, start, stop):
        """``tanh(c_t)`` of steps ``[start, stop)``, and, built from the given states, their
        gates too: into block buffers, with one product for the inputs and one for ``h_{t-1}``
        over the block. A cell that kept its gates only points ``A`` at the block's rows."""
        k, batch, rows = stop - start, self.C.shape[1], self.W_hT.shape[1]
        if self.TC is None or len(self.TC) < k:              # the first block is the largest
            self.TC = np.empty((k, batch, self.hidden), self.W_hT.dtype)
            if self.from_states:
                self.A = np.empty((k, batch, rows), self.W_hT.dtype)
                self.R = np.empty_like(self.A)
        if self.from_states:
            A = self.A[:k]
            rec.matmul_into(self.x1[start:stop], self.W_xb, A)   # P_t of the block
            self.gates(A, rec.previous(self.H, self.initial[0], start, stop), self.R[:k])
        else:
            self.A = self.projections.all[start:stop]
        np.tanh(self.C[start:stop], out=self.TC[:k])
        self.offset = start

    def back_step(self, t, g, dp, dq):
        gh, gc = g
        n = self.hidden
        a = self.A[t - self.offset]
        i, f, cc, o = a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]
        tc = self.TC[t - self.offset]
        c_prev = self.C[t - 1] if t > 0 else self.initial[1]
        dc = self.work                                       # in place, no temporaries
        np.multiply(tc, tc, out=dc)
        np.subtract(1.0, dc, out=dc)
        dc *= o
        dc *= gh
        dc += gc                                             # dL/dc_t
        # sigma' = sigma (1 - sigma) for the i, f and o blocks, in two passes over all four
        # blocks (contiguous, so faster than three strided ones); the c~ block is replaced.
        np.subtract(1.0, a, out=dp)
        dp *= a
        d_i, d_f, d_c, d_o = dp[:, :n], dp[:, n:2 * n], dp[:, 2 * n:3 * n], dp[:, 3 * n:]
        np.multiply(cc, cc, out=d_c)
        np.subtract(1.0, d_c, out=d_c)                       # tanh' = 1 - c~^2
        d_i *= cc                                            # da_i = dc c~ sigma'(a_i)
        d_f *= c_prev                                        # da_f = dc c_{t-1} sigma'(a_f)
        d_c *= i                                             # da_c = dc i tanh'(a_c)
        d_ifc = dp[:, :3 * n].reshape(-1, 3, n)              # a view: splits the columns
        d_ifc *= dc[:, None]                                 # ... times dc, for all three
        d_o *= tc
        d_o *= gh                                            # da_o = g tanh(c_t) sigma'(a_o)
        dh_prev = dp @ self.W_h if self.drop is None else self.drop.back(dp, self.W_h)
        return [dh_prev, dc * f]                             # dL/dh_{t-1}, dL/dc_{t-1}

    def accumulate(self, dq, start, stop):
        prev = rec.previous(self.H, self.initial[0], start, stop)
        if self.drop is not None:
            self.drop.accumulate(self.dW_h, dq, prev)
            return
        n, batch, rows = dq.shape
        self.dW_h += dq.reshape(n * batch, rows).T @ prev.reshape(n * batch, self.hidden)


def _gate_scale(hidden: int, dtype) -> np.ndarray:
    """1/2 for the rows of the sigmoid gates i, f, o and 1 for the candidate's: (4 * hidden,)."""
    scale = np.full(4 * hidden, 0.5, dtype=dtype)
    scale[2 * hidden:3 * hidden] = 1.0
    return scale


def _prepare(x, W_x, W_h, b, h0, c0, mask, input_dropout=None, recurrent_dropout=None):
    W_x, W_h, biases, hidden = rec.check_weights(W_x, W_h, {"b": b}, 4, "4 * hidden")
    x = rec.check_sequence(x, W_x)
    batch, time, _ = x.shape
    h0 = rec.check_state("h0", h0, batch, hidden)
    c0 = rec.check_state("c0", c0, batch, hidden)
    mask = rec.check_mask(mask, batch, time)
    drops = rec.check_dropouts(input_dropout, recurrent_dropout, 4, x.shape, hidden)
    arrays = [a for a in (x, W_x, W_h, biases["b"], h0, c0) if a is not None]
    return x, W_x, W_h, biases["b"], h0, c0, mask, drops, result_dtype(*arrays)


def _forward(x, W_x, W_h, b, h0, c0, mask, go_backwards, dtype, keep=False,
             drops=(None, None), given=None):
    """Unchecked forward pass: the filled cell, ``[x_t, 1]``, the mask and the input weights
    (those of the masked copies of ``x`` with ``input_dropout``), time-major.

    ``keep``: keep every step's gates, for :func:`lstm_backward`. ``drops``: the checked
    dropout masks (input, recurrent), each (k, batch, size) or None. ``given``: the outputs
    and cell states (H, C) a forward pass returned; then nothing is run, and the cell is set
    up to recompute its gates during the backward pass.
    """
    x1, m_tm, (W_x, W_h, b, h0, c0) = rec.begin(x, mask, go_backwards, dtype,
                                                W_x, W_h, b, h0, c0, input_dropout=drops[0])
    W_x = rec.dropout_weights(W_x, drops[0])
    scale = _gate_scale(W_h.shape[1], dtype)
    W_xb = rec.projection_matrix(W_x * scale[:, None], b * scale, dtype)   # i, f, o halved
    drop = rec.recurrent_dropout(drops[1], W_h.shape[1], dtype)
    if given is not None:
        states = (rec.given_states(given[0], m_tm, h0, dtype),
                  given[1].transpose(1, 0, 2).astype(dtype, copy=False), x1, W_xb)
        cell = _LSTMCell(x.shape[1], x.shape[0], W_h, h0, c0, dtype, False, drop, states)
        return cell, x1, m_tm, W_x
    cell = _LSTMCell(x.shape[1], x.shape[0], W_h, h0, c0, dtype, keep, drop)
    rec.run_forward(cell, x1, W_xb, m_tm)
    return cell, x1, m_tm, W_x


def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b, input_dropout=None,
              recurrent_dropout=None) -> tuple[np.ndarray, np.ndarray]:
    """One LSTM step for a batch (the module docstring gives the equations).

    Computed by the same code as one step of :func:`lstm_forward`.

    Args:
        x_t: inputs, shape (batch, input).
        h_prev, c_prev: previous hidden and cell states, shape (batch, hidden) each.
        W_x: input weights, shape (4 * hidden, input), gate blocks i, f, c, o.
        W_h: recurrent weights, shape (4 * hidden, hidden).
        b: bias, shape (4 * hidden,).
        input_dropout, recurrent_dropout: as for :func:`lstm_forward`.

    Returns:
        ``(h_t, c_t)``, shape (batch, hidden) each.
    """
    x_t = as_array("x_t", x_t)
    check_rank("x_t", x_t, 2, "(batch, input)")
    x, W_x, W_h, b, _, _, _, drops, dtype = _prepare(x_t[:, None], W_x, W_h, b, None, None,
                                                     None, input_dropout, recurrent_dropout)
    hidden = W_h.shape[1]
    h_prev = rec.check_state("h_prev", h_prev, x_t.shape[0], hidden)
    c_prev = rec.check_state("c_prev", c_prev, x_t.shape[0], hidden)
    dtype = result_dtype(dtype, h_prev, c_prev)
    cell, _, _, _ = _forward(x, W_x, W_h, b, h_prev, c_prev, None, False, dtype, drops=drops)
    return cell.H[0], cell.C[0]


def lstm_forward(x, W_x, W_h, b, h0=None, c0=None, go_backwards: bool = False,
                 mask=None, input_dropout=None,
                 recurrent_dropout=None) -> tuple[np.ndarray, np.ndarray]:
    """Run the LSTM over whole sequences; return every output and every cell state.

    The input projections ``x_t @ W_x.T + b`` of all steps are one matrix product; only
    ``h_{t-1} @ W_h.T`` and the gates stay in the loop over time. (Keras adds the bias after the
    recurrent product, so the two differ in the last bits of float32.)

    Args:
        x: input sequences, shape (batch, time, input).
        W_x: input weights, shape (4 * hidden, input), gate blocks i, f, c, o.
        W_h: recurrent weights, shape (4 * hidden, hidden).
        b: bias, shape (4 * hidden,).
        h0, c0: initial hidden and cell states, shape (batch, hidden), or None for zeros.
        go_backwards: read the sequences from the last step to the first; the results stay in
            that processing order, as in Keras.
        mask: None, or booleans (batch, time) in the original time order of ``x``. At a masked
            step both states are carried over unchanged; the output repeats the previous one
            (zeros before the first real step), as Keras returns it.
        input_dropout: None, or dropout masks on the inputs (Keras's ``dropout``), values 0 or
            1/(1 - rate), already scaled (:func:`~rnnbook.dropout.dropout_masks`), reused at every step:
            (batch, input), one mask for all four gate blocks, ``a = (x_t * m) W_x^T + ...``;
            or (4, batch, input), gate block g (order i, f, c, o) reading ``x_t * m_g``. Keras
            draws one mask when ``recurrent_dropout`` is 0 and four when it is not (a nonzero
            ``recurrent_dropout`` switches the cell to ``implementation=1``).
        recurrent_dropout: None, or masks on ``h_{t-1}`` where it enters the recurrent product
            (Keras's ``recurrent_dropout``): (batch, hidden) shared, or (4, batch, hidden) one
            per gate block, ``a_g = ... + (h_{t-1} * m_g) W_h^g.T``; Keras draws four. The cell
            state is never dropped. The masks are cast to the computation dtype and do not
            change it.

    Returns:
        ``(H, C)``, both (batch, time, hidden): ``H`` is the output sequence (Keras's
        ``return_sequences=True``; ``H[:, -1]`` is the final output and, without a mask, the
        final hidden state) and ``C`` holds the cell state after every step (``C[:, -1]`` is
        the final cell state Keras returns with ``return_state=True``). float32 when every input
        is float32, float64 otherwise.
    """
    x, W_x, W_h, b, h0, c0, mask, drops, dtype = _prepare(x, W_x, W_h, b, h0, c0, mask,
                                                          input_dropout, recurrent_dropout)
    cell, _, m_tm, _ = _forward(x, W_x, W_h, b, h0, c0, mask, go_backwards, dtype,
                                drops=drops)
    return rec.outputs(cell.H, m_tm).transpose(1, 0, 2), cell.C.transpose(1, 0, 2)


def lstm_backward(x, W_x, W_h, b, dH, h0=None, c0=None, go_backwards: bool = False,
                  mask=None, input_dropout=None, recurrent_dropout=None, H=None,
                  C=None) -> dict:
    """Backpropagation through time for :func:`lstm_forward`.

    Given ``dH[:, t] = dL/d(output_t)``, the recursion runs from the last step to the first with
    two carried gradients, ``g_t = dL/dh_t`` and ``dL/dc_t``::

        dc_t   = dL/dc_t (carried) + g_t * o_t * (1 - tanh(c_t)**2)
        da_i   = dc_t * c~_t * i_t (1 - i_t)         da_f = dc_t * c_{t-1} * f_t (1 - f_t)
        da_c   = dc_t * i_t * (1 - c~_t**2)          da_o = g_t * tanh(c_t) * o_t (1 - o_t)
        dL/dh_{t-1} = da_t @ W_h,    dL/dc_{t-1} = dc_t * f_t       (the additive path)
        dW_x = sum_t da_t.T @ x_t,   dW_h = sum_t da_t.T @ h_{t-1},   db = sum_t sum_b da_t

    with ``da_t = [da_i, da_f, da_c, da_o]`` (batch, 4H). The computation runs in the promoted
    dtype of all arguments, ``dH`` included. With dropout masks, gate block g's sums read
    ``x_t * m_g`` and ``h_{t-1} * m_g``, and ``dx_t`` and ``dL/dh_{t-1}`` are the sums over the
    blocks of ``(da_g @ W^g) * m_g``.

    The backward pass needs every step's gates. Without ``H`` and ``C`` it runs the forward
    pass again and keeps them all, a (time, batch, 4H) array besides the states. Given the
    ``(H, C)`` that :func:`lstm_forward` returned, it keeps no gates: it recomputes them a
    block of steps at a time as it walks back (one product of the block's inputs and one of
    its ``h_{t-1}``, the same arithmetic as the forward pass, so the gradients are the same),
    and uses the caller's states without copying them (without a mask). At batch 256, 1000
    steps, 64 inputs and 256 units in float32 (``x`` and ``dH``: 0.35 GB), the peak memory
    of a process that keeps the forward results and runs the backward pass drops from 2.4 GiB
    to 0.97 GiB (the backward pass alone, without ``H`` and ``C``: 1.9 GiB).

    Args:
        x, W_x, W_h, b, h0, c0, go_backwards, mask, input_dropout, recurrent_dropout: as for
            :func:`lstm_forward`.
        dH: upstream gradients on the outputs, shape (batch, time, hidden), in processing order.
        H, C: optionally, the outputs and cell states :func:`lstm_forward` returned for these
            same arguments, each (batch, time, hidden); give both or neither.

    Returns:
        A dict with ``W_x`` (4H, input), ``W_h`` (4H, hidden), ``b`` (4H,), ``x`` (batch, time,
        input) in the original time order, ``h0`` and ``c0`` (batch, hidden).
    """
    x, W_x, W_h, b, h0, c0, mask, drops, dtype = _prepare(x, W_x, W_h, b, h0, c0, mask,
                                                          input_dropout, recurrent_dropout)
    batch, time, _ = x.shape
    shape = (batch, time, W_h.shape[1])
    dH = rec.check_upstream("dH", dH, shape)
    dtype = result_dtype(dtype, dH)
    check = {"dH": dH}
    if (H is None) != (C is None):
        raise ValueError(f"H and C must be given together (both from lstm_forward) or not at "
                         f"all; got H {'None' if H is None else np.shape(H)} and C "
                         f"{'None' if C is None else np.shape(C)}")
    if H is not None:
        check.update(H=rec.check_upstream("H", H, shape), C=rec.check_upstream("C", C, shape))
    cell, x1, m_tm, W_x_ = _forward(x, W_x, W_h, b, h0, c0, mask, go_backwards, dtype,
                                    keep=True, drops=drops,
                                    given=None if H is None else (check["H"], check["C"]))
    dWb, dx_tm, (dh0, dc0) = rec.run_backward(cell, x1, W_x_, dH.transpose(1, 0, 2), m_tm)
    dW_x, db, dx = rec.finish_backward(dWb, dx_tm, go_backwards, check, drops[0])
    return {"W_x": dW_x, "W_h": cell.dW_h, "b": db, "x": dx, "h0": dh0, "c0": dc0}
