"""Specification of rnnbook.ssm (LRU, selective scan) and rnnbook.linear_attention.

Each layer must equal its defining equations written as a plain loop (float64, to rounding),
its scan form must equal its step-by-step form, the LRU's decays must be stable for every
parameter value, and bad arguments must be named in the error.
"""

import numpy as np
import pytest

from rnnbook.linear_attention import causal_linear_attention, elu_feature_map
from rnnbook.ssm import lru_forward, lru_init, lru_lambda, selective_scan


def scale_error(x, reference):
    return float(np.max(np.abs(x - reference)) / np.max(np.abs(reference)))


def lru_params(rng, inputs=3, hidden=5, outputs=2):
    nu, theta = lru_init(hidden, rng, r_min=0.5, r_max=0.99)
    B = (rng.normal(size=(hidden, inputs)) + 1j * rng.normal(size=(hidden, inputs))) / 2
    C = (rng.normal(size=(outputs, hidden)) + 1j * rng.normal(size=(outputs, hidden))) / 2
    D = rng.normal(size=(outputs, inputs))
    return nu, theta, B, C, D


def lru_loop(x, nu, theta, B, C, D, h0=None, normalize=True):
    """The LRU's equations, one sequence and one step at a time."""
    lam = np.exp(-np.exp(nu) + 1j * theta)
    gamma = np.sqrt(1 - np.abs(lam) ** 2) if normalize else np.ones(len(nu))
    y = np.zeros((x.shape[0], x.shape[1], C.shape[0]))
    for i in range(x.shape[0]):
        h = np.zeros(len(nu), complex) if h0 is None else h0[i]
        for t in range(x.shape[1]):
            h = lam * h + gamma * (B @ x[i, t])
            y[i, t] = (C @ h).real + D @ x[i, t]
    return y


def test_lru_decays_are_stable_for_any_parameters(rng):
    nu = rng.normal(scale=5, size=1000)
    theta = rng.normal(scale=10, size=1000)
    magnitude = np.abs(lru_lambda(nu, theta))
    assert np.all(magnitude < 1) and np.all(magnitude >= 0)
    np.testing.assert_allclose(magnitude, np.exp(-np.exp(nu)), rtol=1e-12)


def test_lru_init_places_decays_on_the_ring(rng):
    nu, theta = lru_init(400, rng, r_min=0.4, r_max=0.9, max_phase=np.pi)
    radius = np.abs(lru_lambda(nu, theta))
    assert radius.min() >= 0.4 - 1e-12 and radius.max() <= 0.9 + 1e-12
    assert theta.min() >= 0 and theta.max() <= np.pi


@pytest.mark.parametrize("method", ["sequential", "parallel"])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("with_h0", [True, False])
def test_lru_forward_equals_its_loop(method, normalize, with_h0, rng):
    x = rng.normal(size=(2, 37, 3))
    params = lru_params(rng)
    h0 = (rng.normal(size=(2, 5)) + 1j * rng.normal(size=(2, 5))) if with_h0 else None
    y = lru_forward(x, *params, h0, normalize=normalize, method=method)
    assert y.dtype == np.float64 and y.shape == (2, 37, 2)
    assert scale_error(y, lru_loop(x, *params, h0, normalize=normalize)) < 1e-12


def test_lru_float32_and_states(rng):
    x = rng.normal(size=(3, 20, 3))
    params = lru_params(rng)
    y32, h32 = lru_forward(x.astype(np.float32), *params, return_states=True)
    assert y32.dtype == np.float32 and h32.dtype == np.complex64 and h32.shape == (3, 20, 5)
    assert scale_error(y32, lru_forward(x, *params)) < 1e-5


def selective_loop(x, A, W_delta, b_delta, W_B, W_C):
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        h = np.zeros(A.shape)
        for t in range(x.shape[1]):
            delta = np.logaddexp(0, W_delta @ x[i, t] + b_delta)
            h = np.exp(delta[:, None] * A) * h + np.outer(delta * x[i, t], W_B @ x[i, t])
            y[i, t] = h @ (W_C @ x[i, t])
    return y


