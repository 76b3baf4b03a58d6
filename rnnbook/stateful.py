"""Truncated backpropagation through time, and the batches a stateful layer reads.

A long stream (a text, a sensor series) is too long to run backpropagation through time over
all of it at once. Truncated BPTT cuts it into windows of ``kappa`` steps, runs the network over
the windows in order, and **carries the state** from the end of one window into the start of
the next, but **cuts the gradient** there: inside a window the gradient is exact, and the
state a window starts from is treated as a constant. For the LSTM, window ``k`` (steps
``k*kappa + 1 .. (k+1)*kappa``) computes::

    (h, c) at the window's start  = the final (h, c) of window k-1   (zeros for k = 0)
    loss gradient of window k     = lstm_backward over the window with h0, c0 those states,
                                    the gradients into h0 and c0 thrown away

Keras does the forward half with ``stateful=True``: a layer keeps its final states in
variables and starts its next call from them, so row ``b`` of one batch must continue row ``b``
of the previous batch. :func:`stateful_batches` lays a stream out that way. Arrays of batches
have shape (n_batches, batch, kappa, ...): ``batches[k]`` is the k-th batch Keras is given.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array, check_rank
from .lstm import lstm_backward, lstm_forward

__all__ = ["stateful_batches", "batch_rows", "lstm_tbptt_forward", "lstm_tbptt_backward"]


def _positive_int(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def stateful_batches(stream, batch_size: int, window: int) -> np.ndarray:
    """Cut one long stream into consecutive batches whose rows continue each other.

    The stream is split into ``batch_size`` contiguous rows of equal length ``L`` (the longest
    multiple of ``window`` that fits; the last ``N - batch_size * L`` items are dropped), and
    every row is cut into windows of ``window`` steps. Batch ``k`` holds window ``k`` of every
    row, so row ``b`` of batch ``k + 1`` continues row ``b`` of batch ``k``::

        batches[k, b] = stream[b * L + k * window : b * L + (k + 1) * window]

    This is the layout a Keras layer with ``stateful=True`` needs: pass
    ``batches.reshape(-1, window, ...)`` to ``fit`` with ``batch_size=batch_size`` and
    ``shuffle=False``.

    Args:
        stream: the stream, shape (N,) or (N, features...); any dtype (token ids stay
            integers).
        batch_size: B, the number of rows read in parallel (the stateful layer's fixed batch
            size).
        window: kappa, the number of steps in each batch (the truncation window).

    Returns:
        An array of shape (n_batches, B, kappa, features...) with ``n_batches = L // kappa``,
        a copy of the stream's items.
    """
    stream = np.asarray(stream)
    if stream.ndim < 1 or stream.dtype.kind not in "biuf":
        raise ValueError(f"stream must be a numeric array of shape (N,) or (N, features...); "
                         f"got dtype {stream.dtype} with shape {stream.shape}")
    batch_size = _positive_int("batch_size", batch_size)
    window = _positive_int("window", window)
    n = stream.shape[0]
    n_batches = n // (batch_size * window)
    if n_batches == 0:
        raise ValueError(f"stream of shape {stream.shape} is too short for batch_size "
                         f"{batch_size} and window {window}: it needs at least "
                         f"batch_size * window = {batch_size * window} items")
    rows = stream[:batch_size * n_batches * window].reshape(
        batch_size, n_batches, window, *stream.shape[1:])
    return np.ascontiguousarray(np.swapaxes(rows, 0, 1))


def batch_rows(batches) -> np.ndarray:
    """Undo the layout: glue the batches back into the ``B`` rows they were cut from.

    Args:
        batches: shape (n_batches, B, kappa, features...), as :func:`stateful_batches` returns
            (or outputs computed from them).

    Returns:
        Shape (B, n_batches * kappa, features...): row ``b`` is the b-th contiguous piece of
        the stream, in order.
    """
    batches = np.asarray(batches)
    if batches.ndim < 3:
        raise ValueError(f"batches must have shape (n_batches, batch, window, ...); "
                         f"got shape {batches.shape}")
    n, batch, window = batches.shape[:3]
    return np.swapaxes(batches, 0, 1).reshape(batch, n * window, *batches.shape[3:])


def _check_batches(batches) -> np.ndarray:
    batches = as_array("batches", batches)
    check_rank("batches", batches, 4, "(n_batches, batch, window, input)")
    if min(batches.shape[:3]) == 0:
        raise ValueError(f"batches must hold at least one batch, row and step; "
                         f"got shape {batches.shape}")
    return batches


def lstm_tbptt_forward(batches, W_x, W_h, b, h0=None, c0=None) -> tuple:
    """Run an LSTM over consecutive batches, carrying the state from one to the next.

    What a Keras ``LSTM(..., stateful=True, return_sequences=True)`` computes when it is called
    on ``batches[0], batches[1], ...`` in turn: batch ``k`` starts from the final ``(h, c)`` of
    batch ``k - 1`` (from ``h0, c0`` for ``k = 0``). Each batch is one call of
    :func:`~rnnbook.lstm.lstm_forward`; the result equals one call over the glued rows
    (:func:`batch_rows`).

    Args:
        batches: inputs, shape (n_batches, batch, kappa, input).
        W_x, W_h, b: the LSTM's weights, (4H, input), (4H, H), (4H,), gate blocks i, f, c, o.
        h0, c0: the states before the first batch, shape (batch, H), or None for zeros (a
            freshly built or ``reset_states()`` layer).

    Returns:
        ``(H, C, (h, c))``: the outputs and the cell states, both (n_batches, batch, kappa, H),
        and the final states (batch, H) each, the states the layer holds after the last batch.
    """
    batches = _check_batches(batches)
    outputs, cells = [], []
    h, c = h0, c0
    for x in batches:
        H, C = lstm_forward(x, W_x, W_h, b, h0=h, c0=c)
        outputs.append(H)
        cells.append(C)
        h, c = H[:, -1], C[:, -1]
    return np.stack(outputs), np.stack(cells), (h, c)


def lstm_tbptt_backward(batches, W_x, W_h, b, dH, h0=None, c0=None) -> dict:
    """Truncated BPTT: the gradient of each batch's loss, with the state it starts from fixed.

    Batch ``k`` starts from the state carried out of batch ``k - 1`` (as in
    :func:`lstm_tbptt_forward`); its gradient is :func:`~rnnbook.lstm.lstm_backward` over its
    ``kappa`` steps with that state as ``h0, c0``. The gradients into ``h0`` and ``c0`` are
    dropped: nothing flows back across a window boundary. Summing the per-batch gradients over
    ``k`` gives the truncated gradient of the whole stream's loss; it differs from the full
    BPTT gradient by the terms that cross a boundary.

    Args:
        batches: inputs, shape (n_batches, batch, kappa, input).
        W_x, W_h, b: the LSTM's weights, (4H, input), (4H, H), (4H,).
        dH: upstream gradients on the outputs, shape (n_batches, batch, kappa, H).
        h0, c0: the states before the first batch, shape (batch, H), or None for zeros.

    Returns:
        A dict of per-batch gradients: ``W_x`` (n_batches, 4H, input), ``W_h``
        (n_batches, 4H, H), ``b`` (n_batches, 4H) and ``x`` (n_batches, batch, kappa, input).
    """
    batches = _check_batches(batches)
    dH = as_array("dH", dH, finite=False)
    hidden = np.shape(W_h)[-1] if np.ndim(W_h) == 2 else None
    expected = batches.shape[:3] + (hidden,)
    if dH.shape != expected:
        raise ValueError(f"dH must have shape (n_batches, batch, window, hidden) = {expected} "
                         f"to match batches {batches.shape} and W_h {np.shape(W_h)}; "
                         f"got {dH.shape}")
    grads = {"W_x": [], "W_h": [], "b": [], "x": []}
    h, c = h0, c0
    for x, d in zip(batches, dH):
        g = lstm_backward(x, W_x, W_h, b, d, h0=h, c0=c)   # g["h0"], g["c0"]: dropped
        for key in grads:
            grads[key].append(g[key])
        H, C = lstm_forward(x, W_x, W_h, b, h0=h, c0=c)
        h, c = H[:, -1], C[:, -1]
    return {key: np.stack(value) for key, value in grads.items()}
