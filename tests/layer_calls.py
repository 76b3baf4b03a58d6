"""rnnbook's three recurrent layers, and Keras's, called by one name, for the specifications that run over all of
them (test_gated.py, test_dropout.py). ``kind`` is "simple", "lstm", "gru" (reset_after=True)
or "gru_before" (reset_after=False); ``p`` holds the weights in the book's notation, as
``rnnbook.from_keras`` returns them."""

import keras

from rnnbook import (gru_backward, gru_forward, lstm_backward, lstm_forward, rnn_backward,
                     rnn_forward)


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
