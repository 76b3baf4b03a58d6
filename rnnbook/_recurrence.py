"""The one time loop that SimpleRNN, LSTM and GRU share: forward, backward and masking.

Every recurrent layer of the book has the same skeleton. The input side of each step, an affine
map of ``x_t``, does not depend on the recurrence, so it is computed for all steps at once:

    P_t = x_t @ W_x.T + b_x                    (batch, G),   G = gates * hidden

Only the recurrent side stays inside the loop, where a *cell* turns ``P_t`` and the previous
states into the new ones. A mask ``m_t`` (1 for a real step, 0 for padding) is applied the way
Keras applies it: at a masked step every state is carried over unchanged,

    s_t = m_t * cell(P_t, s_{t-1}) + (1 - m_t) * s_{t-1},

and the returned output repeats the previous one, which is zero until the first real step.
Because the output is the hidden state itself, the output at step t is ``h_t`` once any real
step has been read and zero before.

The backward pass walks the same loop in reverse. The cell turns the gradient on its new states
into the gradient on ``P_t`` (and on its recurrent pre-activations); this module sums those into
``dW_x``, ``db_x`` and ``dx`` a block of steps at a time, as a few large matrix products, while
the block is still in cache. Arrays here are time-major, (time, batch, ...), so that one step's
slice is contiguous. Nothing here checks its arguments: the public functions of ``rnn.py``,
``lstm.py`` and ``gru.py`` do that once, at their entry point.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array, check_dim, check_rank, check_shape_matches

#: The backward pass works through time in blocks of about this many bytes of gate gradients
#: and adds each block into the weight gradients with a few matrix products over all of its
#: steps. Larger blocks make fewer, larger products, which BLAS runs faster: at the shape
#: (256, 100, 64 -> 256), 8 MiB blocks made gru_backward about 12% and lstm_backward 3-6%
#: faster than 1 MiB blocks did, with no change at small shapes. Only the speed changes, and
#: the rounding of those sums over time (they are grouped differently).
BLOCK_BYTES = 1 << 23

#: The forward pass computes the input projections of this many bytes' worth of steps at a time
#: when it need not keep them (no backward pass follows), so they are still in cache when the
#: loop uses them.
PROJECTION_BYTES = 1 << 21


# ----------------------------------------------------------------------------------------------
# Checks shared by the public entry points
# ----------------------------------------------------------------------------------------------
def check_weights(W_x, W_h, biases: dict, gates: int, label: str):
    """Validate ``W_x`` (gates*H, D), ``W_h`` (gates*H, H) and 1-d biases of length gates*H.

    ``biases`` maps each bias's argument name to its value (None is allowed and kept). ``label``
    spells out the gate blocks, e.g. "4 * hidden" or "(i, f, c, o)".
    """
    W_x = as_array("W_x", W_x)
    W_h = as_array("W_h", W_h)
    check_rank("W_x", W_x, 2, f"({label}, input)")
    check_rank("W_h", W_h, 2, f"({label}, hidden)")
    rows = W_x.shape[0]
    if rows % gates or rows == 0:
        raise ValueError(f"W_x must have {label} rows, a positive multiple of {gates} (at least "
                         f"one hidden unit); got shape {W_x.shape}")
    hidden = rows // gates
    check_shape_matches("W_h", W_h, (rows, hidden), f"({label}, hidden)", "W_x", W_x.shape)
    checked = {}
    for name, b in biases.items():
        if b is None:
            checked[name] = None
            continue
        b = as_array(name, b)
        check_rank(name, b, 1, f"({label},)")
        check_shape_matches(name, b, (rows,), f"({label},)", "W_x", W_x.shape)
        checked[name] = b
    return W_x, W_h, checked, hidden


def check_sequence(x, W_x):
    """Validate ``x`` (batch, time, input) against ``W_x`` (rows, input)."""
    x = as_array("x", x)
    check_rank("x", x, 3, "(batch, time, input)")
    check_dim("x", x.shape[2], W_x.shape[1],
              f"input size of x {x.shape} must equal W_x.shape[1] for W_x {W_x.shape}")
    if x.shape[1] == 0:
        raise ValueError(f"x must contain at least one time step; got shape {x.shape}")
    return x


def check_state(name: str, h, batch: int, hidden: int):
    """Validate an initial state of shape (batch, hidden); None stays None."""
    if h is None:
        return None
    h = as_array(name, h)
    if h.shape != (batch, hidden):
        raise ValueError(
            f"{name} must have shape (batch, hidden) = ({batch}, {hidden}); got {h.shape}"
        )
    return h


def check_mask(mask, batch: int, time: int):
    """Validate a (batch, time) mask of booleans or of 0s and 1s (integer or floating, the
    rule :func:`~rnnbook.bidirectional.layer_forward` uses too); None stays None."""
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"mask must be a boolean (batch, time) array; got dtype {arr.dtype} "
                        f"with shape {arr.shape}")
    if arr.shape != (batch, time):
        raise ValueError(f"mask must have shape (batch, time) = ({batch}, {time}) to match x; "
                         f"got {arr.shape}")
    if arr.dtype.kind != "b" and not np.all((arr == 0) | (arr == 1)):
        raise ValueError("mask must contain only 0/1 or True/False values")
    return arr.astype(bool)


def check_upstream(name: str, d, shape: tuple):
    """Validate an upstream gradient such as ``dH``; NaN and inf are looked for later."""
    d = as_array(name, d, finite=False)
    if d.shape != shape:
        raise ValueError(f"{name} must have shape (batch, time, hidden) = {shape}; got {d.shape}")
    return d


def check_dropout(name: str, mask, gates: int, batch: int, size: int, what: str):
    """Validate a dropout mask: (batch, size), one mask shared by all gate blocks, or (gates,
    batch, size), one per gate block. Returns it as (count, batch, size), count 1 or ``gates``;
    None stays None. ``what`` names the size ("input" or "hidden")."""
    if mask is None:
        return None
    m = as_array(name, mask)
    if m.shape == (batch, size):
        return m[None]
    if m.shape == (gates, batch, size):
        return m
    raise ValueError(f"{name} must have shape (batch, {what}) = ({batch}, {size}) or (gates, "
                     f"batch, {what}) = ({gates}, {batch}, {size}); got {m.shape}")


def check_dropouts(input_dropout, recurrent_dropout, gates: int, x_shape: tuple, hidden: int):
    """:func:`check_dropout` for the input and the recurrent masks of ``x`` (batch, time, input)."""
    batch, _, inputs = x_shape
    return (check_dropout("input_dropout", input_dropout, gates, batch, inputs, "input"),
            check_dropout("recurrent_dropout", recurrent_dropout, gates, batch, hidden, "hidden"))


# ----------------------------------------------------------------------------------------------
# Small kernels
# ----------------------------------------------------------------------------------------------
def matmul_into(a: np.ndarray, W: np.ndarray, out: np.ndarray) -> None:
    """``out = a @ W`` as one 2-d product, for one step's rows (batch, k) or a block of steps
    (steps, batch, k); ``out`` receives (..., W.shape[1]). A C-contiguous 3-d ``out`` gets
    one product over all the block's rows; any other, one product per step."""
    if a.ndim == 2 or not out.flags.c_contiguous:
        np.matmul(a, W, out=out)
        return
    np.matmul(a.reshape(-1, a.shape[-1]), W, out=out.reshape(-1, out.shape[-1]))


