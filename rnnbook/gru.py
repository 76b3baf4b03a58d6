"""The gated recurrent unit (GRU): one step, the forward pass, and its gradients.

Keras has two variants, selected by ``reset_after``. With column vectors, the gate blocks stacked
in Keras's order **z, r, h** (``W_x`` (3H, D), ``W_h`` (3H, H)), sigma the logistic sigmoid and
``*`` the elementwise product:

``reset_after=True`` (Keras's default, the cuDNN form), with an input bias ``b_x`` and a
recurrent bias ``b_h``, both (3H,)::

    m_x = W_x x_t + b_x,        m_h = W_h h_{t-1} + b_h              (3H,) each
    z_t = sigma(m_x^z + m_h^z)                                      update gate
    r_t = sigma(m_x^r + m_h^r)                                      reset gate
    h~_t = tanh(m_x^h + r_t * m_h^h)                                candidate
    h_t = z_t * h_{t-1} + (1 - z_t) * h~_t

``reset_after=False`` (the original formulation), with one bias ``b_x`` (3H,)::

    z_t = sigma(W_x^z x_t + W_h^z h_{t-1} + b_x^z)
    r_t = sigma(W_x^r x_t + W_h^r h_{t-1} + b_x^r)
    h~_t = tanh(W_x^h x_t + W_h^h (r_t * h_{t-1}) + b_x^h)
    h_t = z_t * h_{t-1} + (1 - z_t) * h~_t

Note that ``z_t`` weighs the *old* state, as in Keras. Keras's weights are ``kernel = W_x.T``,
``recurrent_kernel = W_h.T`` and ``bias`` = ``[b_x, b_h]`` of shape (2, 3H) (``reset_after=True``)
or ``b_x`` of shape (3H,). The time loop, masks and sums of the backward pass are shared with
SimpleRNN and LSTM (``rnnbook._recurrence``).
"""

from __future__ import annotations

import numpy as np

from . import _recurrence as rec
from ._checks import as_array, check_rank, result_dtype

__all__ = ["gru_step", "gru_forward", "gru_backward"]


