"""One-dimensional convolution over time, as ``keras.layers.Conv1D`` computes it (stride 1).

A convolutional layer slides ``F`` filters of ``k`` taps along the time axis. With taps spaced
``d`` steps apart (the *dilation rate*) and the input padded with ``p`` zeros on the left, the
output at step ``t`` is, in the book's column-vector notation::

    y_t = b + sum_{j=0}^{k-1} W_j x_{t + j*d - p}          (filters,)

where ``W_j`` (filters, input) is tap ``j`` and ``x_s = 0`` outside ``0 <= s < T``. Keras stores
the taps as one array ``kernel`` of shape (kernel_size, input, filters) with ``kernel[j] = W_j.T``
and computes a batch of rows as ``y[:, t] = b + sum_j x[:, t + j*d - p] @ kernel[j]``.

The three paddings differ only in ``p`` and in how many outputs there are. With the span of the
filter ``s = (k - 1) d`` (one less than its receptive field ``(k - 1) d + 1``):

* ``"causal"`` (WaveNet, van den Oord et al., 2016): ``p = s`` zeros on the left, none on the
  right, ``T`` outputs; ``y_t = b + sum_j W_j x_{t - (k-1-j) d}`` reads only ``x_t`` and earlier
  steps, so a stack of causal layers never sees the future.
* ``"same"``: ``s`` zeros split as TensorFlow's ``SAME`` padding does, ``floor(s/2)`` on the left
  and ``ceil(s/2)`` on the right (the extra zero goes to the right when ``s`` is odd, e.g. an even
  ``k`` with odd ``d``), ``T`` outputs; ``y_t`` is centred on ``x_t``.
* ``"valid"``: no padding, ``T - s`` outputs, one for every window that lies inside the input;
  needs ``T >= s + 1``.

:func:`receptive_field` gives how many input steps one output of a stack of layers reads:
each layer of ``k`` taps at dilation ``d`` widens it by ``(k - 1) d``, so a stack has
``1 + sum_l (k_l - 1) d_l``; WaveNet's doubling dilations 1, 2, 4, ... reach ``2^L`` steps with
``L`` layers of kernel size 2.

Every public function checks its arguments once and raises ``ValueError`` naming the argument
and the shapes it saw; the private kernels below compute without checks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._checks import result_dtype

__all__ = ["conv1d_forward", "conv1d_backward", "receptive_field", "conv1d_padding"]

PADDINGS = ("causal", "same", "valid")


# --- argument checks ----------------------------------------------------------------------------

def _as_float(name: str, value) -> np.ndarray:
    """``value`` as a real floating-point array, or ``ValueError`` naming ``name``."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and other unconvertible objects
        raise ValueError(f"{name} could not be converted to an array ({exc})") from None
    if arr.dtype.kind != "f":
        raise ValueError(f"{name} must be a real floating-point array (float16, float32 or "
                         f"float64); got dtype {arr.dtype} with shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values (shape {arr.shape})")
    return arr


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _check_padding(padding) -> str:
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}; got {padding!r}")
    return padding.lower()


def _check(x, kernel, bias, padding, dilation_rate):
    """Validate the arguments of the forward and backward pass; returns them as arrays."""
    padding = _check_padding(padding)
    d = _positive_int("dilation_rate", dilation_rate)
    x = _as_float("x", x)
    kernel = _as_float("kernel", kernel)
    if x.ndim != 3:
        raise ValueError(f"x must have 3 dimensions (batch, time, input); got shape {x.shape}")
    if kernel.ndim != 3:
        raise ValueError(f"kernel must have 3 dimensions (kernel_size, input, filters), "
                         f"Keras's layout; got shape {kernel.shape}")
    k, n_in, n_filters = kernel.shape
    if k < 1:
        raise ValueError(f"kernel_size (kernel.shape[0]) must be at least 1; got kernel of "
                         f"shape {kernel.shape}")
    if x.shape[2] != n_in:
        raise ValueError(f"x has {x.shape[2]} input features (shape {x.shape}) but kernel "
                         f"expects {n_in} (kernel.shape[1], kernel of shape {kernel.shape})")
    if bias is not None:
        bias = _as_float("bias", bias)
        if bias.shape != (n_filters,):
            raise ValueError(f"bias must have shape (filters,) = ({n_filters},) to match "
                             f"kernel of shape {kernel.shape}; got bias of shape {bias.shape}")
    span = (k - 1) * d
    if padding == "valid" and x.shape[1] < span + 1:
        raise ValueError(f"padding='valid' needs at least the receptive field (kernel_size - 1)"
                         f" * dilation_rate + 1 = {span + 1} time steps; got x of shape "
                         f"{x.shape} (kernel {kernel.shape}, dilation_rate {d})")
    return x, kernel, bias, padding, d


# --- private kernels (no checks) ----------------------------------------------------------------

