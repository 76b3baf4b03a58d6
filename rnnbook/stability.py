"""How gradients flow back through time: Jacobians, their products, and the spectral radius.

For the simple recurrence ``h_t = tanh(W_h h_{t-1} + W_x x_t + b_h)`` (column vectors, ``h_t`` in
R^H) the Jacobian of one step with respect to the previous state is

    J_t = dh_t / dh_{t-1} = diag(1 - h_t**2) W_h                        (H, H)

because ``tanh'(a) = 1 - tanh(a)**2``. By the chain rule, the sensitivity of the last state to an
earlier one is the product of the step Jacobians in between,

    dh_T / dh_t = J_T J_{T-1} ... J_{t+1},

and since every factor ``1 - h**2`` lies in [0, 1], its norm obeys

    || dh_T / dh_t ||_2  <=  ||W_h||_2 ** (T - t).

The product shrinks or grows geometrically in the lag ``T - t``: the vanishing and exploding
gradients of Bengio et al. (1994) and Pascanu et al. (2013). The functions here compute these
quantities for a batch of sequences whose states come from :func:`rnnbook.rnn.rnn_forward`, plus the
two tools used to control the size of ``W_h`` at initialisation: rescaling to a chosen spectral
radius, and orthogonal matrices (Keras's default ``recurrent_initializer``).

Arrays follow the book's conventions: a batch of states ``H`` has shape (batch, time, hidden) with
``H[:, s]`` the state after step ``s + 1`` (``h_{s+1}`` in the math, ``h_0`` being the initial
state), and ``W_h`` has shape (hidden, hidden) in column-vector form (Keras's
``recurrent_kernel`` is ``W_h.T``).
"""

from __future__ import annotations

from typing import Iterator, Literal, Sequence

import numpy as np

from ._checks import as_array, check_rank, check_shape_matches

__all__ = [
    "hidden_jacobians", "jacobian_products", "jacobian_product_norms", "jacobian_norm_bound",
    "spectral_radius", "scale_to_spectral_radius", "orthogonal", "orthogonal_from_gaussian",
]

Norm = Literal["spectral", "fro"]


def _check_states_and_weights(H, W_h) -> tuple[np.ndarray, np.ndarray]:
    H = as_array("H", H)
    W_h = as_array("W_h", W_h)
    check_rank("H", H, 3, "(batch, time, hidden)")
    check_rank("W_h", W_h, 2, "(hidden, hidden)")
    hidden = H.shape[2]
    check_shape_matches("W_h", W_h, (hidden, hidden), "(hidden, hidden)", "H", H.shape)
    if H.shape[1] == 0:
        raise ValueError(f"H must contain at least one time step; got shape {H.shape}")
    if H.size and np.max(np.abs(H)) > 1.0:
        raise ValueError(
            f"H must hold tanh states, with every entry in [-1, 1]; got max |H| = "
            f"{float(np.max(np.abs(H))):.4g} (shape {H.shape}). Pass the output of rnn_forward."
        )
    return H.astype(np.float64, copy=False), W_h.astype(np.float64, copy=False)


def _check_norm(norm: str) -> None:
    if norm not in ("spectral", "fro"):
        raise ValueError(f"norm must be 'spectral' or 'fro'; got {norm!r}")


def hidden_jacobians(H, W_h) -> np.ndarray:
    """The one-step Jacobians ``J_t = dh_t/dh_{t-1} = diag(1 - h_t**2) W_h`` for a batch.

    Row ``i`` of ``W_h`` is scaled by ``1 - h_{t,i}**2``, the derivative of tanh at unit ``i``.

    Args:
        H: hidden states from :func:`rnnbook.rnn.rnn_forward`, shape (batch, time, hidden), entries
            in [-1, 1].
        W_h: recurrent weights, shape (hidden, hidden).

    Returns:
        ``J`` of shape (batch, time, hidden, hidden), float64, with ``J[b, s]`` the Jacobian of
        ``H[b, s]`` with respect to the state before it (``H[b, s - 1]``, or ``h_0`` for ``s = 0``).
    """
    H, W_h = _check_states_and_weights(H, W_h)
    return (1.0 - H * H)[..., :, None] * W_h


def _products(H: np.ndarray, W_h: np.ndarray) -> Iterator[np.ndarray]:
    """Yield ``dh_T/dh_{T-k}`` for k = 1..T, each (batch, hidden, hidden)."""
    D = 1.0 - H * H                                   # (batch, time, hidden): tanh' per step
    P = D[:, -1, :, None] * W_h                       # J_T
    yield P
    for s in range(H.shape[1] - 2, -1, -1):           # J_{s+1} in the math is H index s
        # P @ diag(d) @ W_h without forming diag(d): scale P's columns, then multiply
        P = (P * D[:, s, None, :]) @ W_h
        yield P