class _GRUCell:
    """The GRU cell for the shared loop. ``P_t = x_t @ W_x.T + b_x`` arrives precomputed.

    Buffers, time-major: the projections ``P`` (time, batch, 3H), which the gates overwrite in
    place, so that ``ZR = P[..., :2H]`` holds ``[z_t, r_t]`` and ``HC = P[..., 2H:]`` the
    candidates ``h~_t`` (views, no copies); ``H`` the states; and for ``reset_after=True``
    ``MH`` = ``h_{t-1} @ W_h^h.T + b_h^h``. Kept for the backward pass, that is (time, batch,
    5H) numbers (4H without ``reset_after``).

    Built from the states a forward pass returned (``given = (H, x1, W_xb)``, time-major), the
    cell keeps no gates: :meth:`recompute` fills ``P`` (so ``ZR`` and ``HC``) and ``MH`` for one
    block of steps at a time, and ``offset`` (the block's first step) maps a step to its row in
    them.
    """

    def __init__(self, time, batch, W_h, b_h, h0, reset_after, dtype, keep, drop=None,
                 given=None):
        rows, n = W_h.shape
        self.hidden, self.W_h = n, W_h
        # rec.RecurrentDropout or None: the recurrent products read h_{t-1} * m_g; the carried
        # h_{t-1} in z h_{t-1} + (1 - z) h~ is never dropped.
        self.drop = drop
        self.reset_after = reset_after
        self.same_pq = not reset_after      # reset_after: the recurrent gradient has r * da_h
        # P arrives with the z and r rows halved (see _forward); W_h.T and b_h get the same, so
        # that sigma(a) = (tanh(a / 2) + 1) / 2 needs no extra pass. Halving is exact.
        scale = _gate_scale(n, dtype)
        W_hT = np.ascontiguousarray((W_h * scale[:, None]).T)        # (H, 3H)
        self.from_states, self.offset = given is not None, 0
        self.recomputes = self.from_states           # run_backward: recompute() per block
        if given is None:
            # keep: the gates of every step are kept for the backward pass, over the
            # projections; otherwise each step's projections and gates are worked on in small
            # reused buffers (see rec.run_forward), and step t uses slot 0 (contiguous gate
            # buffers: at small sizes NumPy is faster on them than on columns of P).
            self.projections = rec.Projections(time, batch, rows, dtype, keep)
            self.keep = keep
            if keep:
                self._views(self.projections.all)
            else:
                self.ZR = np.empty((1, batch, 2 * n), dtype)
                self.HC = np.empty((1, batch, n), dtype)
            self.MH = np.empty((time if keep else 1, batch, n), dtype) if reset_after else None
            self.H = np.empty((time, batch, n), dtype)
        else:
            self.H, self.x1, self.W_xb = given
            self.ZR = None                                  # one block's, see recompute
        if reset_after:
            self.W_hT, self.b_h = W_hT, b_h * scale
        else:
            self.W_hT_zr = np.ascontiguousarray(W_hT[:, :2 * n])
            self.W_hT_h = np.ascontiguousarray(W_hT[:, 2 * n:])
        self.initial = (np.zeros((batch, n), dtype) if h0 is None else h0,)
        self.scratch = np.empty((batch, rows), dtype)
        self.work = np.empty((batch, n), dtype)
        self.dW_h = np.zeros((rows, n), dtype)
        self.db_h = np.zeros(rows, dtype) if reset_after else None

    def _views(self, P):
        """``ZR`` and ``HC``: the gates' and the candidates' columns of ``P``, where the gates
        are computed in place."""
        self.P, self.ZR, self.HC = P, P[..., :2 * self.hidden], P[..., 2 * self.hidden:]

    def _product(self, h, W_T, out):
        """``out = h @ W_T``, or with recurrent dropout ``(h * m_g) @ W_T^g`` block by block."""
        if self.drop is None:
            rec.matmul_into(h, W_T, out)
        else:
            self.drop.product(h, W_T, out)

    def gates(self, p, h_prev, zr, hc, mh, MH):
        """``[z, r]`` into ``zr`` and ``h~`` into ``hc`` from the (halved) projections ``p`` and
        ``h_prev``: one step's (batch, ...) or a block of steps' (steps, batch, ...). ``zr``
        and ``hc`` may be p's own columns ``p[..., :2H]`` and ``p[..., 2H:]`` (the gates then
        overwrite the projections). ``mh`` (p's shape) is scratch; with ``reset_after``,
        ``MH`` receives ``m_h^h``."""
        n = self.hidden
        if self.reset_after:
            self._product(h_prev, self.W_hT, mh)
            mh += self.b_h                                           # m_h = h W_h^T + b_h
        else:
            self._product(h_prev, self.W_hT_zr, mh[..., :2 * n])
        np.add(p[..., :2 * n], mh[..., :2 * n], out=zr)
        np.tanh(zr, out=zr)
        zr *= 0.5
        zr += 0.5                                                    # z, r = sigma(...)
        rec_h = mh[..., 2 * n:]
        if self.reset_after:
            MH[...] = rec_h                                          # m_h^h
            if np.may_share_memory(hc, p):                           # r * m_h^h, added to p
                rec_h *= zr[..., n:]
                hc += rec_h
            else:                       # the same sum, on contiguous arrays (faster when small)
                np.multiply(zr[..., n:], MH, out=hc)
                hc += p[..., 2 * n:]
        else:
            h_h = h_prev if self.drop is None else h_prev * self.drop.mask(2)
            rec.matmul_into(zr[..., n:] * h_h, self.W_hT_h, rec_h)   # (r * h) W_h^h.T
            np.add(p[..., 2 * n:], rec_h, out=hc)
        np.tanh(hc, out=hc)                                          # h~_t

    def step(self, t, p, prev):
        (h_prev,) = prev
        n = self.hidden
        slot = t if self.keep else 0
        zr, hc, h = self.ZR[slot], self.HC[slot], self.H[t]
        self.gates(p, h_prev, zr, hc, self.scratch,
                   self.MH[slot] if self.reset_after else None)
        np.subtract(h_prev, hc, out=h)
        h *= zr[:, :n]
        h += hc                          # z h_{t-1} + (1 - z) h~ = h~ + z (h_{t-1} - h~)
        return (h,)

    def recompute(self, start, stop):
        """Gates and candidates of steps ``[start, stop)`` from the given states, into block
        buffers: one product for the inputs and one or two for ``h_{t-1}`` over the block."""
        k, batch, n = stop - start, self.x1.shape[1], self.hidden
        dtype = self.W_h.dtype
        if self.ZR is None or len(self.ZR) < k:              # the first block is the largest
            self._views(np.empty((k, batch, 3 * n), dtype))
            self.MH = np.empty((k, batch, n), dtype) if self.reset_after else None
            self.M = np.empty((k, batch, 3 * n), dtype)
        P = self.P[:k]
        rec.matmul_into(self.x1[start:stop], self.W_xb, P)
        prev = rec.previous(self.H, self.initial[0], start, stop)
        self.gates(P, prev, self.ZR[:k], self.HC[:k], self.M[:k],
                   self.MH[:k] if self.reset_after else None)
        self.offset = start

    def back_step(self, t, g, dp, dq):
        (gh,) = g
        n = self.hidden
        zr, hc = self.ZR[t - self.offset], self.HC[t - self.offset]
        z, r = zr[:, :n], zr[:, n:]
        h_prev = self.H[t - 1] if t > 0 else self.initial[0]
        w = self.work
        dh_prev = gh * z                                             # direct path
        da_z, da_r, da_h = dp[:, :n], dp[:, n:2 * n], dp[:, 2 * n:]
        np.subtract(h_prev, hc, out=da_z)
        da_z *= gh
        np.subtract(1.0, z, out=w)                                   # 1 - z
        da_z *= w
        da_z *= z                                                    # da_z
        np.multiply(hc, hc, out=da_h)
        np.subtract(1.0, da_h, out=da_h)
        da_h *= w
        da_h *= gh                                                   # da_h
        np.subtract(1.0, r, out=da_r)
        da_r *= r                                                    # sigma'(a_r)
        if self.reset_after:
            da_r *= self.MH[t - self.offset]
            da_r *= da_h                                             # da_r
            dq[:, :2 * n] = dp[:, :2 * n]
            np.multiply(da_h, r, out=dq[:, 2 * n:])
            if self.drop is None:
                dh_prev += dq @ self.W_h
            else:
                dh_prev += self.drop.back(dq, self.W_h)
        else:
            d_rh = da_h @ self.W_h[2 * n:]                           # dL/d(r * h_{t-1})
            da_r *= h_prev
            if self.drop is not None:
                da_r *= self.drop.mask(2)                            # h_{t-1} * m_h
            da_r *= d_rh                                             # da_r
            d_rh *= r
            if self.drop is None:
                dh_prev += d_rh
                dh_prev += dp[:, :2 * n] @ self.W_h[:2 * n]
            else:
                d_rh *= self.drop.mask(2)
                dh_prev += d_rh
                dh_prev += self.drop.back(dp[:, :2 * n], self.W_h[:2 * n])
        return [dh_prev]

    def accumulate(self, dq, start, stop):
        n = self.hidden
        k, batch, rows = dq.shape
        prev = rec.previous(self.H, self.initial[0], start, stop).reshape(k * batch, n)
        flat = dq.reshape(k * batch, rows)
        if self.drop is not None:
            self._accumulate_dropped(dq, flat, prev.reshape(k, batch, n), start, stop)
        elif self.reset_after:
            self.dW_h += flat.T @ prev
            self.db_h += flat.sum(axis=0)
        else:
            r = self.ZR[start - self.offset:stop - self.offset, :, n:].reshape(k * batch, n)
            self.dW_h[:2 * n] += flat[:, :2 * n].T @ prev
            self.dW_h[2 * n:] += flat[:, 2 * n:].T @ (r * prev)

    def _accumulate_dropped(self, dq, flat, prev, start, stop):
        """:meth:`accumulate` with recurrent dropout: block g reads ``h_{t-1} * m_g``."""
        n = self.hidden
        if self.reset_after:
            self.drop.accumulate(self.dW_h, dq, prev)
            self.db_h += flat.sum(axis=0)
        else:
            self.drop.accumulate(self.dW_h[:2 * n], dq[..., :2 * n], prev)
            r = self.ZR[start - self.offset:stop - self.offset, :, n:]
            r_h = r * prev * self.drop.mask(2)                               # r * h * m_h
            self.dW_h[2 * n:] += flat[:, 2 * n:].T @ r_h.reshape(-1, n)


