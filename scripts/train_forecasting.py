#!/usr/bin/env python3
"""Train the forecasting networks of chapter 13, three seeds each, and store their weights.

Chapter 13 (book/applications/13_forecasting.ipynb) forecasts Seattle's daily maximum
temperature with SimpleRNN, LSTM and GRU networks, each in two versions: one step ahead
(``Dense(1)`` output) and seven days ahead at once (``Dense(7)``, the *direct* multi-step
forecaster), each trained from the seeds ``SEEDS`` (0, 1, 2) so that the chapter can report
how much the test error depends on the seed: 18 runs. Training them to convergence takes
longer than a notebook may run, so this script does it, deterministically, and stores the
result in
``rnnbook/stored_files/forecasting_weights.npz`` (about 320 KB). The chapter trains one of
them for a few epochs to show the run, then loads the stored weights.

    .venv/bin/python scripts/train_forecasting.py     # about 3 minutes of CPU time

Run ``s`` starts from ``keras.utils.set_random_seed(s)``; ``fit`` shuffles with TensorFlow's
seeded generator, so a rerun on the same machine gives the same bits. The arrays of a run are
named ``<kind>_h<horizon>[_seed<s>]__<what>``, e.g. ``GRU_h1__final__0`` (seed ``SEED`` = 0,
which has no suffix) or ``GRU_h7_seed2__val_loss``; see :func:`model_name`. For the seed-0 runs
the weights after the first epoch are stored too: ``tests/test_forecast.py`` re-runs that epoch
and checks it still reproduces them, which catches a changed recipe, data set or library
version.

Protocol: mean squared error on the standardised series, Adam with learning rate ``LR``,
mini-batches of ``BATCH``, at most ``MAX_EPOCHS`` epochs, stopped when the validation loss
(2014) has not improved for ``PATIENCE`` epochs, keeping the best weights. The test year
(2015) is not touched.

``--conv1d`` trains, with the same seeds, splits and protocol, the chapter's convolutional
baseline instead (``CONV_KIND``): a stack of causal dilated ``Conv1D`` layers, ``FILTERS``
filters of ``KERNEL_SIZE`` taps at the dilation rates ``DILATIONS`` (receptive field 16 >=
``WINDOW`` days), whose output at the last day feeds the same ``Dense(horizon)``. Its six runs
go to their own file, ``rnnbook/stored_files/forecasting_conv1d.npz`` (about 130 KB, half a
minute of CPU time), with the same array names (``Conv1D_h1__final__0``, ...), so the
recurrent networks need not be retrained when it changes:

    .venv/bin/python scripts/train_forecasting.py --conv1d
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = "forecasting_weights.npz"   # in rnnbook/stored_files, written by rnnbook.save_stored

FEATURE = "temp_max"             # daily maximum temperature, deg C
WINDOW = 14                      # days the network reads
HORIZONS = (1, 7)                # next day; the next seven days
VAL_START, TEST_START = "2014-01-01", "2015-01-01"
KINDS = ("SimpleRNN", "LSTM", "GRU")
UNITS, BATCH, LR = 32, 32, 1e-3
MAX_EPOCHS, PATIENCE, SEED = 100, 10, 0
SEEDS = (SEED, 1, 2)             # every model is trained once from each seed

# The convolutional baseline (--conv1d): causal, dilated, WaveNet-like doubling dilations.
CONV_KIND = "Conv1D"
CONV_WEIGHTS = "forecasting_conv1d.npz"
FILTERS, KERNEL_SIZE, DILATIONS = 24, 2, (1, 2, 4, 8)   # receptive field 1 + 1+2+4+8 = 16


def load_series() -> tuple[np.ndarray, np.ndarray]:
    """The daily series (float64, deg C) and its dates (datetime64[D]), 2012-01-01 to 2015-12-31."""
    from rnnbook.data import seattle_weather_table

    table = seattle_weather_table()
    return (table[FEATURE].to_numpy(dtype=np.float64),
            table["date"].to_numpy().astype("datetime64[D]"))


def prepare(horizon: int) -> dict:
    """Standardised windows, split by the dates of their targets.

    Training windows have every target day before VAL_START, validation windows every target
    day in [VAL_START, TEST_START), test windows their first target day on or after TEST_START.
    The mean and standard deviation come from the training days only.
    """
    from rnnbook.forecast import forecast_windows

    series, dates = load_series()
    train_days = dates < np.datetime64(VAL_START)
    mean, std = series[train_days].mean(), series[train_days].std()
    z = ((series - mean) / std).astype(np.float32)
    X, Y = forecast_windows(z, WINDOW, horizon)
    first = dates[WINDOW:WINDOW + len(X)]                 # date of Y[i, 0]
    last = dates[WINDOW + horizon - 1:][:len(X)]          # date of Y[i, -1]
    val, test = np.datetime64(VAL_START), np.datetime64(TEST_START)
    masks = {"train": last < val, "val": (first >= val) & (last < test), "test": first >= test}
    out = {"mean": mean, "std": std}
    for name, m in masks.items():
        out[name] = (X[m], Y[m], first[m])
    return out


def model_name(kind: str, horizon: int, seed: int = SEED) -> str:
    """The prefix of a run's arrays: ``GRU_h7`` for seed ``SEED``, ``GRU_h7_seed1`` otherwise."""
    return f"{kind}_h{horizon}" if seed == SEED else f"{kind}_h{horizon}_seed{seed}"


