"""minGRU and minLSTM as Keras layers, two ways: a custom cell and a parallel scan.

The equations are those of :mod:`rnnbook.mingru`. Each layer keeps its gate blocks side by
side in one ``kernel`` of shape (input, G * units) and one ``bias`` (G * units,), as Keras's own
LSTM and GRU do, with G = 2 blocks ``z, h`` (minGRU) or G = 3 blocks ``f, i, h`` (minLSTM)::

    kernel = concat([W_z, W_h]).T         bias = concat([b_z, b_h])          (minGRU)
    kernel = concat([W_f, W_i, W_h]).T    bias = concat([b_f, b_i, b_h])     (minLSTM)

* :class:`MinGRUCell`, :class:`MinLSTMCell`: one step, for ``keras.layers.RNN(cell)``, which
  runs the loop over time (a custom cell has ``state_size``, ``build`` and
  ``call(inputs, states) -> (output, new_states)``).
* :class:`MinGRU`, :class:`MinLSTM`: whole sequences at once with ``keras.ops.associative_scan``
  over the pairs ``(a_t, b_t)`` and the operator ``(a1, b1), (a2, b2) -> (a1 a2, a2 b1 + b2)``.

:func:`book_weights` reads either kind of layer into the book's weights (``W_z``, ``b_z``, ...),
ready for :func:`rnnbook.mingru.mingru_forward` or :func:`rnnbook.mingru.minlstm_forward`.

This module imports Keras: import it after :func:`rnnbook.setup` (or with TensorFlow's log
variables set), and only where Keras is wanted; ``import rnnbook`` does not import it.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["MinGRUCell", "MinLSTMCell", "MinGRU", "MinLSTM", "book_weights", "BLOCKS"]

#: The gate blocks of each cell, in the order they sit in ``kernel`` and ``bias``.
BLOCKS = {"minGRU": ("z", "h"), "minLSTM": ("f", "i", "h")}


def _coefficients(kind: str, m, units: int):
    """``(a_t, b_t)`` of ``h_t = a_t * h_{t-1} + b_t`` from the projections ``m = x W + b``."""
    if kind == "minGRU":
        z = ops.sigmoid(m[..., :units])
        return 1.0 - z, z * m[..., units:]
    f = ops.sigmoid(m[..., :units])
    i = ops.sigmoid(m[..., units:2 * units])
    total = f + i
    return f / total, i / total * m[..., 2 * units:]


class _MinBase(keras.layers.Layer):
    """Weights shared by the cells and the scan layers: ``kernel`` and ``bias``."""

    kind = "minGRU"

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def build(self, input_shape):
        blocks = len(BLOCKS[self.kind]) * self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], blocks), name="kernel",
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(blocks,), name="bias", initializer="zeros")

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class MinGRUCell(_MinBase):
    """One minGRU step for ``keras.layers.RNN``: ``h_t = (1 - z_t) h_{t-1} + z_t h~_t``."""

    kind = "minGRU"

    def __init__(self, units: int, **kwargs):
        super().__init__(units, **kwargs)
        self.state_size = self.units           # one state tensor of shape (batch, units)
        self.output_size = self.units

    def call(self, inputs, states):
        h_prev = states[0]
        a, b = _coefficients(self.kind, ops.matmul(inputs, self.kernel) + self.bias,
                             self.units)
        h = a * h_prev + b
        return h, [h]


class MinLSTMCell(MinGRUCell):
    """One minLSTM step for ``keras.layers.RNN``: ``h_t = f'_t h_{t-1} + i'_t h~_t``."""

    kind = "minLSTM"


class MinGRU(_MinBase):
    """The minGRU over whole sequences with one parallel scan (no loop over time).

    Input (batch, time, input); output (batch, time, units) with ``return_sequences=True``,
    else the last state (batch, units). ``call(x, initial_state=None)`` takes an optional
    (batch, units) initial state. On TensorFlow the scan is unrolled over the time axis, so
    the length must be known: fixed in ``keras.Input((T, input))`` or in each call.
    """

    kind = "minGRU"

    def __init__(self, units: int, return_sequences: bool = False, **kwargs):
        super().__init__(units, **kwargs)
        self.return_sequences = bool(return_sequences)

    def build(self, input_shape):
        super().build(input_shape)
        self.steps = input_shape[1]          # None: the length is read at each call

    def call(self, inputs, initial_state=None):
        m = ops.matmul(inputs, self.kernel) + self.bias
        steps = inputs.shape[1] if inputs.shape[1] is not None else self.steps
        if steps is None:
            raise ValueError(
                f"{type(self).__name__} needs a known number of time steps (the scan is "
                f"unrolled over it on TensorFlow); got inputs of shape {inputs.shape}. Give "
                f"keras.Input a fixed length, e.g. keras.Input((T, features))")
        m = ops.reshape(m, (-1, steps, m.shape[-1]))      # a static time axis for the scan
        a, b = _coefficients(self.kind, m, self.units)
        if initial_state is not None:       # fold h0 into the first step: b_1 += a_1 h0
            first = b[:, :1] + a[:, :1] * initial_state[:, None]
            b = ops.concatenate([first, b[:, 1:]], axis=1)

        def combine(earlier, later):        # (a1, b1) then (a2, b2): one step of each
            return earlier[0] * later[0], later[0] * earlier[1] + later[1]

        _, h = ops.associative_scan(combine, (a, b), axis=1)
        h = ops.reshape(h, (-1, steps, self.units))        # TF's scan loses the static shape
        return h if self.return_sequences else h[:, -1]

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return tuple(input_shape[:-1]) + (self.units,)
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "return_sequences": self.return_sequences}


class MinLSTM(MinGRU):
    """The minLSTM over whole sequences with one parallel scan (see :class:`MinGRU`)."""

    kind = "minLSTM"


def book_weights(layer) -> dict:
    """The book's weights of a minGRU/minLSTM layer, cell or ``keras.layers.RNN`` around one.

    Returns ``{"W_z": (H, D), "b_z": (H,), "W_h": ..., "b_h": ...}`` for a minGRU and the
    blocks ``f, i, h`` for a minLSTM, as NumPy arrays in the layer's dtype.
    """
    cell = getattr(layer, "cell", layer)
    if not isinstance(cell, _MinBase):
        raise ValueError(f"layer must be a minGRU or minLSTM layer or cell; got "
                         f"{type(layer).__name__}")
    if not cell.built:
        raise ValueError(f"the layer {cell.name!r} has no weights yet: call it on an input "
                         f"first")
    kernel = np.asarray(cell.kernel)
    bias = np.asarray(cell.bias)
    out = {}
    for k, name in enumerate(BLOCKS[cell.kind]):
        cols = slice(k * cell.units, (k + 1) * cell.units)
        out["W_" + name] = kernel[:, cols].T.copy()
        out["b_" + name] = bias[cols].copy()
    return out
