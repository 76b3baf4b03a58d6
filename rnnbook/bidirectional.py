"""Whole recurrent layers as Keras runs them: one direction, or both (``Bidirectional``).

A bidirectional layer runs two independent recurrent layers over the same sequence
(Schuster and Paliwal, 1997): a *forward* one that reads ``x_1, ..., x_T`` and a
*backward* one that reads ``x_T, ..., x_1``. With column vectors, for any cell (SimpleRNN,
LSTM or GRU) with step function ``step``,

    forward:   h^f_t = step(x_t, h^f_{t-1}),   t = 1, ..., T,      h^f_0 = 0
    backward:  h^b_t = step(x_t, h^b_{t+1}),   t = T, ..., 1,      h^b_{T+1} = 0

so at every position ``t`` the pair ``(h^f_t, h^b_t)`` has seen the whole sequence: ``h^f_t`` the
past and present, ``h^b_t`` the present and future. Keras builds the backward layer as a copy of
the forward one with ``go_backwards=True``, whose returned sequence is in *processing order*
(its first entry is ``h^b_T``); ``Bidirectional`` flips it back to input order and merges the
two sequences position by position:

    concat:  y_t = [h^f_t ; h^b_t]          (2H,)
    sum:     y_t = h^f_t + h^b_t             (H,)
    ave:     y_t = (h^f_t + h^b_t) / 2       (H,)
    mul:     y_t = h^f_t * h^b_t             (H,)
    None:    [h^f_{1:T}, h^b_{1:T}], not merged.

With ``return_sequences=False`` each direction contributes only its *last processed* output:
``h^f_T`` and ``h^b_1`` (the backward state after reading ``x_1``).

Masks. A mask ``m`` of shape (batch, time), 1 (True) for a real step, is given in the original
time order of ``x``. At a masked step (``m_t = 0``) a Keras recurrent layer keeps its state
unchanged and repeats its previous output (zeros before the first real step); this is what
:func:`rnnbook.rnn.rnn_forward`, :func:`rnnbook.lstm.lstm_forward` and :func:`rnnbook.gru.gru_forward` return
for ``mask=``. ``Bidirectional`` changes one thing: when it returns sequences it sets
``zero_output_for_mask=True`` on both of its layers, so the merged sequence has *zeros* at every
masked step, ``y_t = m_t * merge(h^f_t, h^b_t)`` for concat/sum/ave/mul.

Parameters are the dicts of :func:`rnnbook.keras_interop.from_keras`, in the book's notation:

* ``"simple"``: ``W_x`` (H, D), ``W_h`` (H, H), ``b_h`` (H,);
* ``"lstm"``: ``W_x`` (4H, D), ``W_h`` (4H, H), ``b`` (4H,);
* ``"gru"``: ``W_x`` (3H, D), ``W_h`` (3H, H), ``b_x`` (3H,), ``b_h`` (3H,) or None
  (``b_h is None`` means Keras's ``reset_after=False``).

For a Keras ``Bidirectional`` layer ``from_keras`` returns ``{"forward": ..., "backward": ...}``,
so ``bidirectional_forward(x, **rnnbook.from_keras(layer), cell="lstm")`` reproduces it.
This module has no time loop of its own: it calls the recurrences of ``rnnbook``.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np

from ._checks import as_array, check_rank
from .gru import gru_forward
from .lstm import lstm_forward
from .rnn import rnn_forward

__all__ = ["CELL_PARAMS", "MERGE_MODES", "layer_forward", "bidirectional_forward"]

#: The parameter names of each cell, as :func:`rnnbook.keras_interop.from_keras` returns them.
CELL_PARAMS = {
    "simple": ("W_x", "W_h", "b_h"),
    "lstm": ("W_x", "W_h", "b"),
    "gru": ("W_x", "W_h", "b_x", "b_h"),
}

#: The merge modes of ``keras.layers.Bidirectional``.
MERGE_MODES = ("concat", "sum", "ave", "mul", None)


def _check_cell(cell) -> str:
    if cell not in CELL_PARAMS:
        raise ValueError(f"cell must be one of {sorted(CELL_PARAMS)}; got {cell!r}")
    return cell


def _check_params(name: str, params, cell: str) -> dict:
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict of parameters for a {cell!r} layer with keys "
                        f"{list(CELL_PARAMS[cell])}; got {type(params).__name__}")
    expected = set(CELL_PARAMS[cell])
    if set(params) != expected:
        hint = [c for c, keys in CELL_PARAMS.items() if set(keys) == set(params)]
        raise ValueError(
            f"{name} must have the keys {sorted(expected)} of a {cell!r} layer; got "
            f"{sorted(params)}" + (f" (the keys of a {hint[0]!r} layer)" if hint else "")
        )
    return params


def _check_x_and_mask(x, mask):
    x = as_array("x", x)
    check_rank("x", x, 3, "(batch, time, input)")
    if mask is None:
        return x, None
    mask = np.asarray(mask)
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask must have shape (batch, time) = {x.shape[:2]} to match x of shape "
                         f"{x.shape}; got mask of shape {mask.shape}")
    if mask.dtype != bool:
        if mask.dtype.kind not in "biuf" or not np.all((mask == 0) | (mask == 1)):
            raise ValueError(f"mask must be boolean or hold only 0 and 1; got dtype {mask.dtype} "
                             f"with values other than 0 and 1 (shape {mask.shape})")
        mask = mask.astype(bool)
    return x, mask


def _run(x, params: dict, cell: str, go_backwards: bool, mask) -> np.ndarray:
    """The layer's returned sequence (processing order); no argument checks of its own."""
    if cell == "simple":
        return rnn_forward(x, params["W_x"], params["W_h"], params["b_h"],
                           go_backwards=go_backwards, mask=mask)
    if cell == "lstm":
        H, _ = lstm_forward(x, params["W_x"], params["W_h"], params["b"],
                            go_backwards=go_backwards, mask=mask)
        return H
    return gru_forward(x, params["W_x"], params["W_h"], params["b_x"], params["b_h"],
                       reset_after=params["b_h"] is not None, go_backwards=go_backwards,
                       mask=mask)


