"""Specification of rnnbook.data: shapes, dtypes, determinism, leak-free chronological splits."""

import numpy as np
import pytest

from rnnbook.data import (SEATTLE_FEATURES, SplitData, Windows, chronological_split,
                          random_binary_task, seattle_rain_windows, seattle_weather_table,
                          sliding_windows, split_masks)


# --- random_binary_task ------------------------------------------------------------------------

def test_random_task_has_the_seed_examples_shapes_and_dtypes():
    x, y = random_binary_task(rng=np.random.default_rng(0))
    assert x.shape == (1000, 10, 1) and x.dtype == np.float32
    assert y.shape == (1000, 1) and y.dtype == np.float32


@pytest.mark.parametrize("n, time, features", [(1, 1, 1), (7, 3, 5), (64, 50, 2)])
def test_random_task_shapes_follow_the_arguments(n, time, features, rng):
    x, y = random_binary_task(n, time, features, rng=rng)
    assert x.shape == (n, time, features)
    assert y.shape == (n, 1)


def test_random_task_inputs_are_uniform_and_labels_are_coin_flips(rng):
    x, y = random_binary_task(20_000, rng=rng)
    assert x.min() >= 0.0 and x.max() < 1.0
    assert abs(x.mean() - 0.5) < 0.01
    assert set(np.unique(y)) == {0.0, 1.0}
    assert abs(y.mean() - 0.5) < 0.02


def test_random_task_is_deterministic_under_a_seed():
    a = random_binary_task(50, rng=np.random.default_rng(3))
    b = random_binary_task(50, rng=np.random.default_rng(3))
    c = random_binary_task(50, rng=3)                       # an integer seed means the same
    for first, second in [(a, b), (a, c)]:
        np.testing.assert_array_equal(first[0], second[0])
        np.testing.assert_array_equal(first[1], second[1])


def test_random_task_draws_inputs_then_labels_from_the_given_generator():
    rng = np.random.default_rng(5)
    x, y = random_binary_task(4, 3, 2, rng=rng)
    ref = np.random.default_rng(5)
    np.testing.assert_array_equal(x, ref.random((4, 3, 2)).astype(np.float32))
    np.testing.assert_array_equal(y, ref.integers(0, 2, size=(4, 1)).astype(np.float32))


def test_random_task_advances_the_generator(rng):
    first, _ = random_binary_task(10, rng=rng)
    second, _ = random_binary_task(10, rng=rng)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n": 0}, ValueError, "n must be a positive integer; got 0"),
    ({"time": -2}, ValueError, "time must be a positive integer; got -2"),
    ({"features": 1.5}, TypeError, "features must be an integer; got float"),
    ({"n": True}, TypeError, "n must be an integer; got bool"),
])
def test_random_task_rejects_bad_sizes(kwargs, error, match, rng):
    with pytest.raises(error, match=match):
        random_binary_task(rng=rng, **kwargs)


@pytest.mark.parametrize("bad", [None, "0", 1.0, -1, np.random.RandomState(0)])
def test_random_task_needs_an_explicit_generator(bad):
    with pytest.raises(TypeError, match="rng must be a np.random.Generator"):
        random_binary_task(rng=bad)


def test_random_task_rng_is_keyword_only():
    with pytest.raises(TypeError):
        random_binary_task(10, 10, 1, np.random.default_rng(0))


# --- sliding_windows ---------------------------------------------------------------------------

def test_sliding_windows_lists_every_run_of_consecutive_values():
    series = np.arange(6.0)
    out = sliding_windows(series, 3)
    np.testing.assert_array_equal(out, [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]])
    out[0, 0] = 99.0                                       # a copy, not a view of the series
    assert series[0] == 0.0
    np.testing.assert_array_equal(sliding_windows(series, 6), [series])


