"""Dropout masks for the recurrent layers, drawn the way Keras draws them, and Keras's own.

Inverted dropout keeps each unit with probability ``1 - rate`` and scales what it keeps by
``1 / (1 - rate)``, so a mask holds 0 or ``1 / (1 - rate)`` and its mean is 1. Keras's recurrent
layers (``dropout`` and ``recurrent_dropout``, after Gal and Ghahramani's variational dropout)
draw their masks **once per layer call** and reuse them at every step; they apply them only
when the layer is called with ``training=True``:

* the input mask multiplies ``x_t`` before the input product (``dropout``);
* the recurrent mask multiplies ``h_{t-1}`` before the recurrent product
  (``recurrent_dropout``); the carried state of the GRU, ``z_t * h_{t-1}``, and the LSTM's
  cell state are never dropped.

SimpleRNN draws one mask of each kind, (batch, input) and (batch, hidden). LSTM and GRU draw one
input mask shared by all gate blocks while ``recurrent_dropout`` is 0; a nonzero
``recurrent_dropout`` switches the cell to ``implementation=1``, which draws one mask per gate
block for the inputs and for ``h_{t-1}`` (4 for LSTM, order i, f, c, o; 3 for GRU, order z, r,
h), stored here as (gates, batch, size). ``rnn_forward``, ``lstm_forward`` and ``gru_forward``
(and their step and backward functions) take such masks as ``input_dropout`` and
``recurrent_dropout``.

Keras is imported only by the caller: :func:`keras_dropout_masks` and
:func:`set_keras_dropout_masks` work on the layer object they are given.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array

__all__ = ["dropout_masks", "keras_dropout_masks", "set_keras_dropout_masks"]

_GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def dropout_masks(rate: float, shape, rng: np.random.Generator,
                  dtype=np.float32) -> np.ndarray:
    """Inverted-dropout masks: each entry is 0 with probability ``rate``, else ``1/(1 - rate)``.

    ``m = [u >= rate] / (1 - rate)`` with ``u`` uniform on [0, 1) from ``rng``, so that
    ``E[m] = 1`` and ``x * m`` has the mean of ``x``. Pass the result as ``input_dropout`` or
    ``recurrent_dropout`` to the layers of :mod:`rnnbook.rnn`, :mod:`rnnbook.lstm` and
    :mod:`rnnbook.gru`: shape (batch, size) for one mask, (gates, batch, size) for one per gate
    block.

    Args:
        rate: the fraction of units to drop, in [0, 1). (Keras's LSTM and GRU ignore a rate of
            1; a mask of zeros drops everything.)
        shape: the masks' shape, e.g. (batch, input) or (4, batch, hidden).
        rng: the ``np.random.Generator`` to draw from (explicit, for reproducibility).
        dtype: the masks' floating dtype (float32 by default, like Keras's).

    Returns:
        The masks, shape ``shape``, entries 0 or ``1/(1 - rate)`` (in ``dtype``).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)); "
                        f"got {type(rng).__name__}")
    if not (isinstance(rate, (int, float, np.floating, np.integer)) and 0 <= rate < 1):
        raise ValueError(f"rate must be a number in [0, 1); got {rate!r}")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if not all(isinstance(n, (int, np.integer)) and n >= 0 for n in shape):
        raise ValueError(f"shape must be a tuple of non-negative integers; got {shape!r}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating dtype; got {dtype}")
    keep = rng.random(shape) >= rate
    return keep * np.asarray(1.0 / (1.0 - rate), dtype=dtype)


def _recurrent_cell(layer):
    kind = type(layer).__name__
    if kind not in _GATES:
        raise TypeError(f"layer must be a keras SimpleRNN, LSTM or GRU layer; got {kind} "
                        f"({getattr(layer, 'name', 'unnamed')})")
    return kind, layer.cell


def _to_numpy(mask):
    if mask is None:
        return None
    if isinstance(mask, (list, tuple)):
        return np.stack([np.asarray(m) for m in mask])
    return np.asarray(mask)


