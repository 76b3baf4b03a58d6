"""How much arithmetic a recurrent layer does: the matrix-product count of chapter 20.

A recurrent layer with ``G`` gate blocks (``G = 1`` for SimpleRNN, 4 for LSTM, 3 for GRU)
multiplies, at every step, the input ``x_t`` (D,) by ``W_x`` (GH, D) and the previous state
``h_{t-1}`` (H,) by ``W_h`` (GH, H). A product of an (m, k) by a (k, n) matrix takes m·k·n
multiplications and as many additions, so one forward pass over a batch of B sequences of T
steps costs::

    forward  = 2 · B · T · G · H · (D + H)     floating-point operations

Backpropagation through time multiplies the gate gradients ``da_t`` (B, GH) twice more by
matrices of the same sizes: by ``x_t`` and ``h_{t-1}`` for the weight gradients, and by ``W_x``
and ``W_h`` for the gradients of the input and of the previous state. So::

    forward + backward = 3 · forward

Bias additions, activations and the elementwise gate arithmetic add O(B·T·G·H) operations, a
fraction ~1/(D + H) of the products; they are left out, as is customary.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["GATE_BLOCKS", "matmul_flops"]

#: Number of (H, ·) weight blocks per layer, keyed by Keras's layer class name.
GATE_BLOCKS = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def matmul_flops(layer: str, batch: int, time: int, inputs: int, hidden: int, *,
                 backward: bool = False) -> int:
    """Floating-point operations in the matrix products of one pass of a recurrent layer.

    ``2 · batch · time · G · hidden · (inputs + hidden)`` for the forward pass, three times as
    many when ``backward`` is true (forward pass plus backpropagation through time), with
    ``G = GATE_BLOCKS[layer]``. Both GRU variants count alike: ``reset_after`` moves where the
    reset gate is applied, not how large the products are.

    Args:
        layer: ``"SimpleRNN"``, ``"LSTM"`` or ``"GRU"``.
        batch, time, inputs, hidden: B, T, D and H; positive integers (Python or NumPy
            integers; the count is computed with Python ints, so it cannot overflow).
        backward: count the forward pass and its backward pass together.

    Returns:
        The count, a Python int (exact; no overflow).
    """
    if layer not in GATE_BLOCKS:
        raise ValueError(f"layer must be one of {sorted(GATE_BLOCKS)}; got {layer!r}")
    sizes = {"batch": batch, "time": time, "inputs": inputs, "hidden": hidden}
    for name, value in sizes.items():
        if (not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_))
                or value < 1):
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    # Python ints from here on: NumPy integers would wrap around silently on overflow.
    batch, time, inputs, hidden = (int(sizes[name]) for name in sizes)
    forward = 2 * batch * time * GATE_BLOCKS[layer] * hidden * (inputs + hidden)
    return 3 * forward if backward else forward
