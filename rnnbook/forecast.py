"""Forecasting a time series: windows, the baselines a network must beat, and error measures.

A series ``s`` of length ``L`` is stored in time order with shape (L,) (one feature) or
(L, D) (``D`` features per step). Supervised examples are windows of ``window`` past values and
the ``horizon`` values that follow them::

    X[i] = s[i : i + window],    Y[i] = s[i + window : i + window + horizon],

of shapes (N, window, D) and (N, horizon, D) with ``N = L - window - horizon + 1``. Every
forecaster here maps ``X`` (N, window, D) to a forecast of shape (N, horizon, D), so that all
of them, and a network's predictions, are scored by the same :func:`mae` and :func:`mase`.

Plain NumPy; nothing here imports Keras.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from ._checks import as_array, check_rank

__all__ = ["forecast_windows", "persistence_forecast", "seasonal_naive_forecast",
           "LinearAR", "fit_linear_ar", "linear_ar_forecast", "recursive_forecast",
           "mae", "mase", "newey_west_se"]


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _windows_x(name: str, X) -> np.ndarray:
    X = as_array(name, X)
    check_rank(name, X, 3, "(N, window, features)")
    if X.shape[0] == 0 or X.shape[1] == 0 or X.shape[2] == 0:
        raise ValueError(f"{name} must not be empty; got shape {X.shape}")
    return X


def forecast_windows(series, window: int, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into (past window, future horizon) pairs, one pair per start ``i``.

    .. math::

        X_i = (s_i, \\ldots, s_{i+w-1}), \\qquad Y_i = (s_{i+w}, \\ldots, s_{i+w+h-1}),
        \\qquad i = 0, \\ldots, L - w - h,

    with window length ``w`` and horizon ``h``: each target starts right after its window ends,
    and consecutive examples overlap by ``w - 1`` steps.

    Args:
        series: values in time order, shape (L,) for one feature or (L, D) for ``D``;
            finite numbers (NaN is refused).
        window: steps of past the forecaster reads, a positive integer.
        horizon: steps ahead it must forecast, a positive integer; ``window + horizon <= L``.

    Returns:
        ``(X, Y)``, new arrays of shapes (N, window, D) and (N, horizon, D) with
        ``N = L - window - horizon + 1`` (``D = 1`` for a 1-D series), in the series' floating
        dtype (integers become float64).
    """
    window = _positive_int("window", window)
    horizon = _positive_int("horizon", horizon)
    s = as_array("series", series)
    if s.ndim == 1:
        s = s[:, None]
    if s.ndim != 2:
        raise ValueError(f"series must have shape (length,) or (length, features); "
                         f"got shape {s.shape}")
    length = s.shape[0]
    if window + horizon > length:
        raise ValueError(f"window + horizon ({window} + {horizon}) must not exceed the length "
                         f"of series (shape {np.shape(series)})")
    view = np.lib.stride_tricks.sliding_window_view(s, window + horizon, axis=0)  # (n, D, w+h)
    pairs = view.transpose(0, 2, 1)                                               # (n, w+h, D)
    return pairs[:, :window].copy(), pairs[:, window:].copy()


def persistence_forecast(X, horizon: int = 1) -> np.ndarray:
    """The naive forecast: every future step equals the last observed value.

    .. math:: \\hat y_{t+k} = y_t, \\qquad k = 1, \\ldots, h.

    Args:
        X: windows, shape (N, window, D).
        horizon: steps to forecast, a positive integer.

    Returns:
        Forecasts of shape (N, horizon, D).
    """
    X = _windows_x("X", X)
    horizon = _positive_int("horizon", horizon)
    return np.repeat(X[:, -1:, :], horizon, axis=1)


def seasonal_naive_forecast(X, season: int, horizon: int = 1) -> np.ndarray:
    """The seasonal naive forecast: each step repeats the value one season earlier.

    .. math::

        \\hat y_{t+k} = y_{t+k-m\\lceil k/m \\rceil}, \\qquad k = 1, \\ldots, h,

    for season length ``m``: the last observed season is repeated as often as needed. With
    ``m = 1`` this is :func:`persistence_forecast`.

    Args:
        X: windows, shape (N, window, D), with ``window >= season`` (the window must hold one
            whole season).
        season: the season length ``m`` in steps, a positive integer.
        horizon: steps to forecast, a positive integer.

    Returns:
        Forecasts of shape (N, horizon, D).
    """
    X = _windows_x("X", X)
    season = _positive_int("season", season)
    horizon = _positive_int("horizon", horizon)
    window = X.shape[1]
    if season > window:
        raise ValueError(f"season ({season}) must not exceed the window length: X has shape "
                         f"{X.shape}, so window = {window}")
    k = np.arange(1, horizon + 1)
    source = window - 1 + k - season * np.ceil(k / season).astype(int)  # index into the window
    return X[:, source, :].copy()


