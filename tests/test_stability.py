"""Specification of rnnbook.stability: Jacobians through time, spectral radius, orthogonal init."""

import numpy as np
import pytest

from rnnbook import rnn_backward, rnn_forward
from rnnbook.stability import (hidden_jacobians, jacobian_norm_bound, jacobian_product_norms,
                               jacobian_products, orthogonal, orthogonal_from_gaussian,
                               scale_to_spectral_radius, spectral_radius)


def small_rnn(rng, batch=3, time=6, inputs=2, hidden=4, scale=0.8):
    """Float64 weights, inputs and initial state of a small RNN, and its states."""
    W_x = rng.normal(scale=0.7, size=(hidden, inputs))
    W_h = rng.normal(scale=scale / np.sqrt(hidden), size=(hidden, hidden))
    b_h = rng.normal(scale=0.3, size=hidden)
    x = rng.normal(size=(batch, time, inputs))
    h0 = rng.normal(scale=0.5, size=(batch, hidden))
    H = rnn_forward(x, W_x, W_h, b_h, h0=h0)
    return x, W_x, W_h, b_h, h0, H


def finite_difference_dhT_dh(x, W_x, W_h, b_h, h_start, start, eps=1e-6):
    """d h_T / d h_start by central differences, running the recurrence from x[:, start:]."""
    batch, hidden = h_start.shape
    J = np.empty((batch, hidden, hidden))
    for j in range(hidden):
        step = np.zeros(hidden)
        step[j] = eps
        plus = rnn_forward(x[:, start:], W_x, W_h, b_h, h0=h_start + step)[:, -1]
        minus = rnn_forward(x[:, start:], W_x, W_h, b_h, h0=h_start - step)[:, -1]
        J[:, :, j] = (plus - minus) / (2 * eps)
    return J


# ----------------------------------------------------------------------------- Jacobians

def test_one_step_jacobian_is_diag_tanh_prime_times_W_h(rng):
    x, W_x, W_h, b_h, h0, H = small_rnn(rng)
    J = hidden_jacobians(H, W_h)
    assert J.shape == (3, 6, 4, 4)
    b, s = 1, 2
    np.testing.assert_allclose(J[b, s], np.diag(1 - H[b, s] ** 2) @ W_h)


def test_one_step_jacobian_matches_finite_differences(rng):
    x, W_x, W_h, b_h, h0, H = small_rnn(rng, time=1)
    numeric = finite_difference_dhT_dh(x, W_x, W_h, b_h, h0, start=0)
    np.testing.assert_allclose(hidden_jacobians(H, W_h)[:, 0], numeric, atol=1e-8)


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0])
def test_jacobian_products_match_finite_differences_at_every_lag(scale, rng):
    x, W_x, W_h, b_h, h0, H = small_rnn(rng, scale=scale)
    P = jacobian_products(H, W_h)
    time = H.shape[1]
    assert P.shape == (3, time, 4, 4)
    for k in range(1, time + 1):
        start = time - k                                   # h_{T-k} is H[:, start - 1] or h0
        h_start = h0 if start == 0 else H[:, start - 1]
        numeric = finite_difference_dhT_dh(x, W_x, W_h, b_h, h_start, start)
        np.testing.assert_allclose(P[:, k - 1], numeric, atol=1e-7, err_msg=f"lag {k}")


def test_product_rows_are_what_rnn_backward_sends_to_h0(rng):
    """dH = e_i at the last step only: backprop delivers row i of dh_T/dh_0 to h0."""
    x, W_x, W_h, b_h, h0, H = small_rnn(rng, time=9, hidden=5)
    dh_T_dh_0 = jacobian_products(H, W_h)[:, -1]
    for i in range(5):
        dH = np.zeros_like(H)
        dH[:, -1, i] = 1.0
        grads = rnn_backward(x, W_x, W_h, b_h, dH, h0=h0, H=H)
        np.testing.assert_allclose(grads["h0"], dh_T_dh_0[:, i, :], atol=1e-12)


def test_product_is_the_ordered_product_of_step_jacobians(rng):
    x, W_x, W_h, b_h, h0, H = small_rnn(rng, time=4)
    J = hidden_jacobians(H, W_h)
    P = jacobian_products(H, W_h)
    b = 2
    np.testing.assert_allclose(P[b, 2], J[b, 3] @ J[b, 2] @ J[b, 1])


