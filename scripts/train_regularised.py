#!/usr/bin/env python3
"""Train the models of chapter 18 (dropout and layer normalization); store the results.

Chapter 18 (book/applications/18_dropout_layernorm.ipynb) measures two things, each over the
seeds ``SEEDS`` (0, 1, 2), paired by seed (a seed fixes the initial weights, the data and
Keras's dropout masks):

* **Dropout on chapter 13's forecasting task.** Seattle's daily maximum temperature, 14-day
  windows, next-day target, the split and standardisation of ``scripts/train_forecasting.py``
  (train 2012-2013, validation 2014, test 2015). ``Input((14, 1)) -> LSTM(UNITS) -> Dense(1)``,
  mean squared error, Adam (learning rate ``LR``), batches of ``BATCH``, ``EPOCHS`` epochs
  without early stopping, so that the whole validation curve is kept. Four settings of the
  LSTM: no dropout, ``dropout=RATE``, ``recurrent_dropout=RATE``, and both.
* **Layer normalization on chapter 11's adding problem.** ``rnnbook.adding_problem`` at the
  lengths ``ADD_LENGTHS``; ``Input((T, 2)) -> recurrent layer(ADD_UNITS) -> Dense(1)``, mean
  squared error, Adam (``ADD_LR``), ``ADD_UPDATES`` updates on batches of ``ADD_BATCH`` fresh
  sequences, the test MSE on ``ADD_TEST`` sequences every ``ADD_EVAL_EVERY`` updates. The
  recurrent layer is Keras's ``LSTM`` or ``keras.layers.RNN(LayerNormLSTMCell)`` of
  ``rnnbook.keras_cells``; both start from the same seed.

Keras runs on JAX here (the script sets ``KERAS_BACKEND=jax`` before importing Keras): JAX
compiles the custom cell's loop into one program, which on this CPU is several times faster than
TensorFlow's loop of small operations. Stored with
``rnnbook.save_stored("regularised_results.json", ...)``: every run's curves, the settings,
and the CPU seconds per epoch or update (measured under whatever load the machine had).

The stored file was made in two runs: the first (seeds 0, 1, 2 of both parts) gave paired
t-intervals for the adding problem that still included zero, so seeds 3, 4 and 5 of the
adding problem were added with ``--more-adding-seeds``; the dropout part has seeds 0, 1, 2.
The two runs took 895 s and 202 s of wall time on a shared, loaded 2-core machine::

    nice .venv/bin/python scripts/train_regularised.py
    nice .venv/bin/python scripts/train_regularised.py --more-adding-seeds 3 4 5
    .venv/bin/python scripts/train_regularised.py --quick --out /tmp/reg.json   # a check
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = "regularised_results.json"
SEEDS = (0, 1, 2)

UNITS, BATCH, LR, EPOCHS, RATE = 64, 32, 1e-3, 60, 0.25
DROPOUT_SETTINGS = {"none": (0.0, 0.0), "dropout": (RATE, 0.0),
                    "recurrent_dropout": (0.0, RATE), "both": (RATE, RATE)}

ADD_LENGTHS = (50, 150)
ADD_UNITS, ADD_BATCH, ADD_UPDATES, ADD_LR, ADD_TEST, ADD_EVAL_EVERY = 16, 64, 600, 3e-3, 1000, 50
ADD_CELLS = ("LSTM", "LN-LSTM")


# ----------------------------------------------------------------------------------------------
# Dropout on the forecasting task
# ----------------------------------------------------------------------------------------------
def forecasting_data() -> dict:
    """Chapter 13's one-step windows (scripts/train_forecasting.py's split)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from train_forecasting import prepare

    return prepare(1)


def forecasting_run(setting: str, seed: int, data: dict, epochs: int) -> dict:
    import keras

    dropout, recurrent_dropout = DROPOUT_SETTINGS[setting]
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((data["train"][0].shape[1], 1)),
        keras.layers.LSTM(UNITS, dropout=dropout, recurrent_dropout=recurrent_dropout,
                          seed=seed),
        keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="mse")
    (x, y, _), (xv, yv, _), (xt, yt, _) = data["train"], data["val"], data["test"]
    began = time.process_time()
    history = model.fit(x, y[:, :, 0], epochs=epochs, batch_size=BATCH, verbose=0,
                        validation_data=(xv, yv[:, :, 0]))
    seconds = time.process_time() - began
    # The training loss of fit() is measured with dropout on; evaluate it again without.
    train_mse = float(model.evaluate(x, y[:, :, 0], batch_size=256, verbose=0))
    test_mse = float(model.evaluate(xt, yt[:, :, 0], batch_size=256, verbose=0))
    return {"loss": [float(v) for v in history.history["loss"]],
            "val_loss": [float(v) for v in history.history["val_loss"]],
            "train_mse_final": train_mse, "test_mse_final": test_mse,
            "cpu_s_per_epoch": seconds / epochs, "params": int(model.count_params())}


# ----------------------------------------------------------------------------------------------
# Layer normalization on the adding problem
# ----------------------------------------------------------------------------------------------
def adding_data(steps: int, seed: int, updates: int):
    """Training and test sequences of one (length, seed): the same for both cells."""
    from rnnbook import adding_problem

    rng = np.random.default_rng([steps, seed, 18])
    return (adding_problem(updates * ADD_BATCH, steps, rng=rng),
            adding_problem(ADD_TEST, steps, rng=rng))