@pytest.mark.parametrize("series, window, error, match", [
    (np.arange(5.0), 6, ValueError, r"window \(6\) must not exceed the length of series"),
    (np.arange(5.0), 0, ValueError, "window must be a positive integer"),
    (np.ones((2, 3)), 2, ValueError, r"series must have 1 dimension \(length,\); got shape \(2, 3\)"),
    (np.array(["a", "b"]), 1, TypeError, "series must be a numeric"),
])
def test_sliding_windows_rejects_bad_arguments(series, window, error, match):
    with pytest.raises(error, match=match):
        sliding_windows(series, window)


# --- the Seattle weather task ------------------------------------------------------------------

@pytest.fixture(scope="module")
def seattle():
    return seattle_rain_windows()


def test_seattle_table_ships_with_vega_datasets():
    table = seattle_weather_table()
    assert len(table) == 1461
    assert {"date", "precipitation", "temp_max", "temp_min", "wind"} <= set(table.columns)
    assert table["date"].is_monotonic_increasing


def test_seattle_windows_have_the_seed_models_shape(seattle):
    assert isinstance(seattle, Windows)
    assert seattle.x.shape == (1451, 10, 1) and seattle.x.dtype == np.float32
    assert seattle.y.shape == (1451, 1) and seattle.y.dtype == np.float32
    assert seattle.dates.shape == (1451,) and seattle.dates.dtype == np.dtype("datetime64[D]")
    assert set(np.unique(seattle.y)) == {0.0, 1.0}


def test_seattle_label_is_rain_on_the_day_after_the_window(seattle):
    table = seattle_weather_table()
    precip = table["precipitation"].to_numpy()
    dates = table["date"].to_numpy().astype("datetime64[D]")
    for i in [0, 1, 500, 1450]:
        np.testing.assert_allclose(seattle.x[i, :, 0], precip[i:i + 10], rtol=1e-6)
        assert seattle.y[i, 0] == float(precip[i + 10] > 0)
        assert seattle.dates[i] == dates[i + 10]
    assert seattle.dates[0] == np.datetime64("2012-01-11")
    assert np.all(np.diff(seattle.dates) == np.timedelta64(1, "D"))


@pytest.mark.parametrize("feature", SEATTLE_FEATURES)
@pytest.mark.parametrize("window", [1, 10, 30])
def test_seattle_every_feature_and_window(feature, window):
    w = seattle_rain_windows(window, feature)
    assert w.x.shape == (1461 - window, window, 1)
    assert np.all(np.isfinite(w.x))
    labels = seattle_rain_windows(window, "precipitation").y
    np.testing.assert_array_equal(w.y, labels)            # the label never depends on the feature


def test_seattle_derived_features():
    table = seattle_weather_table()
    rng_ = seattle_rain_windows(2, "temp_range").x[0, :, 0]
    np.testing.assert_allclose(rng_, (table["temp_max"] - table["temp_min"])[:2], rtol=1e-6)
    logp = seattle_rain_windows(2, "log_precipitation").x[0, :, 0]
    np.testing.assert_allclose(logp, np.log1p(table["precipitation"][:2]), rtol=1e-6)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"feature": "pressure"}, ValueError, "feature must be one of"),
    ({"feature": None}, ValueError, "feature must be one of"),
    ({"window": 0}, ValueError, "window must be a positive integer"),
    ({"window": 1461}, ValueError, r"window \(1461\) must be shorter than the 1461 days"),
    ({"window": "10"}, TypeError, "window must be an integer"),
])
def test_seattle_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        seattle_rain_windows(**kwargs)


# --- chronological splits ----------------------------------------------------------------------

def test_split_is_chronological_disjoint_and_complete(seattle):
    split = chronological_split(*seattle)
    assert isinstance(split, SplitData)
    parts = [split.train, split.val, split.test]
    assert sum(len(p.dates) for p in parts) == len(seattle.dates)
    np.testing.assert_array_equal(np.concatenate([p.dates for p in parts]), seattle.dates)
    assert split.train.dates.max() < split.val.dates.min()
    assert split.val.dates.max() < split.test.dates.min()
    assert split.train.dates.max() == np.datetime64("2013-12-31")
    assert split.val.dates.min() == np.datetime64("2014-01-01")
    assert split.test.dates.min() == np.datetime64("2015-01-01")
    assert [len(p.dates) for p in parts] == [721, 365, 365]
    for p in parts:
        assert p.x.dtype == np.float32 and p.y.dtype == np.float32
        assert p.x.shape[1:] == (10, 1) and p.y.shape == (len(p.dates), 1)


