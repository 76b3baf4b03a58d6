"""Specification of rnnbook.forecast (windows, baselines, error measures) and of the stored
weights of chapter 13, which scripts/train_forecasting.py trains (the recurrent networks) and
``scripts/train_forecasting.py --conv1d`` (the causal dilated Conv1D baseline).

The windows are checked against a plain loop and against keras.utils.timeseries_dataset_from_array
used correctly; the baselines against their definitions on small series whose answers are known
by hand; the stored weights by re-running the script's first epoch. That rerun reproduces the
stored start to 0.0 on the machine that trained them; atol 1e-5 leaves room for another CPU's
rounding over one epoch of 23 Adam steps.

The rerun costs about 1.5 s of CPU time per model, nearly all of it TensorFlow tracing the
training and validation steps of a new model (the 23 steps themselves take 0.1 s), so a smaller
data slice would not make it cheaper; fewer models do. It runs for three models, one of each
kind that chapter 13 does not re-train itself, covering both horizons: the chapter re-trains the
LSTM of horizon 1 for five epochs and compares its losses with the stored ones under nbval, and
all runs share ``build``, ``prepare`` and ``train``. (Issue 20 §3: the six recurrent reruns
took 9 s of CPU time; these three take about 4.5.)
"""

import math

import keras
import numpy as np
import pytest

import rnnbook
from rnnbook.forecast import (LinearAR, fit_linear_ar, forecast_windows, linear_ar_forecast, mae,
                              mase, persistence_forecast, recursive_forecast,
                              seasonal_naive_forecast)
from script_loader import load_script   # tests/script_loader.py

START_ATOL = 1e-5


# --- forecast_windows ---------------------------------------------------------------------------

@pytest.mark.parametrize("length, window, horizon", [(10, 3, 1), (10, 3, 4), (5, 4, 1),
                                                     (7, 1, 6), (100, 14, 7)])
def test_windows_match_the_definition(length, window, horizon):
    s = np.arange(length, dtype=np.float64) ** 1.5
    X, Y = forecast_windows(s, window, horizon)
    n = length - window - horizon + 1
    assert X.shape == (n, window, 1) and Y.shape == (n, horizon, 1)
    for i in range(n):
        np.testing.assert_array_equal(X[i, :, 0], s[i:i + window])
        np.testing.assert_array_equal(Y[i, :, 0], s[i + window:i + window + horizon])


def test_windows_of_a_multivariate_series_keep_the_features_together(rng):
    s = rng.normal(size=(30, 3)).astype(np.float32)
    X, Y = forecast_windows(s, 5, 2)
    assert X.shape == (24, 5, 3) and Y.shape == (24, 2, 3)
    assert X.dtype == Y.dtype == np.float32
    np.testing.assert_array_equal(X[7], s[7:12])
    np.testing.assert_array_equal(Y[7], s[12:14])


def test_windows_are_copies_and_integers_become_floats():
    s = np.arange(8)
    X, Y = forecast_windows(s, 3)
    assert X.dtype == np.float64 and X.flags.writeable and X.flags.owndata
    X[0, 0, 0] = 99.0
    assert X[1, 0, 0] == 1.0 and Y[0, 0, 0] == 3.0


def test_windows_equal_keras_timeseries_dataset_used_correctly(rng):
    s = rng.normal(size=50).astype(np.float32)
    window, horizon = 6, 3
    X, Y = forecast_windows(s, window, horizon)
    targets = np.lib.stride_tricks.sliding_window_view(s[window:], horizon)  # s[w+j : w+j+h]
    ds = keras.utils.timeseries_dataset_from_array(
        s[:-horizon, None], targets, sequence_length=window, batch_size=1000)
    xk, yk = next(iter(ds))
    np.testing.assert_array_equal(np.asarray(xk), X)
    np.testing.assert_array_equal(np.asarray(yk), Y[:, :, 0])


def test_keras_targets_without_the_shift_are_the_window_start():
    """The frequent mistake, targets=series: each window is paired with its own first value."""
    s = np.arange(20, dtype=np.float32)
    ds = keras.utils.timeseries_dataset_from_array(s[:-1], s, sequence_length=5, batch_size=100)
    xk, yk = next(iter(ds))
    np.testing.assert_array_equal(np.asarray(yk), np.asarray(xk)[:, 0])