def selective_params(rng, channels=4, states=3):
    A = -np.exp(rng.normal(size=(channels, states)))
    W_delta = rng.normal(scale=0.5, size=(channels, channels))
    b_delta = rng.normal(size=channels)
    W_B = rng.normal(scale=0.5, size=(states, channels))
    W_C = rng.normal(scale=0.5, size=(states, channels))
    return A, W_delta, b_delta, W_B, W_C


@pytest.mark.parametrize("method", ["sequential", "parallel"])
def test_selective_scan_equals_its_loop(method, rng):
    x = rng.normal(size=(2, 45, 4))
    params = selective_params(rng)
    y, h = selective_scan(x, *params, method=method, return_states=True)
    assert h.shape == (2, 45, 4, 3) and y.shape == x.shape
    assert scale_error(y, selective_loop(x, *params)) < 1e-12


def test_selective_scan_initial_state_and_float32(rng):
    x = rng.normal(size=(2, 10, 4))
    params = selective_params(rng)
    h0 = rng.normal(size=(2, 4, 3))
    _, h = selective_scan(x, *params, h0=h0, return_states=True)
    _, h_seq = selective_scan(x, *params, h0=h0, method="sequential", return_states=True)
    assert scale_error(h, h_seq) < 1e-12
    assert selective_scan(x.astype(np.float32), *params).dtype == np.float32


def attention_loop(q, k, v):
    """y_t = sum_{s<=t} phi(q_t).phi(k_s) v_s / sum_{s<=t} phi(q_t).phi(k_s), by the definition."""
    fq, fk = elu_feature_map(q), elu_feature_map(k)
    y = np.zeros(v.shape)
    for i in range(q.shape[0]):
        for t in range(q.shape[1]):
            weights = np.array([fq[i, t] @ fk[i, s] for s in range(t + 1)])
            y[i, t] = weights @ v[i, :t + 1] / weights.sum()
    return y


@pytest.mark.parametrize("form", ["parallel", "recurrent", "scan"])
def test_linear_attention_forms_equal_the_definition(form, rng):
    q, k = rng.normal(size=(2, 2, 17, 3))
    v = rng.normal(size=(2, 17, 4))
    y = causal_linear_attention(q, k, v, form=form)
    assert y.shape == (2, 17, 4)
    assert scale_error(y, attention_loop(q, k, v)) < 1e-12


def test_feature_map_is_positive_and_elu_plus_one():
    z = np.array([-800.0, -1.0, 0.0, 2.0])
    np.testing.assert_allclose(elu_feature_map(z), [0.0, np.exp(-1.0), 1.0, 3.0])
    assert np.all(elu_feature_map(np.linspace(-30, 30, 101)) > 0)


def test_errors_name_the_argument(rng):
    x = rng.normal(size=(2, 5, 3))
    nu, theta, B, C, D = lru_params(rng)
    with pytest.raises(ValueError, match=r"W_x must have shape \(hidden, input\)"):
        lru_forward(x, nu, theta, B[:, :2], C, D)
    with pytest.raises(ValueError, match=r"x must have 3 dimensions"):
        lru_forward(x[0], nu, theta, B, C, D)
    with pytest.raises(ValueError, match=r"h0 must have shape"):
        lru_forward(x, nu, theta, B, C, D, h0=np.zeros((2, 4), complex))
    with pytest.raises(ValueError, match=r"method must be one of"):
        lru_forward(x, nu, theta, B, C, D, method="fast")
    with pytest.raises(ValueError, match=r"nu and theta"):
        lru_lambda(nu, theta[:2])
    with pytest.raises(ValueError, match=r"hidden must be a positive integer"):
        lru_init(0, rng)
    params = selective_params(rng, channels=3)
    with pytest.raises(ValueError, match=r"A must be negative"):
        selective_scan(x, -params[0], *params[1:])
    with pytest.raises(ValueError, match=r"W_beta must have shape"):
        selective_scan(x, params[0], params[1], params[2], params[3][:, :2], params[4])
    with pytest.raises(ValueError, match=r"k must have the shape of q"):
        causal_linear_attention(x, x[:, :4], x)
    with pytest.raises(ValueError, match=r"v must be a real floating-point"):
        causal_linear_attention(x, x, x.astype(int))
    with pytest.raises(ValueError, match=r"form must be one of"):
        causal_linear_attention(x, x, x, form="softmax")