def test_split_standardises_with_training_statistics_only(seattle):
    split = chronological_split(*seattle)
    train_raw = seattle.x[seattle.dates < np.datetime64("2014-01-01")].astype(np.float64)
    assert split.mean == pytest.approx(train_raw.mean())
    assert split.std == pytest.approx(train_raw.std())
    assert abs(split.train.x.mean()) < 1e-5 and split.train.x.std() == pytest.approx(1.0, abs=1e-5)
    raw_test = seattle.x[seattle.dates >= np.datetime64("2015-01-01")]
    np.testing.assert_allclose(split.test.x, (raw_test - split.mean) / split.std, atol=1e-5)
    # Changing the test period's values must not change the statistics: nothing leaks back.
    x_changed = seattle.x.copy()
    x_changed[seattle.dates >= np.datetime64("2014-01-01")] += 100.0
    changed = chronological_split(x_changed, seattle.y, seattle.dates)
    assert (changed.mean, changed.std) == (split.mean, split.std)
    np.testing.assert_array_equal(changed.train.x, split.train.x)


def test_split_without_standardising_returns_the_inputs(seattle):
    split = chronological_split(*seattle, standardise=False)
    assert (split.mean, split.std) == (0.0, 1.0)
    np.testing.assert_array_equal(split.train.x, seattle.x[:721])


