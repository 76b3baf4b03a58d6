"""rnnbook.stats: the paired t-interval the chapters rank models with."""

import numpy as np
import pytest
from scipy import stats

from rnnbook.stats import paired_t_interval


def test_interval_is_the_textbook_one_and_agrees_with_a_paired_t_test():
    a, b = np.array([1.0, 1.4, 0.9, 1.3]), np.array([0.8, 1.0, 1.0, 0.9])
    mean, low, high = paired_t_interval(a, b)
    d = a - b
    assert mean == pytest.approx(d.mean())
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    assert (low, high) == pytest.approx((d.mean() - half, d.mean() + half))
    # zero lies outside the 95% interval exactly when the paired t-test's p is below 0.05
    p = stats.ttest_rel(a, b).pvalue
    assert (low > 0 or high < 0) == (p < 0.05)


@pytest.mark.parametrize("a, b, level, match", [
    ([1.0], [2.0], 0.95, "at least 2"), ([1.0, 2.0], [1.0, 2.0, 3.0], 0.95, "same length"),
    ([[1.0, 2.0]], [[1.0, 2.0]], 0.95, "1-d"), ([1.0, 2.0], [0.0, 1.0], 1.0, "level")])
def test_bad_arguments_are_named(a, b, level, match):
    with pytest.raises(ValueError, match=match):
        paired_t_interval(a, b, level)