def jacobian_products(H, W_h) -> np.ndarray:
    """Every product of Jacobians ``dh_T/dh_{T-k} = J_T J_{T-1} ... J_{T-k+1}``, k = 1..T.

    Args:
        H: hidden states from :func:`rnnbook.rnn.rnn_forward`, shape (batch, time, hidden).
        W_h: recurrent weights, shape (hidden, hidden).

    Returns:
        ``P`` of shape (batch, time, hidden, hidden), float64, indexed by the lag ``k``:
        ``P[b, k - 1] = dh_T/dh_{T-k}``, so ``P[:, 0]`` is the last step's Jacobian ``J_T`` and
        ``P[:, -1]`` is ``dh_T/dh_0``, the sensitivity of the last state to the initial one.
        Memory grows as batch * time * hidden**2; :func:`jacobian_product_norms` keeps only norms.
    """
    H, W_h = _check_states_and_weights(H, W_h)
    return np.stack(list(_products(H, W_h)), axis=1)


def jacobian_product_norms(H, W_h, norm: Norm = "spectral") -> np.ndarray:
    """The size ``||dh_T/dh_{T-k}||`` of every Jacobian product, for lags k = 1..T.

    ``norm="spectral"`` (default) is the matrix 2-norm, the largest singular value: the most that
    the product can stretch a vector, the quantity the bound
    ``||dh_T/dh_{T-k}||_2 <= ||W_h||_2 ** k`` (see :func:`jacobian_norm_bound`) speaks about.
    ``norm="fro"`` is the Frobenius norm ``sqrt(sum of squared entries)``, which is cheaper and
    at most ``sqrt(hidden)`` times larger.

    Args:
        H: hidden states from :func:`rnnbook.rnn.rnn_forward`, shape (batch, time, hidden).
        W_h: recurrent weights, shape (hidden, hidden).
        norm: ``"spectral"`` or ``"fro"``.

    Returns:
        Norms of shape (batch, time), float64: ``out[b, k - 1] = ||dh_T/dh_{T-k}||`` for sequence
        ``b``; plot it against ``k = np.arange(1, time + 1)``.
    """
    _check_norm(norm)
    H, W_h = _check_states_and_weights(H, W_h)
    ord_ = 2 if norm == "spectral" else "fro"
    out = np.empty(H.shape[:2])
    with np.errstate(over="ignore", invalid="ignore"):  # an exploding product may overflow
        for k, P in enumerate(_products(H, W_h)):
            finite = np.all(np.isfinite(P), axis=(-2, -1))
            out[:, k] = np.inf                          # overflowed products count as infinite
            if finite.any():
                out[finite, k] = np.linalg.norm(P[finite], ord=ord_, axis=(-2, -1))
    return out


def jacobian_norm_bound(W_h, lags, gamma: float = 1.0) -> np.ndarray:
    """The upper bound ``(gamma * ||W_h||_2) ** k`` on ``||dh_T/dh_{T-k}||_2``.

    Each step Jacobian is ``diag(f'(a_t)) W_h``; with ``|f'| <= gamma`` (``gamma = 1`` for tanh,
    whose slope peaks at 1 at the origin), ``||J_t||_2 <= gamma ||W_h||_2`` and the norm of a
    product is at most the product of the norms.

    Args:
        W_h: recurrent weights, shape (hidden, hidden).
        lags: the lags ``k``, any shape of non-negative numbers.
        gamma: the largest slope of the activation; 1 for tanh.

    Returns:
        The bound for every lag, float64, with the shape of ``lags``.
    """
    W_h = as_array("W_h", W_h)
    check_rank("W_h", W_h, 2, "(hidden, hidden)")
    if W_h.shape[0] != W_h.shape[1]:
        raise ValueError(f"W_h must be square (hidden, hidden); got shape {W_h.shape}")
    lags = as_array("lags", lags)
    if np.any(lags < 0):
        raise ValueError(f"lags must be non-negative; got min {float(lags.min())}")
    if not gamma > 0:
        raise ValueError(f"gamma must be positive; got {gamma}")
    base = gamma * float(np.linalg.norm(W_h.astype(np.float64), ord=2))
    with np.errstate(over="ignore"):
        return base ** lags.astype(np.float64)


def spectral_radius(W) -> float:
    """The spectral radius ``rho(W) = max |lambda_i|`` over the eigenvalues of a square matrix.

    ``rho(W) <= ||W||_2``, with equality for normal matrices (symmetric, orthogonal, ...). For
    large powers, ``||W**k|| ~ rho(W)**k``: repeated multiplication by ``W`` shrinks vectors when
    ``rho < 1`` and (generically) blows them up when ``rho > 1``.

    Args:
        W: a square matrix, shape (n, n).

    Returns:
        ``rho(W)`` as a Python float.
    """
    W = as_array("W", W)
    check_rank("W", W, 2, "(n, n)")
    if W.shape[0] != W.shape[1] or W.shape[0] == 0:
        raise ValueError(f"W must be a non-empty square matrix; got shape {W.shape}")
    return float(np.max(np.abs(np.linalg.eigvals(W.astype(np.float64)))))