def test_split_masks_partition_the_dates():
    dates = np.arange("2020-01-01", "2020-01-11", dtype="datetime64[D]")
    train, val, test = split_masks(dates, "2020-01-04", "2020-01-08")
    np.testing.assert_array_equal(train, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(val, [0, 0, 0, 1, 1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(test, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1])


def _toy(n=10):
    dates = np.datetime64("2020-01-01") + np.arange(n)
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3, 1)
    y = (np.arange(n) % 2).astype(np.float32)[:, None]
    return x, y, dates


@pytest.mark.parametrize("change, error, match", [
    (lambda x, y, d: (x[:, :, 0], y, d), ValueError, r"x must have 3 dimensions"),
    (lambda x, y, d: (x, y[:-1], d), ValueError, r"y must have shape \(batch, 1\) = \(10, 1\)"),
    (lambda x, y, d: (x, y, d[:-1]), ValueError, r"dates must have shape \(batch,\) = \(10,\)"),
    (lambda x, y, d: (x, y, np.arange(10)), TypeError, "dates must be an array of datetime64"),
    (lambda x, y, d: (x, y, d[::-1]), ValueError, "dates must be strictly increasing"),
    (lambda x, y, d: (np.zeros_like(x), y, d), ValueError, "x is constant over the training period"),
])
def test_split_rejects_inconsistent_inputs(change, error, match):
    x, y, dates = _toy()
    with pytest.raises(error, match=match):
        chronological_split(*change(x, y, dates), val_start="2020-01-04", test_start="2020-01-08")


@pytest.mark.parametrize("val_start, test_start, match", [
    ("2020-01-08", "2020-01-04", r"val_start \(2020-01-08\) must come before test_start"),
    ("2019-01-01", "2020-01-04", "the training period is empty"),
    ("2020-01-04", "2020-01-04", "must come before"),
    ("2020-01-04", "2021-01-01", "the test period is empty"),
    ("not a date", "2020-01-04", "val_start and test_start must be dates"),
])
def test_split_rejects_bad_period_boundaries(val_start, test_start, match):
    x, y, dates = _toy()
    with pytest.raises(ValueError, match=match):
        chronological_split(x, y, dates, val_start=val_start, test_start=test_start)


# --- adding_problem ----------------------------------------------------------------------------

from rnnbook.data import adding_problem  # noqa: E402  (kept next to its tests)

def _marked_positions(x):
    """The two marked steps of every sequence, (first, second), from the marker channel."""
    rows, steps = np.nonzero(x[:, :, 1])
    assert np.array_equal(np.bincount(rows, minlength=len(x)), np.full(len(x), 2))
    steps = steps.reshape(len(x), 2)                  # np.nonzero lists each row's steps in order
    return steps[:, 0], steps[:, 1]


@pytest.mark.parametrize("n, time", [(1, 2), (5, 3), (64, 10), (200, 41)])
def test_adding_problem_shapes_dtypes_and_markers(n, time, rng):
    x, y = adding_problem(n, time, rng=rng)
    assert x.shape == (n, time, 2) and x.dtype == np.float32
    assert y.shape == (n, 1) and y.dtype == np.float32
    assert x[:, :, 0].min() >= 0.0 and x[:, :, 0].max() < 1.0
    assert set(np.unique(x[:, :, 1])) <= {0.0, 1.0}
    first, second = _marked_positions(x)
    assert np.all(first < time // 2) and np.all(second >= time // 2) and np.all(second < time)


def test_adding_problem_target_is_the_sum_of_the_two_marked_values(rng):
    x, y = adding_problem(500, 30, rng=rng)
    first, second = _marked_positions(x)
    rows = np.arange(len(x))
    np.testing.assert_array_equal(y[:, 0], x[rows, first, 0] + x[rows, second, 0])
    # the constant prediction 1 (the mean of y) has mean squared error 1/6
    assert abs(np.mean((y - 1.0) ** 2) - 1 / 6) < 0.02


def test_adding_problem_label_depends_on_the_far_input():
    time = 40
    x, y = adding_problem(20_000, time, rng=np.random.default_rng(1))
    first, second = _marked_positions(x)
    rows = np.arange(len(x))
    far = x[rows, first, 0]
    assert np.all(time - 1 - first >= time - time // 2)            # at least 20 steps back
    # y minus the near marked value is the far one (up to float32 rounding of the sum) ...
    np.testing.assert_allclose(y[:, 0] - x[rows, second, 0], far, rtol=0, atol=2.5e-7)
    # ... and y is correlated with it (1/sqrt(2) in theory), not with an unmarked fixed step
    assert abs(np.corrcoef(far, y[:, 0])[0, 1] - 1 / np.sqrt(2)) < 0.02
    unmarked = (first != 0) & (second != 0)
    assert abs(np.corrcoef(x[unmarked, 0, 0], y[unmarked, 0])[0, 1]) < 0.03


def test_adding_problem_is_deterministic_under_a_seed():
    a = adding_problem(50, 12, rng=np.random.default_rng(3))
    b = adding_problem(50, 12, rng=np.random.default_rng(3))
    c = adding_problem(50, 12, rng=3)                        # an integer seed means the same
    d = adding_problem(50, 12, rng=4)
    for first, second in [(a, b), (a, c)]:
        np.testing.assert_array_equal(first[0], second[0])
        np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(a[0], d[0])


def test_adding_problem_draws_values_then_positions_from_the_given_generator():
    x, _ = adding_problem(6, 8, rng=np.random.default_rng(5))
    ref = np.random.default_rng(5)
    np.testing.assert_array_equal(x[:, :, 0], ref.random((6, 8)).astype(np.float32))
    first, second = _marked_positions(x)
    np.testing.assert_array_equal(first, ref.integers(0, 4, size=6))
    np.testing.assert_array_equal(second, ref.integers(4, 8, size=6))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"time": 1}, ValueError, r"time must be at least 2 \(one marker in each half\); got 1"),
    ({"time": 0}, ValueError, "time must be a positive integer; got 0"),
    ({"n": 0}, ValueError, "n must be a positive integer; got 0"),
    ({"n": -3}, ValueError, "n must be a positive integer; got -3"),
    ({"time": 10.0}, TypeError, "time must be an integer; got float"),
    ({"rng": None}, TypeError, "rng must be a np.random.Generator"),
])
def test_adding_problem_rejects_bad_arguments(kwargs, error, match):
    kwargs = {"rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(error, match=match):
        adding_problem(**kwargs)
