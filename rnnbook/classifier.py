"""The book's running model in NumPy: a SimpleRNN read out at its last step by a sigmoid unit.

This is Keras's ``Sequential([SimpleRNN(H), Dense(1, activation="sigmoid")])``::

    h_t = tanh(W_h h_{t-1} + W_x x_t + b_h),   t = 1..T,   h_0 = 0
    z   = W_y h_T + b_y                         (the logit)
    p   = sigmoid(z)                            (probability of class 1)
    L   = mean binary cross-entropy of p against the labels (computed from z, as Keras does)

Parameters live in one dict with keys ``W_x`` (H, D), ``W_h`` (H, H), ``b_h`` (H,), ``W_y`` (1, H)
and ``b_y`` (1,), the union of what ``from_keras`` returns for the two layers.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array
from .dense import dense_backward, dense_forward
from .losses import bce_grad, bce_loss, sigmoid
from .optim import clip_by_norm, global_norm
from .rnn import rnn_backward, rnn_forward

__all__ = ["PARAM_NAMES", "classifier_logits", "classifier_predict",
           "classifier_loss_and_grads", "train_classifier"]

#: The keys of the classifier's parameter dict, in a fixed order. ``W_x`` (H, D), ``W_h``
#: (H, H) and ``b_h`` (H,) belong to the recurrent layer, ``W_y`` (1, H) and ``b_y`` (1,) to
#: the output unit. Every function here checks that ``params`` holds them all; gradients come
#: back with the same keys.
PARAM_NAMES = ("W_x", "W_h", "b_h", "W_y", "b_y")


def _check_params(params: dict) -> None:
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; it needs keys {list(PARAM_NAMES)}")


def _check_xy(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (N, time, input) with N >= 1 and labels (N, 1) (or (N,)) in [0, 1]."""
    x = as_array("x", x)
    y = as_array("y", y)
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 3 or y.shape != (x.shape[0], 1):
        raise ValueError(f"x must be (batch, time, input) and y (batch, 1) with the same batch; "
                         f"got x {x.shape}, y {y.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"x and y must hold at least one example; got x {x.shape}")
    if ((y < 0) | (y > 1)).any():
        bad = y[(y < 0) | (y > 1)]
        raise ValueError(f"y must hold labels in [0, 1] (0 and 1, or soft labels between); got "
                         f"{bad.size} outside, e.g. {bad[0]:g} (shape {y.shape})")
    return x, y


def classifier_logits(params: dict, x) -> np.ndarray:
    """The logit ``z = W_y h_T + b_y`` for each sequence; ``x`` (batch, time, input) -> (batch, 1)."""
    _check_params(params)
    H = rnn_forward(x, params["W_x"], params["W_h"], params["b_h"])
    return dense_forward(H[:, -1], params["W_y"], params["b_y"])


def classifier_predict(params: dict, x) -> np.ndarray:
    """``sigmoid(z)``: what Keras's ``model.predict(x)`` returns, shape (batch, 1)."""
    return sigmoid(classifier_logits(params, x))


def classifier_loss_and_grads(params: dict, x, y) -> tuple[float, dict]:
    """Mean binary cross-entropy and its gradient for every parameter, by backpropagation.

    Args:
        params: dict with the keys :data:`~rnnbook.classifier.PARAM_NAMES`.
        x: inputs, shape (batch, time, input).
        y: labels in {0, 1}, shape (batch, 1) (shape (batch,) is accepted and reshaped); soft
            labels in [0, 1] are accepted as Keras accepts them, anything outside is refused.

    Returns:
        ``(loss, grads)`` with ``grads`` keyed like ``params`` and of the same shapes.
    """
    _check_params(params)
    x, y = _check_xy(x, y)
    H = rnn_forward(x, params["W_x"], params["W_h"], params["b_h"])
    h_last = H[:, -1]
    z = dense_forward(h_last, params["W_y"], params["b_y"])
    loss = bce_loss(y, z, from_logits=True)
    dz = bce_grad(y, z)
    g_out = dense_backward(h_last, params["W_y"], params["b_y"], dz)
    dH = np.zeros_like(H)
    dH[:, -1] = g_out["h"]
    g_rnn = rnn_backward(x, params["W_x"], params["W_h"], params["b_h"], dH, H=H)
    grads = {"W_x": g_rnn["W_x"], "W_h": g_rnn["W_h"], "b_h": g_rnn["b_h"],
             "W_y": g_out["W_y"], "b_y": g_out["b_y"]}
    return loss, {k: grads[k].astype(params[k].dtype, copy=False) for k in PARAM_NAMES}


def train_classifier(params: dict, x, y, optimizer, *, epochs: int = 1, batch_size: int = 32,
                     clip_norm: float | None = None) -> dict:
    """Mini-batch training in order (no shuffling), like ``model.fit(..., shuffle=False)``.

    Each epoch walks the data in consecutive batches of ``batch_size`` (the last may be smaller);
    each batch's loss is computed *before* its update, and the epoch's loss is the
    batch-size-weighted mean of those, which is what Keras's ``history.history["loss"]`` holds.

    Args:
        params: dict with the keys :data:`~rnnbook.classifier.PARAM_NAMES`; updated in place.
        x: the inputs of the whole training set, shape (N, time, input).
        y: the labels in {0, 1} of the whole training set, shape (N, 1) (shape (N,) is
            accepted and reshaped).
        optimizer: an ``rnnbook.SGD`` or ``rnnbook.Adam`` (anything with ``step(params, grads)``).
        epochs: the number of passes over the data, as in ``model.fit``.
        batch_size: the number of sequences per update, as in ``model.fit``; the last batch of
            an epoch holds what is left.
        clip_norm: if given, gradients are rescaled to this global norm at most before each step.

    Returns:
        ``{"loss": [per-epoch loss], "batch_loss": [per-step loss], "grad_norm": [per-step norm]}``.
    """
    x, y = _check_xy(x, y)
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be positive; got {epochs}, {batch_size}")
    history: dict = {"loss": [], "batch_loss": [], "grad_norm": []}
    n = x.shape[0]
    for _ in range(epochs):
        total = 0.0
        for start in range(0, n, batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            loss, grads = classifier_loss_and_grads(params, xb, yb)
            history["batch_loss"].append(loss)
            history["grad_norm"].append(global_norm(grads))
            if clip_norm is not None:
                grads = clip_by_norm(grads, clip_norm)
            optimizer.step(params, grads)
            total += loss * xb.shape[0]
        history["loss"].append(total / n)
    return history