def scale_to_spectral_radius(W, rho: float) -> np.ndarray:
    """``W * rho / rho(W)``: the same matrix rescaled so its spectral radius is ``rho``.

    Eigenvectors are unchanged; every eigenvalue is multiplied by ``rho / rho(W)``.

    Args:
        W: a square matrix, shape (n, n), with a non-zero spectral radius.
        rho: the target spectral radius, > 0.

    Returns:
        A new array of the shape and dtype of ``W`` (float64 for integer input).
    """
    W = as_array("W", W)
    if not (np.isscalar(rho) and np.isreal(rho)) or not np.isfinite(rho) or not rho > 0:
        raise ValueError(f"rho must be a positive finite number; got {rho!r}")
    current = spectral_radius(W)
    if current == 0.0:
        raise ValueError(f"W has spectral radius 0 (it is nilpotent, e.g. all zeros; shape "
                         f"{W.shape}), so it cannot be rescaled to spectral radius {rho}")
    return (W * (rho / current)).astype(W.dtype, copy=False)


def _check_shape(shape) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise TypeError(f"shape must be a sequence of integers; got {shape!r}") from None
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"shape must have at least two positive dimensions; got {shape}")
    return shape


def _gaussian_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    return max(rows, cols), min(rows, cols)


def orthogonal_from_gaussian(A, shape: Sequence[int], gain: float = 1.0,
                             dtype=np.float64) -> np.ndarray:
    """Keras's ``Orthogonal`` recipe applied to a given standard normal matrix ``A``.

    With ``rows = prod(shape[:-1])`` and ``cols = shape[-1]``, ``A`` must have shape
    (max(rows, cols), min(rows, cols)). Factor ``A = Q R`` (reduced QR), multiply column ``j``
    of ``Q`` by ``sign(R_jj)`` (this makes the factorisation unique, and ``Q`` uniformly (Haar)
    distributed rather than biased by the QR routine's sign convention), transpose if
    ``rows < cols``, reshape to ``shape`` and multiply by ``gain``.

    Given the Gaussian draw that ``keras.initializers.Orthogonal(seed=s)`` makes,
    ``keras.random.normal((max(rows, cols), min(rows, cols)), seed=s)``, this returns Keras's
    matrix up to float32 rounding (``tests/test_stability.py`` checks it).

    Args:
        A: the standard normal matrix, shape (max(rows, cols), min(rows, cols)).
        shape: the shape of the result, at least two dimensions.
        gain: the multiplier, Keras's ``gain``.
        dtype: the floating dtype of the result (the factorisation runs in float64).

    Returns:
        An array of ``shape``: orthonormal columns (rows >= cols) or rows (rows < cols), times gain.
    """
    shape = _check_shape(shape)
    A = as_array("A", A)
    expected = _gaussian_shape(shape)
    check_shape_matches("A", A, expected, "(max(rows, cols), min(rows, cols))", "shape", shape)
    if not np.isfinite(gain):
        raise ValueError(f"gain must be finite; got {gain}")
    Q, R = np.linalg.qr(A.astype(np.float64))   # reduced: Q (max, min), R (min, min)
    Q = Q * np.sign(np.diag(R))               # column j times sign(R_jj)
    if shape[-1] > expected[1]:               # rows < cols: the rows are orthonormal
        Q = Q.T
    return (gain * Q.reshape(shape)).astype(dtype)


def orthogonal(shape: Sequence[int], rng: np.random.Generator, gain: float = 1.0,
               dtype=np.float64) -> np.ndarray:
    """A random (semi-)orthogonal matrix, drawn the way ``keras.initializers.Orthogonal`` does.

    Draws a standard normal matrix of shape (max(rows, cols), min(rows, cols)) from ``rng``
    (``rows = prod(shape[:-1])``, ``cols = shape[-1]``) and passes it to
    ``orthogonal_from_gaussian``: QR, columns signed by ``diag(R)``, transposed if needed,
    reshaped, times ``gain``. A square result satisfies ``Q.T @ Q = Q @ Q.T = gain**2 I``: every
    singular value (and every eigenvalue's modulus) equals ``gain`` (Saxe et al., 2014). Keras
    draws its Gaussian matrix from its own generator, so the numbers differ from Keras's; the
    distribution is the same, and given Keras's draw the recipe gives Keras's matrix.

    Args:
        shape: the shape of the result, at least two dimensions, e.g. (hidden, hidden).
        rng: a NumPy ``Generator`` (``rnnbook.setup`` returns one).
        gain: the multiplier, Keras's ``gain``.
        dtype: the floating dtype of the result.

    Returns:
        An array of ``shape``: orthonormal columns (rows >= cols) or rows (rows < cols), times gain.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (e.g. from rnnbook.setup); "
                        f"got {type(rng).__name__}")
    shape = _check_shape(shape)
    if not np.isfinite(gain):
        raise ValueError(f"gain must be finite; got {gain}")
    A = rng.standard_normal(_gaussian_shape(shape))
    return orthogonal_from_gaussian(A, shape, gain=gain, dtype=dtype)