def _pad(kernel_size: int, dilation_rate: int, padding: str) -> tuple[int, int]:
    """Zeros added (left, right) of the time axis."""
    span = (kernel_size - 1) * dilation_rate
    if padding == "causal":
        return span, 0
    if padding == "same":
        return span // 2, span - span // 2
    return 0, 0


def _windows(x_padded: np.ndarray, kernel_size: int, dilation_rate: int, t_out: int):
    """The k dilated, shifted views of the padded input, shape (batch, t_out, k, input).

    ``windows[:, t, j] = x_padded[:, t + j * dilation_rate]``.
    """
    index = np.arange(t_out)[:, None] + dilation_rate * np.arange(kernel_size)[None, :]
    return x_padded[:, index, :]


def _forward(x, kernel, bias, dilation_rate, left, right):
    k, n_in, n_filters = kernel.shape
    x_padded = np.pad(x, ((0, 0), (left, right), (0, 0)))
    t_out = x_padded.shape[1] - (k - 1) * dilation_rate
    windows = _windows(x_padded, k, dilation_rate, t_out)            # (B, T_out, k, C)
    y = windows.reshape(x.shape[0], t_out, k * n_in) @ kernel.reshape(k * n_in, n_filters)
    if bias is not None:
        y = y + bias
    return y


def _backward(x, kernel, dY, dilation_rate, left, right):
    k, n_in, n_filters = kernel.shape
    batch, time, _ = x.shape
    t_out = dY.shape[1]
    x_padded = np.pad(x, ((0, 0), (left, right), (0, 0)))
    windows = _windows(x_padded, k, dilation_rate, t_out).reshape(batch * t_out, k * n_in)
    dY2 = dY.reshape(batch * t_out, n_filters)
    d_kernel = (windows.T @ dY2).reshape(k, n_in, n_filters)
    d_windows = (dY2 @ kernel.reshape(k * n_in, n_filters).T).reshape(batch, t_out, k, n_in)
    d_padded = np.zeros_like(x_padded)
    for j in range(k):                      # tap j read x_padded[:, t + j d] for every t
        d_padded[:, j * dilation_rate:j * dilation_rate + t_out] += d_windows[:, :, j]
    return {"x": d_padded[:, left:left + time], "kernel": d_kernel, "bias": dY2.sum(axis=0)}


# --- public functions ---------------------------------------------------------------------------

def conv1d_padding(kernel_size: int, dilation_rate: int = 1,
                   padding: str = "causal") -> tuple[int, int]:
    """The zeros Keras adds before and after the time axis, ``(left, right)``.

    With the filter's span ``s = (kernel_size - 1) * dilation_rate``: ``(s, 0)`` for
    ``"causal"``, ``(s // 2, s - s // 2)`` for ``"same"`` (TensorFlow's ``SAME``: an odd ``s``
    puts the extra zero on the right) and ``(0, 0)`` for ``"valid"``. The output then has
    ``T + left + right - s`` steps.
    """
    k = _positive_int("kernel_size", kernel_size)
    d = _positive_int("dilation_rate", dilation_rate)
    return _pad(k, d, _check_padding(padding))


def conv1d_forward(x, kernel, bias=None, padding: str = "causal",
                   dilation_rate: int = 1) -> np.ndarray:
    """A 1-D convolution over time, equal to ``keras.layers.Conv1D`` with stride 1.

    For every sequence of the batch and every output step ``t``, with ``p`` the left padding
    (:func:`conv1d_padding`) and ``x_s = 0`` outside the sequence::

        y_t = b + sum_{j=0}^{k-1} W_j x_{t + j*d - p}                    W_j = kernel[j].T

    which for ``padding="causal"`` (``p = (k - 1) d``) reads
    ``y_t = b + sum_j W_j x_{t - (k-1-j) d}``: tap ``k - 1`` sees ``x_t``, tap ``j`` the step
    ``(k - 1 - j) d`` earlier. Computed for the whole batch at once: the ``k`` shifted views of
    the padded input are gathered into an array of shape (batch, T_out, k * input) and multiplied
    by the kernel reshaped to (k * input, filters).

    Args:
        x: inputs, shape (batch, time, input).
        kernel: the taps in Keras's layout, shape (kernel_size, input, filters)
            (``layer.kernel`` of a ``Conv1D``).
        bias: shape (filters,), or None for no bias (``use_bias=False``).
        padding: ``"causal"`` (default), ``"same"`` or ``"valid"``, as in Keras.
        dilation_rate: the spacing ``d >= 1`` of the taps.

    Returns:
        ``y``, shape (batch, T_out, filters), with ``T_out = time`` for ``"causal"`` and
        ``"same"`` and ``time - (kernel_size - 1) * dilation_rate`` for ``"valid"``; float32 if
        every input is float32, float64 otherwise. No activation is applied.

    Raises:
        ValueError: for arrays of the wrong rank, an input size that differs from
            ``kernel.shape[1]``, a bias that is not (filters,), a kernel size or dilation rate
            below 1, an unknown padding, ``"valid"`` padding with fewer steps than the receptive
            field, non-floating dtypes, or NaN / infinite entries.
    """
    x, kernel, bias, padding, d = _check(x, kernel, bias, padding, dilation_rate)
    dtype = result_dtype(*(a for a in (x, kernel, bias) if a is not None))
    left, right = _pad(kernel.shape[0], d, padding)
    y = _forward(x.astype(dtype, copy=False), kernel.astype(dtype, copy=False),
                 None if bias is None else bias.astype(dtype, copy=False), d, left, right)
    return y.astype(dtype, copy=False)