def keras_dropout_masks(layer, x) -> tuple:
    """Draw the dropout masks that the Keras ``layer`` will use in its next call on ``x``.

    Keras draws the masks at the start of each layer call, from the cell's seed generator, and
    forgets them at its end. This function draws them the same way (input mask first, from
    ``x[:, 0]``, then the recurrent mask), leaves them cached in ``layer.cell`` so that the next
    ``layer(x, training=True)`` uses exactly these, and returns them in rnnbook's layout.
    A call with ``training=False`` ignores them (and forgets them).

    Args:
        layer: a keras SimpleRNN, LSTM or GRU layer (its ``dropout`` / ``recurrent_dropout``
            set as wanted).
        x: the input batch of the next call, shape (batch, time, input).

    Returns:
        ``(input_dropout, recurrent_dropout)``: NumPy masks, each None when the rate is 0,
        (batch, size) for one mask or (gates, batch, size) for one per gate block, ready to
        pass to ``rnn_forward``, ``lstm_forward``, ``gru_forward`` and their backward passes.
    """
    import keras

    _, cell = _recurrent_cell(layer)
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (batch, time, input); got {x.shape}")
    step_input = keras.ops.convert_to_tensor(x[:, 0, :], dtype=cell.compute_dtype)
    state = keras.ops.zeros((x.shape[0], cell.units), dtype=cell.compute_dtype)
    return (_to_numpy(cell.get_dropout_mask(step_input)),
            _to_numpy(cell.get_recurrent_dropout_mask(state)))


def set_keras_dropout_masks(layer, input_dropout=None, recurrent_dropout=None) -> None:
    """Make the Keras ``layer``'s next call use the given masks instead of drawing its own.

    The masks are cached in ``layer.cell`` where Keras keeps the masks it draws; the next call
    ``layer(x, training=True)`` uses them at every step and then forgets them. Keras uses a mask
    only while the matching rate (``dropout`` or ``recurrent_dropout``) is above 0 (and, for
    LSTM and GRU, below 1), and expects one mask per gate block exactly when the cell has
    ``implementation=1`` (which a nonzero ``recurrent_dropout`` forces for LSTM and GRU).

    Args:
        layer: a keras SimpleRNN, LSTM or GRU layer.
        input_dropout: None, or the input masks in rnnbook's layout: (batch, input), or
            (gates, batch, input) for a cell with ``implementation=1``.
        recurrent_dropout: None, or the masks on ``h_{t-1}``, (batch, hidden) or (gates,
            batch, hidden) likewise.
    """
    import keras

    kind, cell = _recurrent_cell(layer)
    count = getattr(cell, "dropout_mask_count", None)
    for name, mask, rate, attr in (
            ("input_dropout", input_dropout, cell.dropout, "_dropout_mask"),
            ("recurrent_dropout", recurrent_dropout, cell.recurrent_dropout,
             "_recurrent_dropout_mask")):
        if mask is None:
            continue
        rate_name = "dropout" if name == "input_dropout" else "recurrent_dropout"
        if not 0 < rate < 1:
            raise ValueError(f"{name} is given but the {kind} layer's {rate_name} is {rate}: "
                             f"Keras uses a mask only for a rate in (0, 1)")
        mask = as_array(name, mask)
        if count is None:
            if mask.ndim != 2:
                raise ValueError(f"{name} must have shape (batch, size) for this {kind} layer "
                                 f"(one mask for all gate blocks); got {mask.shape}")
            value = keras.ops.convert_to_tensor(mask, dtype=cell.compute_dtype)
        else:
            if mask.ndim != 3 or mask.shape[0] != count:
                raise ValueError(f"{name} must have shape ({count}, batch, size) for this "
                                 f"{kind} layer (implementation=1: one mask per gate block); "
                                 f"got {mask.shape}")
            value = [keras.ops.convert_to_tensor(m, dtype=cell.compute_dtype) for m in mask]
        setattr(cell, attr, value)