@pytest.mark.parametrize("norm, ord_", [("spectral", 2), ("fro", "fro")])
def test_norms_are_the_norms_of_the_products(norm, ord_, rng):
    x, W_x, W_h, b_h, h0, H = small_rnn(rng)
    norms = jacobian_product_norms(H, W_h, norm=norm)
    expected = np.linalg.norm(jacobian_products(H, W_h), ord=ord_, axis=(-2, -1))
    assert norms.shape == H.shape[:2]
    np.testing.assert_allclose(norms, expected, rtol=1e-12)


@pytest.mark.parametrize("scale", [0.5, 1.5, 4.0])
def test_norms_never_exceed_the_bound(scale, rng):
    x, W_x, W_h, b_h, h0, H = small_rnn(rng, time=12, scale=scale)
    norms = jacobian_product_norms(H, W_h)
    bound = jacobian_norm_bound(W_h, np.arange(1, 13))
    assert np.all(norms <= bound * (1 + 1e-10))


def test_small_recurrent_weights_make_the_product_vanish(rng):
    W_h = scale_to_spectral_radius(orthogonal((8, 8), rng), 0.5)
    H = rnn_forward(rng.normal(size=(4, 30, 1)), rng.normal(size=(8, 1)), W_h, np.zeros(8))
    norms = jacobian_product_norms(H, W_h)
    np.testing.assert_array_less(norms[:, -1], 0.5 ** 30 * 1.000001)
    assert np.all(np.diff(norms, axis=1) < 0)       # every extra step back shrinks it


def test_overflowing_products_are_reported_as_infinite():
    W_h = 1e3 * np.eye(2)
    H = np.zeros((1, 120, 2))                       # tanh' = 1 everywhere
    norms = jacobian_product_norms(H, W_h)
    assert np.isfinite(norms[0, 0]) and norms[0, 0] == pytest.approx(1e3)
    assert np.isinf(norms[0, -1])


def test_float32_states_are_accepted_and_results_are_float64(rng):
    x, W_x, W_h, b_h, h0, H = small_rnn(rng)
    out = jacobian_product_norms(H.astype(np.float32), W_h.astype(np.float32))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, jacobian_product_norms(H, W_h), rtol=1e-5)


def test_bound_is_a_power_of_the_spectral_norm():
    W_h = np.diag([0.5, -2.0])
    np.testing.assert_allclose(jacobian_norm_bound(W_h, [0, 1, 3]), [1.0, 2.0, 8.0])
    np.testing.assert_allclose(jacobian_norm_bound(W_h, [2], gamma=0.25), [0.25])


# ----------------------------------------------------------------------------- spectral radius

def test_spectral_radius_of_known_matrices():
    assert spectral_radius(np.diag([0.3, -0.9, 0.5])) == pytest.approx(0.9)
    rotation = np.array([[0.0, -2.0], [2.0, 0.0]])             # eigenvalues +-2i
    assert spectral_radius(rotation) == pytest.approx(2.0)
    nilpotent = np.array([[0.0, 5.0], [0.0, 0.0]])             # norm 5, radius 0
    assert spectral_radius(nilpotent) == 0.0


@pytest.mark.parametrize("rho", [0.5, 1.0, 3.0])
def test_scaling_sets_the_spectral_radius_and_keeps_the_eigenvectors(rho, rng):
    W = rng.normal(size=(6, 6))
    scaled = scale_to_spectral_radius(W, rho)
    assert spectral_radius(scaled) == pytest.approx(rho)
    np.testing.assert_allclose(scaled / W, rho / spectral_radius(W))


def test_scaling_keeps_float32(rng):
    W = rng.normal(size=(5, 5)).astype(np.float32)
    assert scale_to_spectral_radius(W, 0.9).dtype == np.float32


# ----------------------------------------------------------------------------- orthogonal

