"""A layer-normalized LSTM as a Keras custom cell, for ``keras.layers.RNN(cell)``.

The cell computes one step of the layer-normalized LSTM of Ba et al. (2016), the equations of
:mod:`rnnbook.layernorm`::

    a_t = LN_x(x_t @ kernel) + LN_h(h_{t-1} @ recurrent_kernel) + bias     blocks i, f, c, o
    c_t = sigma(a_f) * c_{t-1} + sigma(a_i) * tanh(a_c)
    h_t = sigma(a_o) * tanh(LN_c(c_t))

with three ``keras.layers.LayerNormalization`` sublayers: ``LN_x`` and ``LN_h`` over the 4H gate
pre-activations with a gain only (``center=False``), ``LN_c`` over the H cell units with gain and
bias. Its weights are those of ``keras.layers.LSTM`` (``kernel`` (D, 4H), ``recurrent_kernel``
(H, 4H), ``bias`` (4H,), forget block of the bias initialised to 1) plus the gains and the
bias of the normalizations; :func:`book_weights` reads them into the book's names.

The cell can also drop inputs and states the way Keras's own cells do (``dropout``,
``recurrent_dropout``; one mask per sequence, drawn once per call of the layer and reused at
every step, inverted so that nothing changes at inference), with Keras's ``DropoutRNNCell``
mixin, which ``keras.layers.RNN`` recognises. Keras exports that mixin nowhere public, so it is
imported from ``keras.src``; the comment at the import says why it cannot be avoided.

This module imports Keras: import it after :func:`rnnbook.setup`, and only where Keras is
wanted; ``import rnnbook`` does not import it.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

# Why a private import. keras.layers.RNN draws a cell's dropout masks before its loop over time
# and clears them after it only if the cell is an instance of Keras's DropoutRNNCell mixin
# (RNN._maybe_config_dropout_masks and _maybe_reset_dropout_masks test
# isinstance(cell, DropoutRNNCell)). Mask handling written here instead cannot take its place:
# the cell would have to draw its masks inside call(), that is, inside the backend's loop, and
# nothing tells it when a sequence ends. (Tried with Keras 3.15.1 on TensorFlow: such a cell
# keeps its first mask for every later call, and one first drawn inside tf.function fails with
# "out of scope" when called again.) So the cell must derive from that very class. Keras exports
# it nowhere public: checked in the sources of every Keras 3 release, 3.0.0 to 3.15.1, and of
# Keras's main branch at 3422977a5e (2026-08-21): no keras_export, nothing in keras/api. Every
# release's wheel has it at this path, and RNN tests for it in all of them. If a release moves
# it, the ImportError below says so; tests/test_layernorm.py checks that RNN still tests for
# the class imported here.
_MIXIN_PATH = "keras.src.layers.rnn.dropout_rnn_cell"
try:
    from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell   # Keras's mask cache
except ImportError as error:   # pragma: no cover - only with a Keras that moved it
    raise ImportError(
        f"rnnbook.keras_cells needs Keras's DropoutRNNCell mixin, which keras.layers.RNN "
        f"recognises and which Keras does not export publicly; Keras 3.0.0 to 3.15.1 have it "
        f"in {_MIXIN_PATH}, but the installed Keras {keras.__version__} does not. Install "
        f"keras==3.15.1 (requirements.txt) or update the import in rnnbook/keras_cells.py."
    ) from error

__all__ = ["LayerNormLSTMCell", "book_weights", "set_book_weights"]


@keras.saving.register_keras_serializable(package="rnnbook")
class LayerNormLSTMCell(keras.layers.Layer, DropoutRNNCell):
    """One step of the layer-normalized LSTM (module docstring), for ``keras.layers.RNN``.

    Args:
        units: H, the size of the hidden and cell states.
        epsilon: the normalizations' epsilon (``LayerNormalization``'s default, 1e-3).
        dropout, recurrent_dropout: fractions of the inputs x_t and of the states h_{t-1}
            dropped, with one mask per sequence for each (Gal and Ghahramani, 2016), only when
            the layer is called with ``training=True``.
        seed: seed of the dropout masks.
    """

    def __init__(self, units: int, epsilon: float = 1e-3, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.epsilon = float(epsilon)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.state_size = [self.units, self.units]          # [h, c], as keras.layers.LSTM
        self.output_size = self.units
        self.ln_x = keras.layers.LayerNormalization(epsilon=epsilon, center=False,
                                                    name="ln_x", dtype=self.dtype_policy)
        self.ln_h = keras.layers.LayerNormalization(epsilon=epsilon, center=False,
                                                    name="ln_h", dtype=self.dtype_policy)
        self.ln_c = keras.layers.LayerNormalization(epsilon=epsilon, name="ln_c",
                                                    dtype=self.dtype_policy)

    def build(self, input_shape):                    # one step: (batch, input)
        n = self.units

        def bias_init(shape, dtype=None):            # unit_forget_bias: f block set to 1
            return ops.concatenate([ops.zeros((n,), dtype), ops.ones((n,), dtype),
                                    ops.zeros((2 * n,), dtype)])

        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * n), name="kernel",
                                      initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(shape=(n, 4 * n), name="recurrent_kernel",
                                                initializer="orthogonal")
        self.bias = self.add_weight(shape=(4 * n,), name="bias", initializer=bias_init)
        self.ln_x.build((None, 4 * n))
        self.ln_h.build((None, 4 * n))
        self.ln_c.build((None, n))

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states
        # The masks are drawn once per call of the RNN layer (keras.layers.RNN asks for them
        # before its loop and clears them after it), so every step reuses the same ones.
        input_mask = self.get_dropout_mask(inputs)
        state_mask = self.get_recurrent_dropout_mask(h_prev)
        if training and input_mask is not None:
            inputs = inputs * input_mask
        if training and state_mask is not None:
            h_prev = h_prev * state_mask
        a = (self.ln_x(ops.matmul(inputs, self.kernel))
             + self.ln_h(ops.matmul(h_prev, self.recurrent_kernel)) + self.bias)
        i, f, cc, o = ops.split(a, 4, axis=-1)
        c = ops.sigmoid(f) * c_prev + ops.sigmoid(i) * ops.tanh(cc)
        h = ops.sigmoid(o) * ops.tanh(self.ln_c(c))
        return h, [h, c]

    def get_initial_state(self, batch_size=None):
        zeros = ops.zeros((batch_size, self.units), dtype=self.compute_dtype)
        return [zeros, ops.zeros_like(zeros)]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "epsilon": self.epsilon,
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "seed": self.seed}


def book_weights(layer) -> dict:
    """The book's parameters of a :class:`LayerNormLSTMCell` or an ``RNN`` around one.

    Returns ``{"W_x": (4H, D), "W_h": (4H, H), "b": (4H,), "gamma_x": (4H,), "gamma_h": (4H,),
    "gamma_c": (H,), "beta_c": (H,)}`` as NumPy arrays, the arguments of
    :func:`rnnbook.layernorm.layernorm_lstm_forward`.
    """
    cell = getattr(layer, "cell", layer)
    if not isinstance(cell, LayerNormLSTMCell):
        raise ValueError(f"layer must be a LayerNormLSTMCell or keras.layers.RNN around one; "
                         f"got {type(layer).__name__}")
    if not cell.built:
        raise ValueError(f"the cell {cell.name!r} has no weights yet: call the layer on an "
                         f"input first")
    return {"W_x": np.asarray(cell.kernel).T.copy(),
            "W_h": np.asarray(cell.recurrent_kernel).T.copy(),
            "b": np.asarray(cell.bias).copy(),
            "gamma_x": np.asarray(cell.ln_x.gamma).copy(),
            "gamma_h": np.asarray(cell.ln_h.gamma).copy(),
            "gamma_c": np.asarray(cell.ln_c.gamma).copy(),
            "beta_c": np.asarray(cell.ln_c.beta).copy()}


def set_book_weights(layer, weights: dict) -> None:
    """Load the book's parameters (the dict :func:`book_weights` returns) into the cell."""
    cell = getattr(layer, "cell", layer)
    if not isinstance(cell, LayerNormLSTMCell) or not cell.built:
        raise ValueError("layer must be a built LayerNormLSTMCell or RNN around one")
    dtype = cell.variable_dtype
    for variable, name, transpose in ((cell.kernel, "W_x", True),
                                      (cell.recurrent_kernel, "W_h", True),
                                      (cell.bias, "b", False),
                                      (cell.ln_x.gamma, "gamma_x", False),
                                      (cell.ln_h.gamma, "gamma_h", False),
                                      (cell.ln_c.gamma, "gamma_c", False),
                                      (cell.ln_c.beta, "beta_c", False)):
        value = np.asarray(weights[name])
        expected = tuple(variable.shape)[::-1] if transpose else tuple(variable.shape)
        if value.shape != expected:
            raise ValueError(f"{name} must have shape {expected} for this cell; "
                             f"got {value.shape}")
        variable.assign((value.T if transpose else value).astype(dtype))