def _gate_scale(hidden: int, dtype) -> np.ndarray:
    """1/2 for the rows of the sigmoid gates z, r and 1 for the candidate's: (3 * hidden,)."""
    scale = np.full(3 * hidden, 0.5, dtype=dtype)
    scale[2 * hidden:] = 1.0
    return scale


def _prepare(x, W_x, W_h, b_x, b_h, h0, mask, reset_after, input_dropout=None,
             recurrent_dropout=None):
    W_x, W_h, biases, hidden = rec.check_weights(W_x, W_h, {"b_x": b_x, "b_h": b_h}, 3,
                                                 "3 * hidden")
    b_x, b_h = biases["b_x"], biases["b_h"]
    if b_x is None:
        raise ValueError("b_x must be an array of shape (3 * hidden,); got None "
                         "(use zeros for a layer without a bias)")
    if reset_after and b_h is None:
        raise ValueError("b_h (the recurrent bias) is required when reset_after=True; got None")
    if not reset_after and b_h is not None:
        raise ValueError(f"b_h must be None when reset_after=False (Keras has one bias then); "
                         f"got an array of shape {b_h.shape}")
    x = rec.check_sequence(x, W_x)
    batch, time, _ = x.shape
    h0 = rec.check_state("h0", h0, batch, hidden)
    mask = rec.check_mask(mask, batch, time)
    drops = rec.check_dropouts(input_dropout, recurrent_dropout, 3, x.shape, hidden)
    arrays = [a for a in (x, W_x, W_h, b_x, b_h, h0) if a is not None]
    return x, W_x, W_h, b_x, b_h, h0, mask, drops, result_dtype(*arrays)