def sigmoid_(a: np.ndarray) -> np.ndarray:
    """Logistic sigmoid in place, as ``0.5 * tanh(a / 2) + 0.5`` (no overflow for any a)."""
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


def with_ones(x_tm: np.ndarray, dtype, input_dropout=None) -> np.ndarray:
    """``[x_t, 1]`` for every step: shape (time, batch, input + 1), C-contiguous.

    The column of ones lets one matrix product add the bias, ``[x_t, 1] @ [[W_x.T], [b]] =
    x_t @ W_x.T + b`` (and, backwards, sum the gate gradients into ``db``). It also keeps the
    inner dimension above 1: NumPy does an (n, 1) @ (1, m) product without BLAS, slowly.

    With dropout masks ``input_dropout`` (k, batch, input) the row is ``[x_t * m_1, ...,
    x_t * m_k, 1]``, shape (time, batch, k * input + 1): multiplied with the block-structured
    weights of :func:`dropout_weights`, gate block j sees the inputs through its own mask.
    """
    time, batch, inputs = x_tm.shape
    if input_dropout is None:
        x1 = np.empty((time, batch, inputs + 1), dtype=dtype)
        x1[..., :inputs] = x_tm
    else:
        x1 = np.empty((time, batch, len(input_dropout) * inputs + 1), dtype=dtype)
        for j, m in enumerate(input_dropout):
            np.multiply(x_tm, m, out=x1[..., j * inputs:(j + 1) * inputs])
    x1[..., -1] = 1.0
    return x1


