"""Moving weights between Keras layers and the book's notation.

Keras multiplies row vectors by its weights (``x @ kernel``); the book multiplies column vectors
(``W_x x``). The two layouts are transposes of each other:

* SimpleRNN ``kernel``, shape (input, units), is ``W_x.T`` (``W_x``: hidden, input);
* SimpleRNN ``recurrent_kernel``, shape (units, units), is ``W_h.T`` (``W_h``: hidden, hidden);
* SimpleRNN ``bias``, shape (units,), is ``b_h``;
* Dense ``kernel``, shape (hidden, output), is ``W_y.T`` (``W_y``: output, hidden);
* Dense ``bias``, shape (output,), is ``b_y``.

Keras is imported only by the caller: these functions inspect the layer object they are given.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array

__all__ = ["from_keras", "to_keras"]

_LAYOUT = {
    # layer class name: ((book name, Keras weight name, transpose?), ...)
    "SimpleRNN": (("W_x", "kernel", True), ("W_h", "recurrent_kernel", True), ("b_h", "bias", False)),
    "Dense": (("W_y", "kernel", True), ("b_y", "bias", False)),
}


def _layout(layer):
    kind = type(layer).__name__
    if kind not in _LAYOUT:
        raise TypeError(
            f"layer must be a keras SimpleRNN or Dense layer; got {kind} "
            f"({getattr(layer, 'name', 'unnamed')})"
        )
    if not getattr(layer, "built", False):
        raise ValueError(
            f"layer {layer.name!r} has no weights yet: call it on an input (or build the model) first"
        )
    if kind == "SimpleRNN" and not layer.cell.use_bias or kind == "Dense" and not layer.use_bias:
        raise ValueError(f"layer {layer.name!r} has use_bias=False; rnnbook expects a bias")
    allowed = {"SimpleRNN": ("tanh",), "Dense": ("linear", "sigmoid")}[kind]
    if layer.activation.__name__ not in allowed:
        raise ValueError(f"{kind} {layer.name!r} must use {' or '.join(allowed)} to match the "
                         f"book's equations; got activation {layer.activation.__name__!r}")
    return _LAYOUT[kind]


def from_keras(layer) -> dict:
    """The parameters of a Keras ``SimpleRNN`` or ``Dense`` layer in the book's notation.

    Returns:
        For a SimpleRNN: ``{"W_x": kernel.T, "W_h": recurrent_kernel.T, "b_h": bias}``, shapes
        (hidden, input), (hidden, hidden), (hidden,). For a Dense:
        ``{"W_y": kernel.T, "b_y": bias}``, shapes (output, hidden), (output,).
        Fresh contiguous NumPy copies in the layer's dtype (float32 by default).

    Raises:
        TypeError: for any other kind of layer.
        ValueError: for an unbuilt layer, a layer without a bias, or an activation that the
            book's equations do not cover.
    """
    layout = _layout(layer)
    weights = {w.path.split("/")[-1]: np.asarray(w.numpy()) for w in layer.weights}
    return {book: np.ascontiguousarray(weights[keras_name].T if transpose else weights[keras_name])
            for book, keras_name, transpose in layout}


def to_keras(layer, params: dict) -> None:
    """Copy book-notation parameters into a built Keras layer (the inverse of :func:`from_keras`).

    Args:
        layer: a built Keras ``SimpleRNN`` or ``Dense`` layer.
        params: for a SimpleRNN, ``W_x`` (hidden, input), ``W_h`` (hidden, hidden), ``b_h``
            (hidden,); for a Dense, ``W_y`` (output, hidden), ``b_y`` (output,).
    """
    layout = _layout(layer)
    expected = {book for book, _, _ in layout}
    if set(params) != expected:
        raise ValueError(f"params for a {type(layer).__name__} must have keys {sorted(expected)}; "
                         f"got {sorted(params)}")
    current = from_keras(layer)
    variables = {w.path.split("/")[-1]: w for w in layer.weights}
    for book, keras_name, transpose in layout:
        arr = as_array(f"params[{book!r}]", params[book])
        if arr.shape != current[book].shape:
            raise ValueError(f"params[{book!r}] must have shape {current[book].shape} for layer "
                             f"{layer.name!r}; got {arr.shape}")
        variables[keras_name].assign(arr.T if transpose else arr)