@pytest.mark.parametrize("window, horizon", [(0, 1), (3, 0), (-2, 1), (2.0, 1), (True, 1)])
def test_windows_refuse_non_positive_or_non_integer_sizes(window, horizon):
    bad = "window" if not (isinstance(window, int) and not isinstance(window, bool)
                           and window > 0) else "horizon"
    with pytest.raises(ValueError, match=bad):
        forecast_windows(np.arange(10.0), window, horizon)


@pytest.mark.parametrize("window, horizon", [(10, 1), (8, 3), (11, 1)])
def test_windows_refuse_windows_longer_than_the_series(window, horizon):
    with pytest.raises(ValueError, match=r"window \+ horizon .* \(shape \(10,\)\)"):
        forecast_windows(np.arange(10.0), window, horizon)


def test_windows_refuse_nan_and_bad_ranks():
    s = np.arange(10.0)
    s[4] = np.nan
    with pytest.raises(ValueError, match="series contains NaN"):
        forecast_windows(s, 3)
    with pytest.raises(ValueError, match=r"series must have shape .* got shape \(2, 3, 4\)"):
        forecast_windows(np.zeros((2, 3, 4)), 1)


# --- baselines ------------------------------------------------------------------------------------

def test_persistence_repeats_the_last_value():
    X, _ = forecast_windows(np.arange(10.0), 4, 3)
    F = persistence_forecast(X, 3)
    assert F.shape == (X.shape[0], 3, 1)
    np.testing.assert_array_equal(F[:, :, 0], np.repeat(X[:, -1:, 0], 3, axis=1))


def test_seasonal_naive_repeats_the_last_season():
    s = np.array([0, 1, 2, 10, 11, 12, 20, 21, 22], dtype=float)   # season 3
    X, _ = forecast_windows(s, 6, 1)
    F = seasonal_naive_forecast(X[:1], 3, horizon=5)               # window holds 0..12
    np.testing.assert_array_equal(F[0, :, 0], [10, 11, 12, 10, 11])
    np.testing.assert_array_equal(seasonal_naive_forecast(X, 1, 4), persistence_forecast(X, 4))


def test_seasonal_naive_is_exact_on_a_periodic_series():
    s = np.tile([3.0, -1.0, 4.0, 1.0, 5.0], 6)
    X, Y = forecast_windows(s, 5, 8)
    np.testing.assert_array_equal(seasonal_naive_forecast(X, 5, 8), Y)


def test_seasonal_naive_needs_a_whole_season_in_the_window():
    X, _ = forecast_windows(np.arange(20.0), 4)
    with pytest.raises(ValueError, match=r"season \(5\).*shape \(16, 4, 1\)"):
        seasonal_naive_forecast(X, 5)
    with pytest.raises(ValueError, match="season"):
        seasonal_naive_forecast(X, 0)


def test_linear_ar_recovers_a_noiseless_autoregression():
    s = np.zeros(200)
    s[:2] = 1.0, 0.5
    for t in range(2, 200):                      # s_t = 1.6 s_{t-1} - 0.8 s_{t-2} + 0.3
        s[t] = 1.6 * s[t - 1] - 0.8 * s[t - 2] + 0.3
    X, Y = forecast_windows(s, 2, 3)
    model = fit_linear_ar(X, Y)
    assert isinstance(model, LinearAR) and model.weights.shape == (2, 3)
    np.testing.assert_allclose(model.weights[:, 0], [-0.8, 1.6], atol=1e-8)
    np.testing.assert_allclose(model.bias[0], 0.3, atol=1e-8)
    np.testing.assert_allclose(linear_ar_forecast(model, X), Y, atol=1e-8)