def adding_run(cell: str, steps: int, seed: int, updates: int) -> dict:
    import keras

    from rnnbook.keras_cells import LayerNormLSTMCell

    (x, y), test = adding_data(steps, seed, updates)
    keras.utils.set_random_seed(seed)
    layer = (keras.layers.LSTM(ADD_UNITS) if cell == "LSTM"
             else keras.layers.RNN(LayerNormLSTMCell(ADD_UNITS)))
    model = keras.Sequential([keras.Input((steps, 2)), layer, keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(ADD_LR), loss="mse")
    sys.path.insert(0, str(ROOT / "scripts"))
    from train_min_rnns import fit_adding_curve     # the same loop as chapter 22's runs

    return fit_adding_curve(model, x, y, test, updates, ADD_BATCH, ADD_EVAL_EVERY)


def add_adding_seeds(new_seeds: list, out) -> None:
    """Train the adding-problem runs of ``new_seeds`` and add them to the stored results."""
    import json

    import rnnbook

    results = (json.loads(out.read_text()) if out is not None and out.exists()
               else rnnbook.load_stored(RESULTS))
    part = results["layernorm"]
    began = time.perf_counter()
    for steps in part["lengths"]:
        for seed in new_seeds:
            if seed in part["seeds"]:
                raise SystemExit(f"seed {seed} is already in the results")
            for cell in part["cells"]:
                run = adding_run(cell, steps, seed, part["updates"])
                part["runs"].append({"cell": cell, "T": steps, "seed": seed, **run})
                print(f"adding T={steps:3d} seed {seed} {cell:8s} MSE {run['test_mse']:.4f} "
                      f"({time.perf_counter() - began:.0f} s)", flush=True)
    part["seeds"] = sorted(part["seeds"] + list(new_seeds))
    part["runs"].sort(key=lambda r: (r["T"], r["seed"], part["cells"].index(r["cell"])))
    results["wall_s"] += time.perf_counter() - began
    print(f"wrote {rnnbook.save_stored(RESULTS, results, out=out)}")


# ----------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a few updates and epochs, one seed: checks the script runs")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the JSON here instead of rnnbook's stored files")
    parser.add_argument("--part", choices=("dropout", "layernorm", "both"), default="both")
    parser.add_argument("--more-adding-seeds", type=int, nargs="+", default=None,
                        metavar="SEED",
                        help="train only the adding-problem runs of these extra seeds and add "
                             "them to the stored results (or to --out, if it exists)")
    args = parser.parse_args()

    os.environ["KERAS_BACKEND"] = "jax"        # before Keras is first imported (see above)
    import rnnbook

    rnnbook.setup(seed=0)
    import keras

    if args.more_adding_seeds:
        return add_adding_seeds(args.more_adding_seeds, args.out)
    seeds = SEEDS[:1] if args.quick else SEEDS
    epochs = 2 if args.quick else EPOCHS
    updates = 4 if args.quick else ADD_UPDATES
    results = {"keras_version": keras.__version__, "backend": keras.backend.backend(),
               "seeds": list(seeds), "quick": args.quick,
               "dropout": {"units": UNITS, "batch": BATCH, "learning_rate": LR,
                           "epochs": epochs, "rate": RATE,
                           "settings": {k: list(v) for k, v in DROPOUT_SETTINGS.items()},
                           "runs": []},
               "layernorm": {"lengths": list(ADD_LENGTHS), "units": ADD_UNITS,
                             "batch": ADD_BATCH, "updates": updates, "learning_rate": ADD_LR,
                             "eval_every": min(ADD_EVAL_EVERY, updates), "test": ADD_TEST,
                             "cells": list(ADD_CELLS), "seeds": list(seeds), "runs": []}}
    began = time.perf_counter()
    if args.part in ("dropout", "both"):
        data = forecasting_data()
        for seed in seeds:
            for setting in DROPOUT_SETTINGS:
                run = forecasting_run(setting, seed, data, epochs)
                results["dropout"]["runs"].append({"setting": setting, "seed": seed, **run})
                print(f"dropout seed {seed} {setting:17s} val min "
                      f"{min(run['val_loss']):.4f} last {run['val_loss'][-1]:.4f} "
                      f"({time.perf_counter() - began:.0f} s)", flush=True)
    if args.part in ("layernorm", "both"):
        for steps in ADD_LENGTHS:
            for seed in seeds:
                for cell in ADD_CELLS:
                    run = adding_run(cell, steps, seed, updates)
                    results["layernorm"]["runs"].append({"cell": cell, "T": steps,
                                                         "seed": seed, **run})
                    print(f"adding T={steps:3d} seed {seed} {cell:8s} MSE "
                          f"{run['test_mse']:.4f} ({time.perf_counter() - began:.0f} s)",
                          flush=True)
    results["wall_s"] = time.perf_counter() - began
    out = rnnbook.save_stored(RESULTS, results, out=args.out)   # + SHA256SUMS unless --out
    print(f"wrote {out} in {results['wall_s']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
