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

from ._checks import as_array, check_dim, check_rank, check_shape_matches, result_dtype

__all__ = ["rnn_step", "rnn_forward", "rnn_backward"]

#: rnn_backward works through time in blocks of about this many bytes of ``da`` (well inside a
#: core's L2 cache on current CPUs), so each block is still in cache when it is multiplied into
#: the weight gradients. Any value gives the same result; only the speed changes.
BLOCK_BYTES = 1 << 20


def _check_weights(W_x, W_h, b_h):
    W_x = as_array("W_x", W_x)
    W_h = as_array("W_h", W_h)
    b_h = as_array("b_h", b_h)
    check_rank("W_x", W_x, 2, "(hidden, input)")
    check_rank("W_h", W_h, 2, "(hidden, hidden)")
    check_rank("b_h", b_h, 1, "(hidden,)")
    hidden = W_x.shape[0]
    check_shape_matches("W_h", W_h, (hidden, hidden), "(hidden, hidden)", "W_x", W_x.shape)
    check_shape_matches("b_h", b_h, (hidden,), "(hidden,)", "W_x", W_x.shape)
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


def _inputs_with_ones(x, dtype) -> np.ndarray:
    """``[x_t, 1]`` for every step, time-major: shape (time, batch, input + 1), C-contiguous.

    The column of ones lets one matrix product add the bias, ``[x_t, 1] @ [[W_x.T], [b_h]] =
    x_t @ W_x.T + b_h`` (and, in the backward pass, sum ``da_t`` into ``db_h``), which saves a
    separate pass over a (time, batch, hidden) array. It also keeps the product's inner
    dimension above 1: NumPy's matmul does an (n, 1) @ (1, m) product without BLAS, slowly.
    """
    batch, time, inputs = x.shape
    x1 = np.empty((time, batch, inputs + 1), dtype=dtype)
    x1[..., :inputs] = x.transpose(1, 0, 2)
    x1[..., inputs] = 1.0
    return x1


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
    batch, time, inputs = x.shape
    hidden = W_x.shape[0]
    # Work time-major, (time, batch, hidden): each step's slice states[t] is one contiguous
    # block, which BLAS and the element-wise ufuncs stream through fastest. The states are
    # returned as a transposed view, so no copy is made on the way out.
    states = np.empty((time, batch, hidden), dtype=dtype)
    W_xb = np.empty((inputs + 1, hidden), dtype=dtype)                  # [[W_x.T], [b_h]]
    W_xb[:inputs] = W_x.T
    W_xb[inputs] = b_h
    np.matmul(_inputs_with_ones(x, dtype).reshape(time * batch, inputs + 1), W_xb,
              out=states.reshape(time * batch, hidden))                 # x_t W_x^T + b_h, all t
    W_hT = np.ascontiguousarray(W_h.T, dtype=dtype)
    if h0 is not None:
        states[0] += h0.astype(dtype, copy=False) @ W_hT
    np.tanh(states[0], out=states[0])
    scratch = np.empty((batch, hidden), dtype=dtype)
    for t in range(1, time):  # in place: no temporaries inside the loop
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

    Only the carried gradient is sequential. The sums over time in ``dW_x``, ``dW_h``, ``db_h``
    and the products ``dx_t`` are formed a block of steps at a time (see ``BLOCK_BYTES``), as a
    few large matrix products over all of the block's steps and sequences at once.

    Args:
        x, W_x, W_h, b_h, h0, go_backwards: as for :func:`rnn_forward`.
        dH: upstream gradients, shape (batch, time, hidden), in the same (processing) order as
            the states :func:`rnn_forward` returns.
        H: optionally, the states ``rnn_forward`` already returned for these arguments, to save
            recomputing them, shape (batch, time, hidden).

    Returns:
        A dict of gradients in the book's notation and shapes: ``W_x`` (hidden, input),
        ``W_h`` (hidden, hidden), ``b_h`` (hidden,), ``x`` (batch, time, input) in the original
        time order of ``x``, and ``h0`` (batch, hidden). Like the states of :func:`rnn_forward`,
        ``x`` may be a non-contiguous view.
    """
    x, W_x, W_h, b_h, h0, dtype = _prepare(x, W_x, W_h, b_h, h0)
    batch, time, inputs = x.shape
    hidden = W_x.shape[0]
    # NaN and inf are looked for at the end, only if the gradients are not finite (below).
    dH = as_array("dH", dH, finite=False)
    if dH.shape != (batch, time, hidden):
        raise ValueError(
            f"dH must have shape (batch, time, hidden) = ({batch}, {time}, {hidden}); "
            f"got {dH.shape}"
        )
    if H is None:
        H = rnn_forward(x, W_x, W_h, b_h, h0, go_backwards=go_backwards)
    else:
        H = as_array("H", H, finite=False)
        if H.shape != (batch, time, hidden):
            raise ValueError(
                f"H must have shape (batch, time, hidden) = ({batch}, {time}, {hidden}); "
                f"got {H.shape}"
            )
    dtype = np.result_type(dtype, dH)
    xs = x[:, ::-1] if go_backwards else x
    # Time-major, (time, batch, hidden); for states straight from rnn_forward this transpose is
    # already contiguous and no copy is made.
    H_tm = np.ascontiguousarray(H.transpose(1, 0, 2), dtype=dtype)
    dH_tm = dH.transpose(1, 0, 2)                                   # a view
    W_h_ = W_h.astype(dtype, copy=False)
    W_x_ = W_x.astype(dtype, copy=False)
    h_init = None if h0 is None else h0.astype(dtype, copy=False)

    # The recursion is sequential, but the sums over t are not: the steps are taken in blocks of
    # `block` steps, last block first, and each finished block of da_t (block, batch, hidden)
    # goes into the weight gradients and dx as a few large matrix products while it is still in
    # cache. x gets a column of ones, so [x_t, 1]^T da_t gives dW_x^T and db_h in one product.
    block = int(max(1, min(time, BLOCK_BYTES // (batch * hidden * np.dtype(dtype).itemsize))))
    dA = np.empty((block, batch, hidden), dtype=dtype)              # da_t for one block
    x1 = np.empty((block, batch, inputs + 1), dtype=dtype)          # [x_t, 1] for one block
    x1[..., inputs] = 1.0
    dWb = np.zeros((hidden, inputs + 1), dtype=dtype)               # [dW_x, db_h]
    dW_h = np.zeros((hidden, hidden), dtype=dtype)
    dx_tm = np.empty((time, batch, inputs), dtype=dtype)
    carry = np.zeros((batch, hidden), dtype=dtype)                  # dL/dh_t from step t+1
    g = np.empty((batch, hidden), dtype=dtype)
    tanh_prime = np.empty((batch, hidden), dtype=dtype)
    # inf - inf and 0 * inf (invalid) only happen once something is already infinite: an
    # overflow, which NumPy reports, or a bad input, which is reported below by name.
    with np.errstate(invalid="ignore"):
        for stop in range(time, 0, -block):
            start = max(0, stop - block)
            n = stop - start
            da = dA[:n]
            for t in range(stop - 1, start - 1, -1):  # in place, small buffers: no temporaries
                np.add(dH_tm[t], carry, out=g)                      # g_t
                np.multiply(H_tm[t], H_tm[t], out=tanh_prime)
                np.subtract(1.0, tanh_prime, out=tanh_prime)        # 1 - h_t^2
                np.multiply(g, tanh_prime, out=da[t - start])       # da_t
                np.matmul(da[t - start], W_h_, out=carry)           # dL/dh_{t-1}
            # Sums over the block's steps and the batch: flatten both into one axis of rows.
            rows = da.reshape(n * batch, hidden)
            x1[:n, :, :inputs] = xs[:, start:stop].transpose(1, 0, 2)
            dWb += rows.T @ x1[:n].reshape(n * batch, inputs + 1)
            if start > 0:                                           # h_{t-1} = H_tm[t - 1]
                dW_h += rows.T @ H_tm[start - 1:stop - 1].reshape(n * batch, hidden)
            else:                                                   # the first step sees h0
                if n > 1:
                    dW_h += rows[batch:].T @ H_tm[:stop - 1].reshape((n - 1) * batch, hidden)
                if h_init is not None:
                    dW_h += da[0].T @ h_init
            np.matmul(rows, W_x_, out=dx_tm[start:stop].reshape(n * batch, inputs))
    dW_x = np.ascontiguousarray(dWb[:, :inputs])
    db_h = np.ascontiguousarray(dWb[:, inputs])
    # dx is returned as a (batch, time, input) view of the time-major buffer, like the states
    # of rnn_forward, and in the original time order of x.
    dx = (dx_tm[::-1] if go_backwards else dx_tm).transpose(1, 0, 2)
    if not np.all(np.isfinite(db_h)):
        # A NaN or inf anywhere in dH or H reaches db_h, the column sums of da; only then is it
        # worth scanning those large arrays, to name the culprit. Finite inputs can still
        # overflow (an exploding gradient), and then the infinite gradients are returned.
        as_array("dH", dH)
        as_array("H", H)
    return {"W_x": dW_x, "W_h": dW_h, "b_h": db_h, "x": dx, "h0": carry}