def conv1d_backward(x, kernel, dY, bias=None, padding: str = "causal",
                    dilation_rate: int = 1) -> dict:
    """Gradients of :func:`conv1d_forward` given ``dY = dL/dy``.

    Every output step is an affine map of ``k`` input steps, so the gradient sums over the
    steps where each weight and each input was used (``x_s`` is the padded input, ``p`` the left
    padding)::

        dL/dW_j = sum_{batch, t} dY_t x_{t + j*d - p}^T          (filters, input)
        dL/db   = sum_{batch, t} dY_t                              (filters,)
        dL/dx_s = sum_{j, t : t + j*d - p = s} W_j^T dY_t          (input,)

    The last line scatters each output's gradient back to the ``k`` steps it read; the padded
    zeros' gradients are dropped. Returned in Keras's layout: ``kernel[j]`` is
    ``(dL/dW_j).T``.

    Args:
        x, kernel, bias, padding, dilation_rate: as for :func:`conv1d_forward`.
        dY: the loss gradient with respect to the output, shape (batch, T_out, filters).

    Returns:
        dict with ``x`` (batch, time, input), ``kernel`` (kernel_size, input, filters) and
        ``bias`` (filters,) (also given when ``bias`` is None: the gradient a bias would get).
        float32 if every input is float32, float64 otherwise.

    Raises:
        ValueError: as :func:`conv1d_forward`, and for a ``dY`` whose shape is not
            (batch, T_out, filters).
    """
    x, kernel, bias, padding, d = _check(x, kernel, bias, padding, dilation_rate)
    dY = _as_float("dY", dY)
    left, right = _pad(kernel.shape[0], d, padding)
    t_out = x.shape[1] + left + right - (kernel.shape[0] - 1) * d
    expected = (x.shape[0], t_out, kernel.shape[2])
    if dY.shape != expected:
        raise ValueError(f"dY must have shape (batch, T_out, filters) = {expected} for x of "
                         f"shape {x.shape}, kernel {kernel.shape}, padding {padding!r} and "
                         f"dilation_rate {d}; got dY of shape {dY.shape}")
    dtype = result_dtype(*(a for a in (x, kernel, bias, dY) if a is not None))
    grads = _backward(x.astype(dtype, copy=False), kernel.astype(dtype, copy=False),
                      dY.astype(dtype, copy=False), d, left, right)
    return {name: g.astype(dtype, copy=False) for name, g in grads.items()}


def receptive_field(kernel_size, dilation_rates=1) -> int:
    """How many input steps one output of a stack of convolutions reads: ``1 + sum (k - 1) d``.

    A layer with ``k`` taps at dilation ``d`` lets output ``t`` read the steps ``t - (k-1) d``
    to ``t`` (causal); the next layer reads ``k`` such outputs spaced by its own dilation, so
    each layer widens the window by ``(k_l - 1) d_l``::

        R = 1 + sum_l (k_l - 1) d_l

    With kernel size 2 and dilations 1, 2, 4, ..., 2^(L-1) (WaveNet), ``R = 2^L``.

    Args:
        kernel_size: one kernel size for every layer (int), or one per layer (sequence of int).
        dilation_rates: one dilation rate per layer (sequence of int), or an int for a single
            layer (or for every layer when ``kernel_size`` is a sequence).

    Returns:
        the receptive field, an int ``>= 1``.

    Raises:
        ValueError: for kernel sizes or dilation rates below 1, non-integers, or two sequences
            of different lengths.
    """
    def as_list(name, value):
        if isinstance(value, Sequence) or isinstance(value, np.ndarray):
            values = [_positive_int(f"{name}[{i}]", v) for i, v in enumerate(value)]
            if not values:
                raise ValueError(f"{name} is empty: give at least one layer")
            return values
        return None

    sizes = as_list("kernel_size", kernel_size)
    rates = as_list("dilation_rates", dilation_rates)
    if sizes is None:
        k = _positive_int("kernel_size", kernel_size)
        sizes = [k] * (1 if rates is None else len(rates))
    if rates is None:
        rates = [_positive_int("dilation_rates", dilation_rates)] * len(sizes)
    if len(sizes) != len(rates):
        raise ValueError(f"kernel_size and dilation_rates must have one entry per layer; got "
                         f"{len(sizes)} kernel sizes {sizes} and {len(rates)} dilation rates "
                         f"{rates}")
    return 1 + sum((k - 1) * d for k, d in zip(sizes, rates))