def _forward(x, W_x, W_h, b_x, b_h, h0, mask, reset_after, go_backwards, dtype, keep=False,
             drops=(None, None), given=None):
    """Unchecked forward pass: the filled cell, ``[x_t, 1]``, the mask and the input weights
    (those of the masked copies of ``x`` with ``input_dropout``), time-major.

    ``keep``: keep every step's gates, for :func:`gru_backward`. ``drops``: the checked
    dropout masks (input, recurrent), each (k, batch, size) or None. ``given``: the outputs a
    forward pass returned; then nothing is run, and the cell is set up to recompute its gates
    during the backward pass.
    """
    x1, m_tm, (W_x, W_h, b_x, b_h, h0) = rec.begin(x, mask, go_backwards, dtype,
                                                   W_x, W_h, b_x, b_h, h0,
                                                   input_dropout=drops[0])
    W_x = rec.dropout_weights(W_x, drops[0])
    scale = _gate_scale(W_h.shape[1], dtype)
    W_xb = rec.projection_matrix(W_x * scale[:, None], b_x * scale, dtype)  # z, r halved
    drop = rec.recurrent_dropout(drops[1], W_h.shape[1], dtype)
    if given is not None:
        states = (rec.given_states(given, m_tm, h0, dtype), x1, W_xb)
        cell = _GRUCell(x.shape[1], x.shape[0], W_h, b_h, h0, reset_after, dtype, False, drop,
                        states)
        return cell, x1, m_tm, W_x
    cell = _GRUCell(x.shape[1], x.shape[0], W_h, b_h, h0, reset_after, dtype, keep, drop)
    rec.run_forward(cell, x1, W_xb, m_tm)
    return cell, x1, m_tm, W_x


