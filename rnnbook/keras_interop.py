"""Moving weights between Keras layers and the book's notation.

Keras multiplies row vectors by its weights (``x @ kernel``); the book multiplies column vectors
(``W_x x``). The two layouts are transposes of each other, for every layer of the book:

* SimpleRNN, LSTM and GRU ``kernel``, shape (input, G), is ``W_x.T`` (``W_x``: G, input), where
  G is hidden, 4 * hidden (LSTM, gate blocks i, f, c, o) or 3 * hidden (GRU, blocks z, r, h);
* their ``recurrent_kernel``, shape (hidden, G), is ``W_h.T`` (``W_h``: G, hidden);
* SimpleRNN ``bias`` (hidden,) is ``b_h``; LSTM ``bias`` (4 * hidden,) is ``b``;
* GRU ``bias`` is ``[b_x, b_h]``, shape (2, 3 * hidden), with ``reset_after=True`` (Keras's
  default), and ``b_x``, shape (3 * hidden,), with ``reset_after=False`` (then ``b_h`` is None);
* Dense ``kernel``, shape (hidden, output), is ``W_y.T`` (``W_y``: output, hidden), and its
  ``bias`` (output,) is ``b_y``;
* Bidirectional holds two such layers: ``{"forward": ..., "backward": ...}``.

A layer built with ``use_bias=False`` gives zero biases. Keras is imported only by the caller:
these functions inspect the layer object they are given.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array

__all__ = ["from_keras", "to_keras"]

#: Book names of each layer's parameters, in order; Keras's names are in ``_keras_names``.
_PARAMS = {
    "SimpleRNN": ("W_x", "W_h", "b_h"),
    "LSTM": ("W_x", "W_h", "b"),
    "GRU": ("W_x", "W_h", "b_x", "b_h"),
    "Dense": ("W_y", "b_y"),
}
_ACTIVATIONS = {"SimpleRNN": ("tanh",), "LSTM": ("tanh",), "GRU": ("tanh",),
                "Dense": ("linear", "sigmoid")}


def _cell(layer):
    return getattr(layer, "cell", layer)


def _check_layer(layer) -> str:
    kind = type(layer).__name__
    if kind not in _PARAMS and kind != "Bidirectional":
        raise TypeError(
            f"layer must be a keras SimpleRNN, LSTM, GRU, Bidirectional or Dense layer; got "
            f"{kind} ({getattr(layer, 'name', 'unnamed')})"
        )
    if not getattr(layer, "built", False):
        raise ValueError(
            f"layer {layer.name!r} has no weights yet: call it on an input (or build the model) first"
        )
    if kind == "Bidirectional":
        return kind
    cell = _cell(layer)
    allowed = _ACTIVATIONS[kind]
    if cell.activation.__name__ not in allowed:
        raise ValueError(f"{kind} {layer.name!r} must use {' or '.join(allowed)} to match the "
                         f"book's equations; got activation {cell.activation.__name__!r}")
    recurrent = getattr(cell, "recurrent_activation", None)
    if recurrent is not None and recurrent.__name__ != "sigmoid":
        raise ValueError(f"{kind} {layer.name!r} must use recurrent_activation 'sigmoid' to "
                         f"match the book's equations; got {recurrent.__name__!r}")
    return kind


def _shapes(layer, kind) -> dict:
    """The shape of every book parameter of a built layer."""
    cell = _cell(layer)
    kernel = cell.kernel.shape                                     # (input, G)
    rows, inputs = kernel[1], kernel[0]
    if kind == "Dense":
        return {"W_y": (rows, inputs), "b_y": (rows,)}
    hidden = cell.recurrent_kernel.shape[0]
    shapes = {"W_x": (rows, inputs), "W_h": (rows, hidden)}
    if kind == "GRU":
        shapes.update(b_x=(rows,), b_h=(rows,) if cell.reset_after else None)
    else:
        shapes[_PARAMS[kind][2]] = (rows,)
    return shapes


def from_keras(layer) -> dict:
    """The parameters of a built Keras layer in the book's notation.

    Returns:
        SimpleRNN: ``{"W_x": kernel.T, "W_h": recurrent_kernel.T, "b_h": bias}``, shapes
        (hidden, input), (hidden, hidden), (hidden,).
        LSTM: ``{"W_x", "W_h", "b"}`` with shapes (4H, input), (4H, H), (4H,), blocks i, f, c, o.
        GRU: ``{"W_x", "W_h", "b_x", "b_h"}`` with shapes (3H, input), (3H, H), (3H,) and (3H,)
        (``reset_after=True``) or None (``reset_after=False``), blocks z, r, h.
        Dense: ``{"W_y": kernel.T, "b_y": bias}``, shapes (output, hidden), (output,).
        Bidirectional: ``{"forward": ..., "backward": ...}``, one such dict per direction.
        Fresh contiguous NumPy copies in the layer's dtype (float32 by default); zero biases for
        a layer built with ``use_bias=False``.

    Only the weights are read. Of a recurrent layer's other settings, those that change the
    arithmetic are refused when the book's equations do not cover them (``activation``,
    ``recurrent_activation``); two change only what is returned and are arguments of
    :func:`~rnnbook.bidirectional.layer_forward` (pass ``layer.go_backwards`` and
    ``layer.zero_output_for_mask`` along); a ``stateful`` layer's carried state is passed as
    ``h0`` (and ``c0``); ``dropout`` and ``recurrent_dropout`` act only in training, and
    ``unroll``, ``implementation`` and ``use_cudnn`` change the speed, not the result.

    Raises:
        TypeError: for any other kind of layer.
        ValueError: for an unbuilt layer, or an activation that the book's equations do not
            cover.
    """
    kind = _check_layer(layer)
    if kind == "Bidirectional":
        return {"forward": from_keras(layer.forward_layer),
                "backward": from_keras(layer.backward_layer)}
    cell = _cell(layer)
    dtype = np.dtype(cell.kernel.dtype)
    params = {_PARAMS[kind][0]: cell.kernel.numpy().T}
    if kind != "Dense":
        params["W_h"] = cell.recurrent_kernel.numpy().T
    shapes = _shapes(layer, kind)
    bias = cell.bias.numpy() if cell.use_bias else None
    if kind == "GRU" and cell.reset_after:
        params["b_x"], params["b_h"] = (bias if bias is not None
                                        else np.zeros((2, shapes["b_x"][0]), dtype))
    elif kind == "GRU":
        params["b_x"] = bias if bias is not None else np.zeros(shapes["b_x"], dtype)
        params["b_h"] = None
    else:
        name = _PARAMS[kind][-1]
        params[name] = bias if bias is not None else np.zeros(shapes[name], dtype)
    return {name: None if params[name] is None else np.array(params[name], order="C")
            for name in _PARAMS[kind]}


def to_keras(layer, params: dict) -> None:
    """Copy book-notation parameters into a built Keras layer (the inverse of :func:`from_keras`).

    Args:
        layer: a built Keras SimpleRNN, LSTM, GRU, Bidirectional or Dense layer.
        params: the dict :func:`from_keras` returns for such a layer, with the same keys and
            shapes (for a Bidirectional layer, ``{"forward": ..., "backward": ...}``). For a layer
            built with ``use_bias=False`` the biases must be zero.
    """
    kind = _check_layer(layer)
    if kind == "Bidirectional":
        if not isinstance(params, dict) or set(params) != {"forward", "backward"}:
            raise ValueError("params for a Bidirectional layer must have keys "
                             f"['backward', 'forward']; got {sorted(params)}")
        to_keras(layer.forward_layer, params["forward"])
        to_keras(layer.backward_layer, params["backward"])
        return
    expected = set(_PARAMS[kind])
    if set(params) != expected:
        raise ValueError(f"params for a {kind} must have keys {sorted(expected)}; "
                         f"got {sorted(params)}")
    shapes = _shapes(layer, kind)
    arrays = {}
    for name, shape in shapes.items():
        if shape is None:
            if params[name] is not None:
                raise ValueError(f"params[{name!r}] must be None for layer {layer.name!r} "
                                 f"(a GRU with reset_after=False has one bias)")
            continue
        arr = as_array(f"params[{name!r}]", params[name])
        if arr.shape != shape:
            raise ValueError(f"params[{name!r}] must have shape {shape} for layer "
                             f"{layer.name!r}; got {arr.shape}")
        arrays[name] = arr
    cell = _cell(layer)
    names = _PARAMS[kind]
    cell.kernel.assign(arrays[names[0]].T)
    if kind != "Dense":
        cell.recurrent_kernel.assign(arrays["W_h"].T)
    biases = [arrays[n] for n in names[1:] if n != "W_h" and n in arrays]
    bias = np.stack(biases) if len(biases) == 2 else biases[0]
    if cell.use_bias:
        cell.bias.assign(bias)
    elif np.any(bias != 0):
        raise ValueError(f"layer {layer.name!r} has use_bias=False, so its biases must be zero; "
                         f"got non-zero values")