def dropout_weights(W_x: np.ndarray, input_dropout) -> np.ndarray:
    """The input weights that go with :func:`with_ones`'s masked copies of ``x_t``.

    ``W_x`` itself (rows, input) without masks or with one shared mask; for one mask per gate
    block, the block-structured (rows, k * input) matrix whose gate block j of rows reads only
    the j-th copy ``x_t * m_j``, so that one product gives every block's ``(x_t * m_j) @ W_x^j.T``.
    """
    if input_dropout is None or len(input_dropout) == 1:
        return W_x
    k = len(input_dropout)
    rows, inputs = W_x.shape
    n = rows // k
    W = np.zeros((rows, k * inputs), dtype=W_x.dtype)
    for j in range(k):
        W[j * n:(j + 1) * n, j * inputs:(j + 1) * inputs] = W_x[j * n:(j + 1) * n]
    return W


def projection_matrix(W_x: np.ndarray, b: np.ndarray, dtype) -> np.ndarray:
    """``[[W_x.T], [b]]``, shape (input + 1, rows): ``[x_t, 1]`` times it is ``x_t @ W_x.T + b``."""
    W_xb = np.empty((W_x.shape[1] + 1, W_x.shape[0]), dtype=dtype)
    W_xb[:-1] = W_x.T
    W_xb[-1] = b
    return W_xb


def time_major(x: np.ndarray, mask, go_backwards: bool):
    """``x`` (batch, time, input) and ``mask`` (batch, time) in processing order, time-major.

    Returns the inputs (time, batch, input) as a view and the mask as (time, batch, 1) booleans
    (or None), both reversed in time when ``go_backwards``: Keras reverses the mask together with
    the input.
    """
    if not isinstance(go_backwards, (bool, np.bool_)):
        raise ValueError(f"go_backwards must be True or False; got {go_backwards!r}")
    x_tm = x.transpose(1, 0, 2)
    m_tm = None if mask is None else mask.T[..., None]
    if go_backwards:
        x_tm = x_tm[::-1]
        m_tm = None if m_tm is None else m_tm[::-1]
    return x_tm, m_tm


def begin(x: np.ndarray, mask, go_backwards: bool, dtype, *arrays, input_dropout=None):
    """What every forward pass starts from: ``[x_t, 1]`` and the mask in processing order,
    time-major (:func:`time_major`, :func:`with_ones`), and ``arrays`` cast to ``dtype`` (None
    stays None). Returns ``(x1, m_tm, cast_arrays)``. With ``input_dropout`` (k, batch, input),
    ``x1`` holds the k masked copies of the inputs (:func:`with_ones`)."""
    x_tm, m_tm = time_major(x, mask, go_backwards)
    cast = [None if a is None else a.astype(dtype, copy=False) for a in arrays]
    if input_dropout is not None:
        input_dropout = input_dropout.astype(dtype, copy=False)
    return with_ones(x_tm, dtype, input_dropout), m_tm, cast