class LinearAR(NamedTuple):
    """A linear autoregression fitted by :func:`fit_linear_ar`.

    Attributes:
        weights: shape (window * D, horizon * D): column ``j`` holds the coefficients of
            output ``j`` on the flattened window.
        bias: shape (horizon * D,), the intercepts.
        window: the window length it was fitted on.
        horizon: the number of steps it forecasts.
        features: ``D``, features per step.
    """

    weights: np.ndarray
    bias: np.ndarray
    window: int
    horizon: int
    features: int


def fit_linear_ar(X, Y) -> LinearAR:
    """Fit a linear autoregression by least squares, one output per future value.

    With ``x_i`` the flattened window (length ``wD``) and ``y_i`` the flattened target
    (length ``hD``), it finds ``A`` and ``c`` minimising

    .. math:: \\sum_i \\lVert y_i - (A^\\top x_i + c) \\rVert^2,

    i.e. ``[A; c^T] = argmin ||[x, 1] B - y||^2``, solved with ``np.linalg.lstsq`` on the
    design matrix ``[x_i^T, 1]`` (N, wD + 1). Each output column is an independent fit, so with
    ``horizon > 1`` this is the *direct* multi-step linear forecaster.

    Args:
        X: training windows, shape (N, window, D).
        Y: their targets, shape (N, horizon, D), same N and D.

    Returns:
        :class:`LinearAR`, in float64.
    """
    X = _windows_x("X", X)
    Y = as_array("Y", Y)
    check_rank("Y", Y, 3, "(N, horizon, features)")
    if Y.shape[0] != X.shape[0] or Y.shape[2] != X.shape[2] or Y.shape[1] == 0:
        raise ValueError(f"Y must have shape (N, horizon, features) with N and features of X "
                         f"(shape {X.shape}) and horizon >= 1; got Y of shape {Y.shape}")
    n, window, features = X.shape
    if n < window * features + 1:
        raise ValueError(f"need at least window * features + 1 = {window * features + 1} "
                         f"windows to fit the coefficients; X has shape {X.shape}")
    design = np.concatenate([X.reshape(n, -1).astype(np.float64), np.ones((n, 1))], axis=1)
    coef, *_ = np.linalg.lstsq(design, Y.reshape(n, -1).astype(np.float64), rcond=None)
    return LinearAR(coef[:-1], coef[-1], window, Y.shape[1], features)


def linear_ar_forecast(model: LinearAR, X) -> np.ndarray:
    """Forecast with a fitted :class:`LinearAR`: ``y_hat_i = A^T x_i + c``.

    Args:
        model: the result of :func:`fit_linear_ar`.
        X: windows, shape (N, model.window, model.features).

    Returns:
        Forecasts of shape (N, model.horizon, model.features), float64.
    """
    if not isinstance(model, LinearAR):
        raise TypeError(f"model must be a LinearAR from fit_linear_ar; got {type(model).__name__}")
    X = _windows_x("X", X)
    if X.shape[1:] != (model.window, model.features):
        raise ValueError(f"X must have shape (N, window, features) = (N, {model.window}, "
                         f"{model.features}) to match the fitted model; got {X.shape}")
    flat = X.reshape(X.shape[0], -1) @ model.weights + model.bias
    return flat.reshape(X.shape[0], model.horizon, model.features)


