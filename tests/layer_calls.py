"""rnnbook's three recurrent layers, and Keras's, called by one name, with random weights for
them: shared by the specifications that run over all of them (test_gated.py, test_dropout.py).

``kind`` is "simple", "lstm", "gru" (reset_after=True) or "gru_before" (reset_after=False);
``p`` holds the weights in the book's notation, as ``rnnbook.from_keras`` returns them."""

import keras
import numpy as np

from rnnbook import (gru_backward, gru_forward, lstm_backward, lstm_forward, rnn_backward,
                     rnn_forward)

KINDS = ["simple", "lstm", "gru", "gru_before"]
GATES = {"simple": 1, "lstm": 4, "gru": 3, "gru_before": 3}


def params(kind, hidden, inputs, rng, scale=0.5):
    """Random float64 parameters in the book's layout."""
    rows = GATES[kind] * hidden
    p = {"W_x": rng.normal(scale=scale, size=(rows, inputs)),
         "W_h": rng.normal(scale=scale, size=(rows, hidden))}
    if kind == "simple":
        p["b_h"] = rng.normal(scale=scale, size=rows)
    elif kind == "lstm":
        p["b"] = rng.normal(scale=scale, size=rows)
    else:
        p["b_x"] = rng.normal(scale=scale, size=rows)
        p["b_h"] = rng.normal(scale=scale, size=rows) if kind == "gru" else None
    return p


def forward(kind, x, p, **kw):
    """The output sequence of rnnbook's layer ``kind``."""
    if kind == "simple":
        return rnn_forward(x, p["W_x"], p["W_h"], p["b_h"], **kw)
    if kind == "lstm":
        return lstm_forward(x, p["W_x"], p["W_h"], p["b"], **kw)[0]
    return gru_forward(x, p["W_x"], p["W_h"], p["b_x"], p["b_h"], reset_after=kind == "gru",
                       **kw)


def backward(kind, x, p, dH, **kw):
    """The gradients (a dict) of rnnbook's layer ``kind`` for the upstream gradient ``dH``."""
    if kind == "simple":
        return rnn_backward(x, p["W_x"], p["W_h"], p["b_h"], dH, **kw)
    if kind == "lstm":
        return lstm_backward(x, p["W_x"], p["W_h"], p["b"], dH, **kw)
    return gru_backward(x, p["W_x"], p["W_h"], p["b_x"], p["b_h"], dH,
                        reset_after=kind == "gru", **kw)


def keras_layer(kind, hidden, **kwargs):
    """The Keras layer of ``kind`` with ``hidden`` units, returning every step's output."""
    if kind == "simple":
        return keras.layers.SimpleRNN(hidden, return_sequences=True, **kwargs)
    if kind == "lstm":
        return keras.layers.LSTM(hidden, return_sequences=True, **kwargs)
    return keras.layers.GRU(hidden, return_sequences=True, reset_after=kind == "gru", **kwargs)


def built(kind, shape, rng, dtype="float32", **kwargs):
    """A built Keras layer with random weights (biases included) and an input batch for it.

    The weights are scaled like Keras's initialisers (about 1/sqrt(fan-in)), so that the
    network is not chaotic and float32 rounding stays at the level of 1e-7.
    """
    batch, time, inputs, hidden = shape
    layer = keras_layer(kind, hidden, dtype=dtype, **kwargs)
    layer.build((batch, time, inputs))
    fan_in = {"kernel": inputs, "recurrent_kernel": hidden, "bias": 4}
    for w in layer.weights:
        scale = 1.2 / np.sqrt(fan_in[w.path.split("/")[-1]])
        w.assign(rng.normal(scale=scale, size=w.shape).astype(dtype))
    return layer, rng.normal(size=(batch, time, inputs)).astype(dtype)