class RecurrentDropout:
    """Dropout masks on ``h_{t-1}`` where it enters the recurrent product (Keras's
    ``recurrent_dropout``): ``masks`` (k, batch, hidden), one shared mask (k = 1) or one per gate
    block (k = gates). Gate block g of the product reads ``(h_{t-1} * m_g) @ W_h^g.T``.

    The cells call these three methods in place of their plain products, so each cell's math
    is written once; without masks they do not use this class at all.
    """

    def __init__(self, masks: np.ndarray, hidden: int):
        self.masks, self.hidden = masks, hidden

    def mask(self, gate: int) -> np.ndarray:
        """The mask of gate block ``gate``, (batch, hidden)."""
        return self.masks[0 if len(self.masks) == 1 else gate]

    def _groups(self, first: int, width: int):
        """(mask, column slice) for the gate blocks ``first, first + 1, ...`` that a product
        ``width`` columns wide covers: one group when the mask is shared."""
        n = self.hidden
        if len(self.masks) == 1:
            return [(self.masks[0], slice(0, width))]
        return [(self.masks[first + j], slice(j * n, (j + 1) * n)) for j in range(width // n)]

    def product(self, h_prev, W_hT, out, first: int = 0) -> None:
        """``out = (h_{t-1} * m_g) @ W_hT`` block of columns by block; ``W_hT`` (hidden,
        width) holds gate blocks ``first, first + 1, ...``. ``h_prev`` is one step's (batch,
        hidden) or a block of steps' (steps, batch, hidden), and ``out`` likewise."""
        for m, cols in self._groups(first, W_hT.shape[1]):
            np.matmul(h_prev * m, W_hT[:, cols], out=out[..., cols])

    def back(self, dq, W_h, first: int = 0) -> np.ndarray:
        """dL/dh_{t-1} through the product: ``sum_g (dq_g @ W_h^g) * m_g``, (batch, hidden)."""
        total = None
        for m, cols in self._groups(first, dq.shape[1]):
            d = dq[:, cols] @ W_h[cols]
            d *= m
            total = d if total is None else np.add(total, d, out=total)
        return total

    def accumulate(self, dW_h, dq, prev, first: int = 0) -> None:
        """``dW_h^g += sum_t dq_g.T @ (h_{t-1} * m_g)`` for a block of steps: ``dq`` (steps,
        batch, width), ``prev`` (steps, batch, hidden) the states before them."""
        steps, batch, _ = dq.shape
        for m, cols in self._groups(first, dq.shape[2]):
            dropped = (prev * m).reshape(steps * batch, self.hidden)
            dW_h[cols] += dq[..., cols].reshape(steps * batch, -1).T @ dropped


def recurrent_dropout(masks, hidden: int, dtype):
    """A :class:`RecurrentDropout` for checked ``masks`` (k, batch, hidden), or None."""
    return None if masks is None else RecurrentDropout(masks.astype(dtype, copy=False), hidden)


def seen(m_tm: np.ndarray) -> np.ndarray:
    """Whether a real step has been read at or before each step: (time, batch, 1) booleans."""
    return np.logical_or.accumulate(m_tm, axis=0)


# ----------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------
def run_forward(cell, x1: np.ndarray, W_xb: np.ndarray, m_tm) -> None:
    """Run ``cell`` over all steps; the cell keeps every step's states in its own buffers.

    The input side ``P_t = [x_t, 1] @ W_xb`` is computed a block of steps at a time, as one
    matrix product per block, into the buffer ``cell.projections(start, stop)`` returns: the
    cell's own storage for all steps when the backward pass will need it, or a small reusable
    buffer (``PROJECTION_BYTES``) that stays in cache when only the outputs are wanted.
    ``cell.step(t, P_t, prev)`` then works on ``P_t`` in place, writes the states after step t
    into its buffers and returns them as a tuple (hidden state first); ``cell.initial`` is the
    tuple of initial states. At a masked step the new states are overwritten with the previous
    ones, in place.
    """
    time, batch, inputs1 = x1.shape
    rows = W_xb.shape[1]
    block = int(max(1, min(time, PROJECTION_BYTES // max(1, batch * rows * x1.itemsize))))
    prev = cell.initial
    for start in range(0, time, block):
        stop = min(time, start + block)
        P = cell.projections(start, stop)                          # (stop - start, batch, rows)
        np.matmul(x1[start:stop].reshape(-1, inputs1), W_xb, out=P.reshape(-1, rows))
        for t in range(start, stop):
            new = cell.step(t, P[t - start], prev)
            if m_tm is not None:
                carry = ~m_tm[t]
                for s_new, s_prev in zip(new, prev):
                    np.copyto(s_new, s_prev, where=carry)
            prev = new


class Projections:
    """Where a cell's input projections go: all steps kept (``keep``), or one reused block."""

    def __init__(self, time: int, batch: int, rows: int, dtype, keep: bool):
        self.keep = keep
        if keep:
            self.all = np.empty((time, batch, rows), dtype)
        else:
            block = int(max(1, min(time, PROJECTION_BYTES // max(1, batch * rows
                                                                       * np.dtype(dtype).itemsize))))
            self.block = np.empty((block, batch, rows), dtype)

    def __call__(self, start: int, stop: int) -> np.ndarray:
        return self.all[start:stop] if self.keep else self.block[:stop - start]


def given_states(H: np.ndarray, m_tm, h0, dtype) -> np.ndarray:
    """The hidden states behind the outputs ``H`` (batch, time, hidden) that a forward pass
    returned, time-major (time, batch, hidden) in ``dtype``: the outputs themselves, except
    before the first real step of a masked sequence, where the outputs are zero and the state
    is still ``h0`` (None for zeros). Outputs straight from a forward pass without a mask (a
    transposed view of a time-major array) are used as they are, not copied."""
    states = H.transpose(1, 0, 2)
    if m_tm is not None or states.dtype != dtype or not states.flags.c_contiguous:
        states = np.array(states, dtype=dtype)
    if m_tm is not None:
        np.copyto(states, 0 if h0 is None else h0, where=~seen(m_tm))
    return states


def outputs(H_tm: np.ndarray, m_tm) -> np.ndarray:
    """The returned sequence: the hidden states, zeroed before the first real step."""
    if m_tm is not None:
        H_tm = np.where(seen(m_tm), H_tm, 0).astype(H_tm.dtype, copy=False)
    return H_tm


def run_backward(cell, x1: np.ndarray, W_x: np.ndarray, dOut_tm: np.ndarray, m_tm):
    """Backpropagation through time for :func:`run_forward`, after it has filled ``cell``.

    ``dOut_tm`` (time, batch, hidden) is dL/d(output_t). ``cell.back_step(t, g, dp, dq)`` takes
    the gradients ``g`` on the step's new states (a list, hidden state first), writes the
    gradient on ``P_t`` into ``dp`` and on the recurrent pre-activations into ``dq`` (the same
    array for cells whose recurrent product adds straight into ``P_t``), and returns the gradients
    on the previous states. ``cell.accumulate(dq_block, start, stop)`` adds one block of steps to
    its recurrent weight gradients. A cell that has not kept everything it needs
    (``cell.recomputes``) forms the rest for one block of steps, ``cell.recompute(start,
    stop)``, before the block is walked back: all the gates, from ``h_{t-1}`` and as a few
    matrix products over the whole block, for a cell built from the states a forward pass
    returned (``cell.from_states``); only ``tanh(c_t)`` for an LSTM that kept its gates.

    Returns ``(dW_xb, dx_tm, dstates0)``: ``[dW_x, db_x]`` of shape (rows, input + 1), the input
    gradients (time, batch, input) and the gradients on the initial states.
    """
    time, batch, inputs1 = x1.shape
    rows = W_x.shape[0]
    dtype = x1.dtype
    block = int(max(1, min(time, BLOCK_BYTES // max(1, batch * rows * np.dtype(dtype).itemsize))))
    dP = np.empty((block, batch, rows), dtype=dtype)
    dQ = dP if cell.same_pq else np.empty_like(dP)
    dWb = np.zeros((rows, inputs1), dtype=dtype)
    dx_tm = np.empty((time, batch, inputs1 - 1), dtype=dtype)
    dOut = dOut_tm if m_tm is None else np.where(seen(m_tm), dOut_tm, 0)
    carry = [np.zeros((batch, cell.hidden), dtype=dtype) for _ in cell.initial]
    recompute = getattr(cell, "recomputes", False)
    # inf - inf and 0 * inf (invalid) only happen once something is already infinite: an
    # overflow, which NumPy reports, or a bad input, which the caller reports by name.
    with np.errstate(invalid="ignore"):
        for stop in range(time, 0, -block):
            start = max(0, stop - block)
            n = stop - start
            if recompute:
                cell.recompute(start, stop)
            for t in range(stop - 1, start - 1, -1):
                g = [carry[0] + dOut[t]] + carry[1:]
                if m_tm is None:
                    carry = cell.back_step(t, g, dP[t - start], dQ[t - start])
                else:
                    m = m_tm[t]
                    back = cell.back_step(t, [gi * m for gi in g], dP[t - start], dQ[t - start])
                    carry = [d + np.where(m, 0, gi) for d, gi in zip(back, g)]
            flat = dP[:n].reshape(n * batch, rows)
            dWb += flat.T @ x1[start:stop].reshape(n * batch, inputs1)
            np.matmul(flat, W_x, out=dx_tm[start:stop].reshape(n * batch, inputs1 - 1))
            cell.accumulate(dQ[:n], start, stop)
    return dWb, dx_tm, carry


def previous(states_tm: np.ndarray, initial: np.ndarray, start: int, stop: int) -> np.ndarray:
    """States ``s_{t-1}`` for ``t`` in ``[start, stop)``: (stop - start, batch, hidden)."""
    if start > 0:
        return states_tm[start - 1:stop - 1]
    return np.concatenate([initial[None], states_tm[:stop - 1]])


def finish_backward(dWb: np.ndarray, dx_tm: np.ndarray, go_backwards: bool,
                    check: dict, input_dropout=None) -> tuple:
    """Split ``[dW_x, db_x]``, put ``dx`` back in the original time order, check finiteness.

    ``check`` maps argument names to arrays that are scanned for NaN/inf (to name the culprit)
    only when the gradients turn out not to be finite. With ``input_dropout`` (k, batch, input),
    ``dWb`` and ``dx_tm`` are those of the masked copies (:func:`with_ones`): the diagonal blocks
    of ``dWb`` are ``dW_x``, and ``dx = sum_j dx_j * m_j``.
    """
    if input_dropout is not None:
        dWb, dx_tm = _through_input_dropout(dWb, dx_tm, input_dropout)
    inputs = dx_tm.shape[2]
    dW_x = np.ascontiguousarray(dWb[:, :inputs])
    db = np.ascontiguousarray(dWb[:, inputs])
    dx = (dx_tm[::-1] if go_backwards else dx_tm).transpose(1, 0, 2)
    if not np.all(np.isfinite(db)):
        # A NaN or inf anywhere upstream reaches db, the column sums of the gate gradients; only
        # then is it worth scanning the large arrays. Finite inputs can still overflow (an
        # exploding gradient), and then the infinite gradients are returned.
        for arg, value in check.items():
            as_array(arg, value)
    return dW_x, db, dx


def _through_input_dropout(dWb: np.ndarray, dx_tm: np.ndarray, masks: np.ndarray) -> tuple:
    """The gradients on ``W_x``, ``b`` and ``x`` from those on the masked copies of ``x``."""
    k, _, inputs = masks.shape
    masks = masks.astype(dx_tm.dtype, copy=False)
    dx = dx_tm[..., :inputs] * masks[0]
    for j in range(1, k):
        dx += dx_tm[..., j * inputs:(j + 1) * inputs] * masks[j]
    if k == 1:
        return dWb, dx
    rows = dWb.shape[0]
    n = rows // k
    diagonal = np.empty((rows, inputs + 1), dtype=dWb.dtype)
    for j in range(k):
        diagonal[j * n:(j + 1) * n, :inputs] = dWb[j * n:(j + 1) * n, j * inputs:(j + 1) * inputs]
    diagonal[:, inputs] = dWb[:, -1]
    return diagonal, dx