def gru_step(x_t, h_prev, W_x, W_h, b_x, b_h, reset_after: bool = True, input_dropout=None,
             recurrent_dropout=None) -> np.ndarray:
    """One GRU step for a batch (the module docstring gives both variants' equations).

    Computed by the same code as one step of :func:`gru_forward`.

    Args:
        x_t: inputs, shape (batch, input).
        h_prev: previous states, shape (batch, hidden).
        W_x: input weights, shape (3 * hidden, input), gate blocks z, r, h.
        W_h: recurrent weights, shape (3 * hidden, hidden).
        b_x: input bias, shape (3 * hidden,).
        b_h: recurrent bias, shape (3 * hidden,) when ``reset_after``; None otherwise.
        reset_after: Keras's ``reset_after`` (True by default, as in Keras).
        input_dropout, recurrent_dropout: as for :func:`gru_forward`.

    Returns:
        ``h_t``, shape (batch, hidden).
    """
    x_t = as_array("x_t", x_t)
    check_rank("x_t", x_t, 2, "(batch, input)")
    x, W_x, W_h, b_x, b_h, _, _, drops, dtype = _prepare(x_t[:, None], W_x, W_h, b_x, b_h,
                                                         None, None, reset_after,
                                                         input_dropout, recurrent_dropout)
    h_prev = rec.check_state("h_prev", h_prev, x_t.shape[0], W_h.shape[1])
    dtype = result_dtype(dtype, h_prev)
    cell, _, _, _ = _forward(x, W_x, W_h, b_x, b_h, h_prev, None, reset_after, False, dtype,
                             drops=drops)
    return cell.H[0]


def gru_forward(x, W_x, W_h, b_x, b_h, h0=None, reset_after: bool = True,
                go_backwards: bool = False, mask=None, input_dropout=None,
                recurrent_dropout=None) -> np.ndarray:
    """Run the GRU over whole sequences and return every output.

    The input projections ``x_t @ W_x.T + b_x`` of all steps are one matrix product; only the
    recurrent products and the gates stay in the loop over time.

    Args:
        x: input sequences, shape (batch, time, input).
        W_x, W_h, b_x, b_h, reset_after: as for :func:`gru_step`.
        h0: initial states, shape (batch, hidden), or None for zeros.
        go_backwards: read the sequences from the last step to the first; the outputs stay in
            that processing order, as in Keras.
        mask: None, or booleans (batch, time) in the original time order of ``x``. At a masked
            step the state is carried over unchanged; the output repeats the previous one (zeros
            before the first real step), as Keras returns it.
        input_dropout: None, or dropout masks on the inputs (Keras's ``dropout``), values 0 or
            1/(1 - rate), already scaled (:func:`~rnnbook.dropout.dropout_masks`), reused at every step:
            (batch, input), one mask for all three gate blocks; or (3, batch, input), gate
            block g (order z, r, h) reading ``x_t * m_g``. Keras draws one mask when
            ``recurrent_dropout`` is 0 and three when it is not (a nonzero
            ``recurrent_dropout`` switches the cell to ``implementation=1``).
        recurrent_dropout: None, or masks on ``h_{t-1}`` where it enters the recurrent
            products (Keras's ``recurrent_dropout``): (batch, hidden) shared, or (3, batch,
            hidden) one per gate block, as Keras draws them. Block g reads
            ``(h_{t-1} * m_g) W_h^g.T`` (``reset_after=True``); with ``reset_after=False`` the
            candidate reads ``(r_t * h_{t-1} * m_h) W_h^h.T``. The carried ``h_{t-1}`` in
            ``h_t = z_t * h_{t-1} + (1 - z_t) * h~_t`` is never dropped. The masks are cast
            to the computation dtype and do not change it.

    Returns:
        The outputs, shape (batch, time, hidden) (``return_sequences=True``); float32 when every
        input is float32, float64 otherwise.
    """
    x, W_x, W_h, b_x, b_h, h0, mask, drops, dtype = _prepare(x, W_x, W_h, b_x, b_h, h0, mask,
                                                             reset_after, input_dropout,
                                                             recurrent_dropout)
    cell, _, m_tm, _ = _forward(x, W_x, W_h, b_x, b_h, h0, mask, reset_after, go_backwards,
                                dtype, drops=drops)
    return rec.outputs(cell.H, m_tm).transpose(1, 0, 2)