def test_linear_ar_equals_the_normal_equations(rng):
    s = rng.normal(size=(120, 2))
    X, Y = forecast_windows(s, 4, 2)
    model = fit_linear_ar(X, Y)
    A = np.c_[X.reshape(len(X), -1), np.ones(len(X))]
    coef = np.linalg.solve(A.T @ A, A.T @ Y.reshape(len(Y), -1))
    np.testing.assert_allclose(model.weights, coef[:-1], atol=1e-10)
    np.testing.assert_allclose(model.bias, coef[-1], atol=1e-10)
    assert linear_ar_forecast(model, X).shape == Y.shape == (115, 2, 2)


def test_linear_ar_refuses_mismatched_shapes():
    X, Y = forecast_windows(np.sin(np.arange(50.0)), 5, 2)
    with pytest.raises(ValueError, match=r"Y must have shape .* got Y of shape \(44, 2, 1\)"):
        fit_linear_ar(X[:-1], Y)
    with pytest.raises(ValueError, match="at least window"):
        fit_linear_ar(X[:5], Y[:5])
    model = fit_linear_ar(X, Y)
    with pytest.raises(ValueError, match=r"\(N, 5, 1\).*\(3, 4, 1\)"):
        linear_ar_forecast(model, X[:3, :4])


def test_recursive_forecast_feeds_predictions_back():
    X, Y = forecast_windows(np.arange(30.0), 5, 6)
    F = recursive_forecast(lambda x: x[:, -1] + 1.0, X, 6)    # exact for a ramp
    np.testing.assert_array_equal(F, Y)
    # a linear one-step model, unrolled, uses its own earlier forecasts
    s = np.sin(np.arange(200) / 5.0)
    X1, Y1 = forecast_windows(s, 3, 1)
    model = fit_linear_ar(X1, Y1)
    F = recursive_forecast(lambda x: linear_ar_forecast(model, x), X1[:2], 3)
    manual = X1[:2]
    for k in range(3):
        step = linear_ar_forecast(model, manual[:, -3:])
        np.testing.assert_allclose(F[:, k], step[:, 0])
        manual = np.concatenate([manual, step], axis=1)


def test_recursive_forecast_checks_what_predict_next_returns():
    X, _ = forecast_windows(np.arange(30.0), 5)
    with pytest.raises(ValueError, match=r"predict_next must return .* got \(25, 2\)"):
        recursive_forecast(lambda x: np.zeros((len(x), 2)), X, 2)


# --- error measures -------------------------------------------------------------------------------

def test_mae_and_mase_by_hand():
    y, f = np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 1.0])
    assert mae(y, f) == pytest.approx(4.0 / 3.0)
    train = np.array([0.0, 1.0, 3.0, 2.0])              # naive errors 1, 2, 1 -> scale 4/3
    assert mase(y, f, train) == pytest.approx(1.0)
    assert mase(y, f, train, season=2) == pytest.approx((4.0 / 3.0) / 2.0)   # 3, 1


def test_mase_of_persistence_in_sample_is_one():
    s = np.cumsum(np.random.default_rng(0).normal(size=300))
    X, Y = forecast_windows(s, 3)
    F = persistence_forecast(X)
    assert mase(Y, F, s[2:]) == pytest.approx(1.0)


