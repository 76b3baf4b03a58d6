"""Specification of rnnbook.newey_west_se, the autocorrelation-robust standard error of a mean.

Checked against its definition written out as a loop, against the ordinary standard error when
``lags = 0``, against the known long-run variance of a moving-average series, and by coverage:
over many simulated correlated series, mean +- 2 SE must contain the true mean about 95% of the
time, which the ordinary standard error fails to do.
"""

import numpy as np
import pytest

import rnnbook
from rnnbook.forecast import newey_west_se


def _by_definition(x, lags):
    """gamma_k = (1/n) sum_t (x_t - m)(x_{t-k} - m); Var = (gamma_0 + 2 sum w_k gamma_k) / n."""
    n, m = len(x), sum(x) / len(x)
    gamma = [sum((x[t] - m) * (x[t - k] - m) for t in range(k, n)) / n
             for k in range(lags + 1)]
    variance = gamma[0] + 2 * sum((1 - k / (lags + 1)) * gamma[k] for k in range(1, lags + 1))
    return (variance / n) ** 0.5


@pytest.mark.parametrize("lags", [0, 1, 3, 7])
def test_equals_the_definition(rng, lags):
    x = np.cumsum(rng.normal(size=40)) * 0.3 + rng.normal(size=40)
    assert newey_west_se(x, lags) == pytest.approx(_by_definition(list(x), lags), rel=1e-12)


def test_without_lags_it_is_the_ordinary_standard_error(rng):
    x = rng.normal(size=123)
    assert newey_west_se(x, 0) == pytest.approx(x.std() / np.sqrt(len(x)), rel=1e-12)


def test_by_hand():
    # x = (1, 3, 2, 2): mean 2, deviations (-1, 1, 0, 0); gamma_0 = 2/4, gamma_1 = -1/4.
    # lags = 1: weight 1/2, Var = (1/2 + 2 * 1/2 * (-1/4)) / 4 = 1/16, SE = 1/4.
    assert newey_west_se([1.0, 3.0, 2.0, 2.0], 1) == pytest.approx(0.25)
    assert newey_west_se(np.full(10, 3.5), 4) == 0.0


def test_recovers_the_long_run_variance_of_a_moving_average():
    # x_t = e_t + e_{t-1}: gamma_0 = 2, gamma_1 = 1, so n Var(mean) -> 2 + 2 * 1 = 4, where the
    # ordinary formula gives gamma_0 = 2. Bartlett weights shrink gamma_1 by 1 - 1/(L+1).
    e = np.random.default_rng(1).normal(size=200_001)
    x = e[1:] + e[:-1]
    n = len(x)
    assert n * newey_west_se(x, 0) ** 2 == pytest.approx(2.0, rel=0.02)
    assert n * newey_west_se(x, 39) ** 2 == pytest.approx(2.0 + 2.0 * (1 - 1 / 40), rel=0.03)


def test_mean_plus_minus_two_se_covers_the_true_mean_of_correlated_series():
    rng = np.random.default_rng(2)
    trials, n, phi = 400, 400, 0.6               # AR(1) series with mean 0
    noise = rng.normal(size=(trials, n))
    x = np.zeros((trials, n))
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    means = x.mean(axis=1)
    robust = np.array([newey_west_se(row, 10) for row in x])
    naive = np.array([newey_west_se(row, 0) for row in x])
    covered_robust = np.mean(np.abs(means) < 2 * robust)
    covered_naive = np.mean(np.abs(means) < 2 * naive)
    assert 0.88 < covered_robust < 0.99            # about 95 %
    assert covered_naive < 0.80                    # the ordinary SE is far too small here


def test_is_exported_and_accepts_lists_and_integers():
    assert rnnbook.newey_west_se is newey_west_se
    assert newey_west_se([1, 3, 2, 2], np.int64(1)) == pytest.approx(0.25)


@pytest.mark.parametrize("lags", [-1, 4, 10, 1.0, True, "2", None])
def test_refuses_bad_lags(lags):
    with pytest.raises(ValueError, match=r"lags must be an integer with 0 <= lags < n = 4 "
                                         r"\(x has shape \(4,\)\)"):
        newey_west_se([1.0, 3.0, 2.0, 2.0], lags)


def test_refuses_bad_series():
    with pytest.raises(ValueError, match=r"x must have 1 dimension .* \(2, 3\)"):
        newey_west_se(np.zeros((2, 3)), 0)
    with pytest.raises(ValueError, match=r"at least 2 values; got shape \(1,\)"):
        newey_west_se([1.0], 0)
    with pytest.raises(ValueError, match="x contains NaN"):
        newey_west_se([1.0, np.nan, 2.0], 1)
    with pytest.raises(TypeError, match="x must be a numeric"):
        newey_west_se(["a", "b"], 0)