def conv_layers() -> list:
    """The causal dilated convolutions of ``CONV_KIND``, then the last day's output.

    ``Conv1D(FILTERS, KERNEL_SIZE, padding="causal", dilation_rate=d, activation="relu")`` for
    each ``d`` in ``DILATIONS``; ``Cropping1D((WINDOW - 1, 0))`` and ``Flatten`` keep the output
    of the last step, shape (batch, FILTERS), which has seen the whole window.
    """
    import keras

    convs = [keras.layers.Conv1D(FILTERS, KERNEL_SIZE, padding="causal", dilation_rate=d,
                                 activation="relu") for d in DILATIONS]
    return [*convs, keras.layers.Cropping1D((WINDOW - 1, 0)), keras.layers.Flatten()]


def build(kind: str, horizon: int, seed: int = SEED):
    """``Sequential([Input((WINDOW, 1)), <kind>(UNITS), Dense(horizon)])``, seeded, compiled.

    For ``kind == CONV_KIND`` the recurrent layer is replaced by :func:`conv_layers`.
    """
    import keras

    keras.utils.set_random_seed(seed)
    body = conv_layers() if kind == CONV_KIND else [getattr(keras.layers, kind)(UNITS)]
    model = keras.Sequential([
        keras.Input((WINDOW, 1)),
        *body,
        keras.layers.Dense(horizon),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LR), loss="mse")
    return model


def train(kind: str, horizon: int, epochs: int = MAX_EPOCHS, data: dict | None = None,
          seed: int = SEED):
    """Train one model; return (model, history dict, weights after the first epoch)."""
    import keras

    data = prepare(horizon) if data is None else data
    (x, y, _), (xv, yv, _) = data["train"], data["val"]
    model = build(kind, horizon, seed)
    start = []

    class FirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                start.extend(w.copy() for w in self.model.get_weights())

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE,
                                         restore_best_weights=True)
    history = model.fit(x, y[:, :, 0], epochs=epochs, batch_size=BATCH, verbose=0,
                        validation_data=(xv, yv[:, :, 0]), callbacks=[FirstEpoch(), stop])
    return model, history.history, start


def train_runs(kinds, stored: dict) -> None:
    """Train every kind in ``kinds`` for every horizon and seed; add the arrays to ``stored``."""
    for horizon in HORIZONS:
        data = prepare(horizon)
        stored["mean"], stored["std"] = np.float64(data["mean"]), np.float64(data["std"])
        for seed in SEEDS:
            for kind in kinds:
                began = time.perf_counter()
                model, history, start = train(kind, horizon, data=data, seed=seed)
                name = model_name(kind, horizon, seed)
                best = int(np.argmin(history["val_loss"])) + 1
                for i, w in enumerate(model.get_weights()):
                    stored[f"{name}__final__{i}"] = w
                if seed == SEED:                      # what the reproduction test checks
                    for i, w in enumerate(start):
                        stored[f"{name}__start__{i}"] = w
                stored[f"{name}__loss"] = np.array(history["loss"])
                stored[f"{name}__val_loss"] = np.array(history["val_loss"])
                stored[f"{name}__best_epoch"] = np.int64(best)
                print(f"{name:20s} {len(history['loss']):3d} epochs, best {best:3d}, val "
                      f"loss {min(history['val_loss']):.4f}, "
                      f"{time.perf_counter() - began:.0f} s", flush=True)


def main() -> None:
    from rnnbook.stored import OUT_HELP

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    parser.add_argument("--conv1d", action="store_true",
                        help=f"train only the causal dilated Conv1D baseline and write "
                             f"{CONV_WEIGHTS} (the recurrent networks' file is left alone)")
    args = parser.parse_args()

    import rnnbook

    rnnbook.setup(seed=SEED)
    import keras

    if args.conv1d:
        stored = {"window": np.int64(WINDOW), "filters": np.int64(FILTERS),
                  "kernel_size": np.int64(KERNEL_SIZE),
                  "dilations": np.array(DILATIONS, dtype=np.int64),
                  "receptive_field": np.int64(rnnbook.receptive_field(KERNEL_SIZE, DILATIONS))}
    else:
        stored = {"window": np.int64(WINDOW), "units": np.int64(UNITS)}
    stored.update(seed=np.int64(SEED), seeds=np.array(SEEDS, dtype=np.int64),
                  keras_version=np.array(keras.__version__))
    train_runs([CONV_KIND] if args.conv1d else KINDS, stored)
    name = CONV_WEIGHTS if args.conv1d else WEIGHTS
    out = rnnbook.save_stored(name, stored, out=args.out)   # + SHA256SUMS unless --out
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    sys.exit(main())