def recursive_forecast(predict_next: Callable[[np.ndarray], np.ndarray], X,
                       horizon: int) -> np.ndarray:
    """Multi-step forecasts from a one-step forecaster, feeding its predictions back in.

    Step ``k`` forecasts from the window shifted by ``k - 1`` steps, whose newest
    ``min(k - 1, window)`` values are earlier forecasts:

    .. math::

        \\hat y_{t+k} = f(\\tilde y_{t+k-w}, \\ldots, \\tilde y_{t+k-1}), \\qquad
        \\tilde y_j = y_j \\text{ if } j \\le t \\text{ else } \\hat y_j.

    Args:
        predict_next: maps windows (N, window, D) to next-step forecasts of shape (N, D) or
            (N, 1, D) (e.g. ``lambda x: model.predict(x, verbose=0)`` for a Keras model
            with a ``Dense(D)`` output).
        X: windows of observed values, shape (N, window, D).
        horizon: steps to forecast, a positive integer.

    Returns:
        Forecasts of shape (N, horizon, D), in the dtype ``predict_next`` returns.
    """
    X = _windows_x("X", X)
    horizon = _positive_int("horizon", horizon)
    n, _, features = X.shape
    current, steps = X, []
    for _ in range(horizon):
        nxt = np.asarray(predict_next(current))
        if nxt.shape not in ((n, features), (n, 1, features)):
            raise ValueError(f"predict_next must return shape (N, features) = ({n}, {features})"
                             f" or (N, 1, features) for windows of shape {current.shape}; "
                             f"got {nxt.shape}")
        nxt = nxt.reshape(n, 1, features)
        steps.append(nxt)
        current = np.concatenate([current[:, 1:], nxt.astype(current.dtype)], axis=1)
    return np.concatenate(steps, axis=1)


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = as_array("y_true", y_true)
    y_pred = as_array("y_pred", y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape; got y_true of shape "
                         f"{y_true.shape} and y_pred of shape {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("y_true and y_pred must not be empty")
    return y_true, y_pred


def mae(y_true, y_pred) -> float:
    """Mean absolute error over every entry: ``mean |y - y_hat|``, in the series' units.

    Args:
        y_true: observed values, any shape, e.g. (N, horizon, D).
        y_pred: forecasts, the same shape.

    Returns:
        A Python float.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y_true.astype(np.float64) - y_pred)))


def mase(y_true, y_pred, train_series, season: int = 1) -> float:
    """Mean absolute scaled error (Hyndman and Koehler, 2006).

    The forecast's MAE divided by the in-sample MAE of the (seasonal) naive one-step forecast
    on the training series ``s_1..s_n``:

    .. math::

        \\mathrm{MASE} = \\frac{\\operatorname{mean}|y - \\hat y|}
        {\\frac{1}{n - m}\\sum_{t=m+1}^{n} |s_t - s_{t-m}|}.

    Below 1: better on average than the naive forecast was *in sample*; it has no units, so it
    compares forecasts of different series and horizons.

    Args:
        y_true: observed values, any shape, e.g. (N, horizon, D).
        y_pred: forecasts, the same shape.
        train_series: the training span in time order, shape (n,) or (n, D), ``n > season``.
        season: ``m``, the lag of the naive forecast in the denominator (1 = persistence).

    Returns:
        A Python float.
    """
    season = _positive_int("season", season)
    s = as_array("train_series", train_series).astype(np.float64)
    if s.ndim not in (1, 2):
        raise ValueError(f"train_series must have shape (n,) or (n, features); got {s.shape}")
    if s.shape[0] <= season:
        raise ValueError(f"train_series must be longer than season ({season}); got shape "
                         f"{s.shape}")
    scale = float(np.mean(np.abs(s[season:] - s[:-season])))
    if scale == 0.0:
        raise ValueError("the naive forecast is exact on train_series (scale 0); MASE is "
                         "undefined")
    return mae(y_true, y_pred) / scale


def newey_west_se(x, lags: int) -> float:
    """Standard error of the mean of a serially correlated series (Newey and West, 1987).

    Forecasts made from overlapping windows, or of weather that persists, make errors that are
    correlated from one day to the next, and then ``std(x) / sqrt(n)`` understates how uncertain
    the mean of ``x`` is. With the sample autocovariances

    .. math::

        \\hat\\gamma_k = \\frac{1}{n} \\sum_{t=k+1}^{n} (x_t - \\bar x)(x_{t-k} - \\bar x),

    the variance of the mean is estimated with the Bartlett weights ``1 - k / (L + 1)``, which
    keep the estimate non-negative:

    .. math::

        \\widehat{\\operatorname{Var}}(\\bar x) = \\frac{1}{n}\\Bigl(\\hat\\gamma_0
        + 2 \\sum_{k=1}^{L} \\bigl(1 - \\tfrac{k}{L+1}\\bigr)\\,\\hat\\gamma_k\\Bigr),

    and the function returns its square root. ``lags = 0`` gives the ordinary
    ``std(x, ddof=0) / sqrt(n)``. Applied to the day-by-day difference of two forecasts'
    losses on the same days, ``mean / newey_west_se`` is the statistic of the Diebold-Mariano
    test of equal accuracy (Diebold and Mariano, 1995); an ``h``-step forecast's differences
    are correlated over at least ``h - 1`` lags.

    Args:
        x: the series in time order, shape (n,) with ``n >= 2``; finite real numbers.
        lags: ``L``, how many autocovariances to include, an integer with ``0 <= L < n``.

    Returns:
        The standard error, a Python float (0.0 for a constant series).
    """
    x = as_array("x", x).astype(np.float64)
    check_rank("x", x, 1, "(n,), a series in time order")
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"x must hold at least 2 values; got shape {x.shape}")
    if isinstance(lags, bool) or not isinstance(lags, (int, np.integer)) or not 0 <= lags < n:
        raise ValueError(f"lags must be an integer with 0 <= lags < n = {n} (x has shape "
                         f"{x.shape}); got {lags!r}")
    d = x - x.mean()
    gamma = np.array([d[k:] @ d[:n - k] for k in range(int(lags) + 1)]) / n
    weights = 1.0 - np.arange(1, int(lags) + 1) / (int(lags) + 1)
    variance = gamma[0] + 2.0 * np.sum(weights * gamma[1:])
    return float(np.sqrt(max(variance, 0.0) / n))