def _with_name(name: str, run, *args):
    """Run ``run(*args)``; prefix a ValueError or TypeError from it with ``name``."""
    try:
        return run(*args)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{name}: {exc}") from None


def layer_forward(x, params: dict, cell: str, *, go_backwards: bool = False,
                  mask=None, zero_output_for_mask: bool = False) -> np.ndarray:
    """Everything one Keras recurrent layer returns with ``return_sequences=True``.

    Dispatches to :func:`rnnbook.rnn.rnn_forward` (``cell="simple"``), :func:`rnnbook.lstm.lstm_forward`
    (``"lstm"``, returning the hidden states ``h_{1:T}`` and dropping the cell states) or
    :func:`rnnbook.gru.gru_forward` (``"gru"``; ``params["b_h"] is None`` selects
    ``reset_after=False``), from zero initial states.

    Args:
        x: input sequences, shape (batch, time, input).
        params: the layer's parameters as :func:`rnnbook.keras_interop.from_keras` returns them (see
            ``CELL_PARAMS`` for the keys of each cell).
        cell: ``"simple"``, ``"lstm"`` or ``"gru"``.
        go_backwards: read each sequence from its last step to its first; the result stays in
            that processing order, as in Keras.
        mask: None, or (batch, time) booleans (or 0/1) in the original time order of ``x``,
            True for a real step. At a masked step the state is carried over and the output
            repeats the previous one (zeros before the first real step).
        zero_output_for_mask: Keras's layer flag of the same name: with a mask, the output at
            every masked step is zero instead of a repeat of the previous one (the state is
            still carried over). Pass the Keras layer's value
            (``layer.zero_output_for_mask``) together with ``go_backwards``: these two flags
            change what the layer returns, and :func:`~rnnbook.keras_interop.from_keras` reads
            only the weights.

    Returns:
        The outputs ``h_t`` in processing order, shape (batch, time, hidden). ``out[:, -1]``
        is what the layer returns with ``return_sequences=False``.

    Raises:
        ValueError: for an unknown ``cell``, parameters with the wrong keys, a mask whose shape
            is not ``x.shape[:2]`` or whose values are not 0/1, and (from the recurrence) bad
            shapes or non-finite values, prefixed with ``params``.
        TypeError: when ``params`` is not a dict or an array is not numeric.
    """
    cell = _check_cell(cell)
    params = _check_params("params", params, cell)
    x, mask = _check_x_and_mask(x, mask)
    for name, flag in (("go_backwards", go_backwards),
                       ("zero_output_for_mask", zero_output_for_mask)):
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False; got {flag!r}")
    out = _with_name("params", _run, x, params, cell, bool(go_backwards), mask)
    if zero_output_for_mask and mask is not None:
        keep = mask[:, ::-1] if go_backwards else mask             # in processing order
        out = np.where(keep[..., None], out, 0).astype(out.dtype, copy=False)
    return out