@pytest.mark.parametrize("shape", [(8, 8), (10, 4), (4, 10), (3, 2, 5)])
def test_orthogonal_has_orthonormal_columns_or_rows(shape, rng):
    Q = orthogonal(shape, rng)
    assert Q.shape == shape
    M = Q.reshape(-1, shape[-1])
    if M.shape[0] >= M.shape[1]:
        np.testing.assert_allclose(M.T @ M, np.eye(M.shape[1]), atol=1e-12)
    else:
        np.testing.assert_allclose(M @ M.T, np.eye(M.shape[0]), atol=1e-12)


def test_square_orthogonal_matrix_has_unit_singular_values_and_radius(rng):
    Q = orthogonal((16, 16), rng, gain=1.0)
    np.testing.assert_allclose(np.linalg.svd(Q, compute_uv=False), np.ones(16), atol=1e-12)
    assert spectral_radius(Q) == pytest.approx(1.0)
    Q2 = orthogonal((16, 16), rng, gain=0.5, dtype=np.float32)
    assert Q2.dtype == np.float32
    np.testing.assert_allclose(Q2 @ Q2.T, 0.25 * np.eye(16), atol=1e-6)


@pytest.mark.parametrize("shape", [(32, 32), (10, 4), (4, 10), (3, 2, 5)])
@pytest.mark.parametrize("seed", [0, 7])
def test_orthogonal_recipe_gives_keras_orthogonal_matrix_for_the_same_seed(shape, seed):
    """keras.initializers.Orthogonal(seed=s) itself is the reference: fed the Gaussian draw that
    Keras makes for that seed, rnnbook's recipe must return Keras's matrix. The two QR
    factorisations (TensorFlow's float32, NumPy's float64) differ by float32 rounding: measured
    at most 7e-7 over these shapes and seeds; the tolerance is 5e-6."""
    keras = pytest.importorskip("keras")
    expected = keras.ops.convert_to_numpy(keras.initializers.Orthogonal(seed=seed)(shape))
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    # the draw Keras's Orthogonal.__call__ makes: random.normal(flat_shape, seed=self.seed)
    A = keras.ops.convert_to_numpy(keras.random.normal((max(rows, cols), min(rows, cols)),
                                                       seed=seed))
    ours = orthogonal_from_gaussian(A, shape)
    assert ours.shape == expected.shape == shape
    np.testing.assert_allclose(ours, expected, atol=5e-6, rtol=0)


def test_orthogonal_is_the_recipe_applied_to_a_draw_from_the_generator():
    """orthogonal(shape, rng) == orthogonal_from_gaussian(the generator's standard normal draw)."""
    for shape in [(6, 6), (7, 3), (3, 7)]:
        Q = orthogonal(shape, np.random.default_rng(5), gain=2.0)
        A = np.random.default_rng(5).standard_normal((max(shape), min(shape)))
        np.testing.assert_array_equal(Q, orthogonal_from_gaussian(A, shape, gain=2.0))
    Q = orthogonal((6, 6), np.random.default_rng(5))
    R = Q.T @ np.random.default_rng(5).standard_normal((6, 6))   # A = Q R, R upper triangular ...
    np.testing.assert_allclose(np.tril(R, -1), 0.0, atol=1e-12)
    assert np.all(np.diag(R) > 0)                                  # ... positive diagonal: unique


def test_orthogonal_is_haar_distributed_like_keras():
    """A statistical check of the distribution that does not depend on the seed mechanism: for a
    Haar-distributed n x n orthogonal Q, sqrt(n) Q_11 has mean 0 and variance 1. Without the
    sign correction LAPACK's QR makes Q_11 = -|Q_11| most of the time, and the mean is
    about -0.76. 400 draws of rnnbook's and of Keras's matrices (n = 8): each sample mean must
    lie within 4 standard errors (4 / sqrt(400) = 0.2) of 0 and each sample variance within 4
    standard errors (4 sqrt(2 / 400) = 0.28) of 1 (measured: means -0.02 and -0.06, variances
    1.01 and 0.86)."""
    keras = pytest.importorskip("keras")
    n, draws = 8, 400
    rng = np.random.default_rng(11)
    ours = np.array([orthogonal((n, n), rng)[0, 0] for _ in range(draws)]) * np.sqrt(n)
    theirs = np.array([keras.ops.convert_to_numpy(
        keras.initializers.Orthogonal(seed=s)((n, n)))[0, 0] for s in range(draws)]) * np.sqrt(n)
    for sample in (ours, theirs):
        assert abs(sample.mean()) < 4 / np.sqrt(draws)
        assert abs(sample.var() - 1) < 4 * np.sqrt(2 / draws)
    biased = []
    for _ in range(draws):
        q, _r = np.linalg.qr(rng.standard_normal((n, n)))
        biased.append(q[0, 0] * np.sqrt(n))
    assert abs(np.mean(biased)) > 4 / np.sqrt(draws)              # the check has power