def gru_backward(x, W_x, W_h, b_x, b_h, dH, h0=None, reset_after: bool = True,
                 go_backwards: bool = False, mask=None, input_dropout=None,
                 recurrent_dropout=None, H=None) -> dict:
    """Backpropagation through time for :func:`gru_forward`.

    Given ``dH[:, t] = dL/d(output_t)`` and the carried ``g_t = dL/dh_t``, one step back reads::

        da_z = g_t * (h_{t-1} - h~_t) * z_t (1 - z_t)
        da_h = g_t * (1 - z_t) * (1 - h~_t**2)                  (pre-activation of h~_t)
        reset_after=True:   da_r = da_h * m_h^h * r_t (1 - r_t)
            the recurrent product sees dm_h = [da_z, da_r, r_t * da_h], so
            dL/dh_{t-1} = g_t * z_t + dm_h @ W_h,   dW_h += dm_h.T @ h_{t-1},  db_h += sum dm_h
        reset_after=False:  d(r h) = da_h @ W_h^h,   da_r = d(r h) * h_{t-1} * r_t (1 - r_t)
            dL/dh_{t-1} = g_t * z_t + d(r h) * r_t + [da_z, da_r] @ W_h^{zr}
            dW_h^{zr} += [da_z, da_r].T @ h_{t-1},   dW_h^h += da_h.T @ (r_t * h_{t-1})

    and, for both, ``dW_x = sum_t da_t.T @ x_t`` and ``db_x = sum_t sum_b da_t`` with
    ``da_t = [da_z, da_r, da_h]``. The computation runs in the promoted dtype of all arguments.
    With dropout masks, gate block g's sums read ``x_t * m_g`` and ``h_{t-1} * m_g`` in place of
    ``x_t`` and ``h_{t-1}``, and the gradients that flow into ``x_t`` and (through the recurrent
    products) into ``h_{t-1}`` are multiplied by the same masks; the direct path
    ``g_t * z_t`` is not.

    The backward pass needs every step's gates. Without ``H`` it runs the forward pass again and
    keeps them all, written over the projections, with the states and (``reset_after=True``)
    ``m_h^h``: (time, batch, 5H) numbers. Given the outputs ``H`` that :func:`gru_forward`
    returned, it keeps no gates: it recomputes them a block of steps at a time as it walks back
    (the same arithmetic as the forward pass, so the gradients are the same), and uses the
    caller's states without copying them (without a mask). At batch 256, 1000 steps, 64 inputs
    and 256 units in float32 (``x`` and ``dH``: 0.35 GB), the peak memory of a process that
    keeps the forward results and runs the backward pass drops from 1.95 GiB to 0.73 GiB (the
    backward pass alone, without ``H``: 1.7 GiB).

    Args:
        x, W_x, W_h, b_x, b_h, h0, reset_after, go_backwards, mask: as for :func:`gru_forward`.
        input_dropout, recurrent_dropout: as for :func:`gru_forward`.
        dH: upstream gradients on the outputs, shape (batch, time, hidden), in processing order.
        H: optionally, the outputs :func:`gru_forward` returned for these same arguments,
            (batch, time, hidden).

    Returns:
        A dict with ``W_x`` (3H, input), ``W_h`` (3H, hidden), ``b_x`` (3H,), ``b_h`` (3H,)
        or None when ``b_h`` is None, ``x`` (batch, time, input) in the original time order,
        and ``h0`` (batch, hidden).
    """
    x, W_x, W_h, b_x, b_h, h0, mask, drops, dtype = _prepare(x, W_x, W_h, b_x, b_h, h0, mask,
                                                             reset_after, input_dropout,
                                                             recurrent_dropout)
    batch, time, _ = x.shape
    dH = rec.check_upstream("dH", dH, (batch, time, W_h.shape[1]))
    dtype = result_dtype(dtype, dH)
    check = {"dH": dH}
    if H is not None:
        check["H"] = H = rec.check_upstream("H", H, (batch, time, W_h.shape[1]))
    cell, x1, m_tm, W_x_ = _forward(x, W_x, W_h, b_x, b_h, h0, mask, reset_after, go_backwards,
                                    dtype, keep=True, drops=drops, given=H)
    dWb, dx_tm, (dh0,) = rec.run_backward(cell, x1, W_x_, dH.transpose(1, 0, 2), m_tm)
    dW_x, db_x, dx = rec.finish_backward(dWb, dx_tm, go_backwards, check, drops[0])
    return {"W_x": dW_x, "W_h": cell.dW_h, "b_x": db_x, "b_h": cell.db_h, "x": dx, "h0": dh0}