def bidirectional_forward(x, forward: dict, backward: dict, cell: str, *,
                          merge_mode: Optional[str] = "concat", mask=None,
                          return_sequences: bool = True
                          ) -> Union[np.ndarray, list]:
    """The output of ``keras.layers.Bidirectional(layer, merge_mode)``, from zero initial states.

    Runs the forward layer on ``x``, the backward layer on ``x`` with ``go_backwards=True``,
    flips the backward sequence back to input order, and merges position by position:
    ``y_t = [h^f_t ; h^b_t]`` (concat), ``h^f_t + h^b_t`` (sum), ``(h^f_t + h^b_t) / 2`` (ave),
    ``h^f_t * h^b_t`` (mul), or the list ``[h^f, h^b]`` (None). With a mask and
    ``return_sequences=True`` both sequences are zero at masked steps (Keras's
    ``Bidirectional`` forces ``zero_output_for_mask=True`` on its layers), so every merged
    output, and both sequences of ``merge_mode=None``, are zero there.

    Args:
        x: input sequences, shape (batch, time, input).
        forward, backward: the two layers' parameters, ``rnnbook.from_keras(bi)["forward"]``
            and ``["backward"]`` for a Keras ``Bidirectional`` layer ``bi`` (so
            ``bidirectional_forward(x, **rnnbook.from_keras(bi), cell=...)`` works).
        cell: ``"simple"``, ``"lstm"`` or ``"gru"``, the kind of layer wrapped (both directions).
        merge_mode: ``"concat"``, ``"sum"``, ``"ave"``, ``"mul"`` or None, as in Keras.
        mask: None, or (batch, time) booleans (or 0/1) in the original time order of ``x``.
        return_sequences: True for the outputs at every step, False for the last processed
            output of each direction (``h^f_T`` and ``h^b_1``; with a mask, the output at each
            direction's last real step, zeros for a row with no real step).

    Returns:
        With ``return_sequences=True``: shape (batch, time, 2H) for concat and (batch, time, H)
        for sum, ave and mul; without: (batch, 2H) or (batch, H). For ``merge_mode=None``, the
        list ``[forward_output, backward_output]`` of two such arrays of width H, the backward
        one in input order.

    Raises:
        ValueError: for an unknown ``cell`` or ``merge_mode``, parameters with the wrong keys,
            forward and backward layers of different widths under sum/ave/mul, a mask whose
            shape is not ``x.shape[:2]``, and (from the recurrences) bad shapes or non-finite
            values, prefixed with ``forward`` or ``backward``.
        TypeError: when ``forward`` or ``backward`` is not a dict or an array is not numeric.
    """
    cell = _check_cell(cell)
    if merge_mode not in MERGE_MODES:
        raise ValueError(f"merge_mode must be one of {list(MERGE_MODES)}; got {merge_mode!r}")
    forward = _check_params("forward", forward, cell)
    backward = _check_params("backward", backward, cell)
    x, mask = _check_x_and_mask(x, mask)

    y_f = _with_name("forward", _run, x, forward, cell, False, mask)        # h^f_1 .. h^f_T
    y_b = _with_name("backward", _run, x, backward, cell, True, mask)       # h^b_T .. h^b_1
    if merge_mode in ("sum", "ave", "mul") and y_f.shape != y_b.shape:
        raise ValueError(
            f"merge_mode {merge_mode!r} needs forward and backward layers of the same width; "
            f"got outputs of shapes {y_f.shape} (forward) and {y_b.shape} (backward)"
        )
    if return_sequences:
        y_b = y_b[:, ::-1]                                   # back to input order: h^b_1 .. h^b_T
        if mask is not None:                                 # zero_output_for_mask=True
            keep = mask[:, :, None]
            y_f = np.where(keep, y_f, np.zeros((), y_f.dtype))
            y_b = np.where(keep, y_b, np.zeros((), y_b.dtype))
    else:
        y_f, y_b = y_f[:, -1], y_b[:, -1]                    # last processed: h^f_T and h^b_1
    if merge_mode == "concat":
        return np.concatenate([y_f, y_b], axis=-1)
    if merge_mode == "sum":
        return y_f + y_b
    if merge_mode == "ave":
        return (y_f + y_b) / 2
    if merge_mode == "mul":
        return y_f * y_b
    return [np.ascontiguousarray(y_f), np.ascontiguousarray(y_b)]