def test_orthogonal_draws_are_reproducible_and_depend_on_the_generator():
    a = orthogonal((5, 5), np.random.default_rng(0))
    b = orthogonal((5, 5), np.random.default_rng(0))
    c = orthogonal((5, 5), np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


# ----------------------------------------------------------------------------- error paths

@pytest.mark.parametrize("H, W_h, match", [
    (np.zeros((2, 3)), np.zeros((3, 3)), r"H must have 3 dimensions.*\(2, 3\)"),
    (np.zeros((2, 3, 4)), np.zeros((4, 3)),
     r"W_h must have shape \(hidden, hidden\) = \(4, 4\).*\(4, 3\)"),
    (np.zeros((2, 3, 4)), np.zeros(4), r"W_h must have 2 dimensions"),
    (np.zeros((2, 0, 4)), np.zeros((4, 4)), r"at least one time step"),
    (np.full((1, 2, 3), 1.5), np.zeros((3, 3)), r"H must hold tanh states.*1\.5"),
    (np.full((1, 2, 3), np.nan), np.zeros((3, 3)), r"H contains NaN"),
])
def test_jacobian_functions_reject_bad_input(H, W_h, match):
    for fn in (hidden_jacobians, jacobian_products, jacobian_product_norms):
        with pytest.raises(ValueError, match=match):
            fn(H, W_h)


def test_unknown_norm_is_rejected():
    with pytest.raises(ValueError, match=r"norm must be 'spectral' or 'fro'; got 'nuclear'"):
        jacobian_product_norms(np.zeros((1, 2, 3)), np.eye(3), norm="nuclear")


@pytest.mark.parametrize("W, match", [
    (np.zeros((2, 3)), r"W must be a non-empty square matrix; got shape \(2, 3\)"),
    (np.zeros(3), r"W must have 2 dimensions"),
    (np.array([["a"]]), r"W must be a numeric"),
])
def test_spectral_radius_rejects_non_square_input(W, match):
    with pytest.raises((ValueError, TypeError), match=match):
        spectral_radius(W)


@pytest.mark.parametrize("rho", [0.0, -1.0, np.inf, "1"])
def test_scaling_rejects_bad_target(rho):
    with pytest.raises(ValueError, match="rho must be a positive finite number"):
        scale_to_spectral_radius(np.eye(2), rho)


def test_scaling_rejects_a_nilpotent_matrix():
    with pytest.raises(ValueError, match="spectral radius 0"):
        scale_to_spectral_radius(np.zeros((3, 3)), 1.0)


def test_bound_rejects_bad_arguments():
    with pytest.raises(ValueError, match="W_h must be square"):
        jacobian_norm_bound(np.zeros((2, 3)), [1])
    with pytest.raises(ValueError, match="lags must be non-negative"):
        jacobian_norm_bound(np.eye(2), [-1])
    with pytest.raises(ValueError, match="gamma must be positive"):
        jacobian_norm_bound(np.eye(2), [1], gamma=0)


@pytest.mark.parametrize("shape, rng, error, match", [
    ((4,), np.random.default_rng(0), ValueError, r"at least two positive dimensions; got \(4,\)"),
    ((0, 3), np.random.default_rng(0), ValueError, r"at least two positive dimensions"),
    ("ab", np.random.default_rng(0), TypeError, r"shape must be a sequence of integers; got 'ab'"),
    ((3, 3), 0, TypeError, r"rng must be a numpy.random.Generator.*int"),
    ((3, 3), np.random.RandomState(0), TypeError, r"rng must be a numpy.random.Generator"),
])
def test_orthogonal_rejects_bad_arguments(shape, rng, error, match):
    with pytest.raises(error, match=match):
        orthogonal(shape, rng)