def test_error_measures_refuse_bad_input():
    with pytest.raises(ValueError, match=r"same shape.*\(3,\).*\(2,\)"):
        mae(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        mae(np.zeros(2), np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="scale 0"):
        mase(np.zeros(2), np.ones(2), np.ones(5))
    with pytest.raises(ValueError, match="longer than season"):
        mase(np.zeros(2), np.ones(2), np.arange(3.0), season=3)


def test_public_names_are_exported():
    for name in ("forecast_windows", "persistence_forecast", "seasonal_naive_forecast",
                 "fit_linear_ar", "linear_ar_forecast", "recursive_forecast", "mae", "mase"):
        assert getattr(rnnbook, name) is getattr(rnnbook.forecast, name)


# --- the stored weights of chapter 13 -------------------------------------------------------------

def _script():
    return load_script("scripts/train_forecasting.py")


def _stored_file(script, kind):
    return rnnbook.load_stored(script.CONV_WEIGHTS if kind == script.CONV_KIND
                               else script.WEIGHTS)


def test_stored_split_matches_the_script():
    script = _script()
    files = [rnnbook.load_stored(script.WEIGHTS), rnnbook.load_stored(script.CONV_WEIGHTS)]
    for horizon in script.HORIZONS:
        data = script.prepare(horizon)
        for stored in files:
            assert math.isclose(float(stored["mean"]), data["mean"], rel_tol=1e-12)
            assert math.isclose(float(stored["std"]), data["std"], rel_tol=1e-12)
        x, y, first = data["train"]
        assert x.shape[1:] == (script.WINDOW, 1) and y.shape[1:] == (horizon, 1)
        assert first[-1] + horizon - 1 < np.datetime64(script.VAL_START)
        assert data["test"][2][0] == np.datetime64(script.TEST_START)


@pytest.mark.parametrize("kind, horizon", [("SimpleRNN", 7), ("GRU", 1), ("Conv1D", 1)])
def test_first_epoch_of_the_script_reproduces_the_stored_start(kind, horizon):
    script = _script()
    stored = _stored_file(script, kind)
    name = f"{kind}_h{horizon}"
    model, history, start = script.train(kind, horizon, epochs=1)
    assert len(start) == len(model.get_weights()) > 0
    for i, w in enumerate(start):
        np.testing.assert_allclose(w, stored[f"{name}__start__{i}"], atol=START_ATOL,
                                   err_msg=f"{name} weight {i}")
    np.testing.assert_allclose(history["loss"][0], stored[f"{name}__loss"][0], rtol=1e-5)


@pytest.mark.parametrize("conv", [False, True], ids=["recurrent", "conv1d"])
def test_stored_runs_cover_every_seed(conv):
    """Every model of every seed is stored whole: weights of the right shapes, both loss
    histories, and a best epoch where the validation loss is smallest."""
    script = _script()
    kinds = [script.CONV_KIND] if conv else script.KINDS
    stored = _stored_file(script, kinds[0])
    assert tuple(stored["seeds"]) == script.SEEDS and int(stored["seed"]) == script.SEED
    for horizon in script.HORIZONS:
        for kind in kinds:
            shapes = [w.shape for w in script.build(kind, horizon).get_weights()]
            for seed in script.SEEDS:
                name = script.model_name(kind, horizon, seed)
                final = [stored[f"{name}__final__{i}"] for i in range(len(shapes))]
                assert [w.shape for w in final] == shapes, name
                assert f"{name}__final__{len(shapes)}" not in stored
                loss, val_loss = stored[f"{name}__loss"], stored[f"{name}__val_loss"]
                assert len(loss) == len(val_loss) <= script.MAX_EPOCHS
                best = int(stored[f"{name}__best_epoch"])
                assert best == int(np.argmin(val_loss)) + 1
                assert len(val_loss) == min(best + script.PATIENCE, script.MAX_EPOCHS)


def test_the_conv1d_forecaster_is_causal_dilated_and_reads_the_whole_window():
    """The stored description matches the script, the receptive field covers the window, and
    the trained seed-0 model's forecast depends on every day of the window (its gradient with
    respect to each input day is non-zero) through causal Conv1D layers only."""
    import tensorflow as tf

    script = _script()
    stored = rnnbook.load_stored(script.CONV_WEIGHTS)
    assert int(stored["filters"]) == script.FILTERS
    assert int(stored["kernel_size"]) == script.KERNEL_SIZE
    assert tuple(stored["dilations"]) == script.DILATIONS
    field = rnnbook.receptive_field(script.KERNEL_SIZE, script.DILATIONS)
    assert int(stored["receptive_field"]) == field >= script.WINDOW
    model = script.build(script.CONV_KIND, 1)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]
    assert [layer.dilation_rate[0] for layer in convs] == list(script.DILATIONS)
    assert all(layer.padding == "causal" for layer in convs)
    model.set_weights([stored[f"Conv1D_h1__final__{i}"] for i in range(len(model.weights))])
    x = tf.constant(script.prepare(1)["test"][0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(model(x))
    reach = np.abs(np.asarray(tape.gradient(total, x))).sum(axis=(0, 2))   # per input day
    assert reach.shape == (script.WINDOW,) and np.all(reach > 0)
