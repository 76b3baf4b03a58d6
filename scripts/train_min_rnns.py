#!/usr/bin/env python3
"""Train minGRU and minLSTM against the GRU on two of the book's tasks; store the results.

Chapter 22 (book/recurrence/22_mingru_minlstm.ipynb) compares the minimal cells of Feng et al.
(2024) with Keras's GRU at equal parameter budgets (whole models, output layers included):

* **The adding problem** of chapter 11 (``rnnbook.adding_problem``) at T = 5, 20, 50 and 100:
  one recurrent layer, ``Dense(1)``, mean squared error. GRU(16) has 977 parameters,
  minGRU(140) 981 and minLSTM(98) 981. Adam with learning rate ``ADD_LR``, ``ADD_UPDATES``
  updates on batches of ``ADD_BATCH`` freshly drawn sequences (none seen twice), then the MSE on
  1,000 test sequences.
* **The first names** of chapter 15 (the same 80/10/10 split, ``scripts/train_char_model.py``):
  ``Embedding(27, 16) -> recurrent layer -> Dense(27)``, next-character cross-entropy. GRU(64)
  has 17,931 parameters, minGRU(286) 17,905, minLSTM(224) 17,931, and two stacked minGRU(79)
  layers 17,918. Adam with learning rate ``NAMES_LR``, batches of 32 words, ``NAMES_EPOCHS``
  epochs, the weights of the epoch with the lowest validation loss kept; then the test loss in
  nats per character.

Every configuration runs with seeds 0, 1, 2. The seed fixes the initial weights (through
``keras.utils.set_random_seed``) and, on the adding problem, the training and test sequences,
which are the same for every model with that seed: the runs are paired by seed. The minimal cells
are the parallel-scan layers of ``rnnbook.keras_mingru``; the GRU is Keras's. Keras runs on
JAX here (the script sets ``KERAS_BACKEND=jax``): on TensorFlow ``keras.ops.associative_scan``
is unrolled into many small operations and a minGRU update cost about ten times a GRU update on
this machine's CPU; JAX compiles the scan into one program. Stored with
``rnnbook.save_stored("min_rnns_results.json", ...)``: every run's final error, the learning
curves, the parameter counts, the settings and the seconds per update (measured under whatever
load the machine had; read them as rough).

    nice .venv/bin/python scripts/train_min_rnns.py            # about 10 CPU minutes
    .venv/bin/python scripts/train_min_rnns.py --quick --out /tmp/min.json   # seconds
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = "min_rnns_results.json"
SEEDS = (0, 1, 2)

ADD_LENGTHS = (5, 20, 50, 100)
ADD_UNITS = {"GRU": 16, "minGRU": 140, "minLSTM": 98}
ADD_BATCH, ADD_UPDATES, ADD_LR, ADD_TEST = 64, 300, 0.01, 1000
ADD_EVAL_EVERY = 50                 # updates between two points of the learning curve

NAMES_UNITS = {"GRU": 64, "minGRU": 286, "minLSTM": 224, "minGRU x2": 79}
NAMES_EMBED, NAMES_BATCH, NAMES_LR, NAMES_EPOCHS = 16, 32, 3e-3, 10


def recurrent_layers(cell: str, units: int, return_sequences: bool) -> list:
    """The recurrent part of a model: Keras's GRU or one/two parallel-scan minimal layers."""
    import keras

    from rnnbook.keras_mingru import MinGRU, MinLSTM

    if cell == "GRU":
        return [keras.layers.GRU(units, return_sequences=return_sequences)]
    if cell == "minGRU":
        return [MinGRU(units, return_sequences=return_sequences)]
    if cell == "minLSTM":
        return [MinLSTM(units, return_sequences=return_sequences)]
    if cell == "minGRU x2":
        return [MinGRU(units, return_sequences=True),
                MinGRU(units, return_sequences=return_sequences)]
    raise ValueError(f"unknown cell {cell!r}")


# ----------------------------------------------------------------------------------------------
# The adding problem
# ----------------------------------------------------------------------------------------------
def adding_model(cell: str, steps: int, seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((steps, 2)),
                              *recurrent_layers(cell, ADD_UNITS[cell], False),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(ADD_LR), loss="mse")
    return model


def adding_data(steps: int, seed: int, updates: int):
    """Training and test sequences of one (length, seed): the same for every model."""
    from rnnbook import adding_problem

    rng = np.random.default_rng([steps, seed])
    return (adding_problem(updates * ADD_BATCH, steps, rng=rng),
            adding_problem(ADD_TEST, steps, rng=rng))


def adding_run(cell: str, steps: int, seed: int, updates: int) -> dict:
    """Train one model; the test MSE every ``ADD_EVAL_EVERY`` updates and the time taken."""
    (x, y), test = adding_data(steps, seed, updates)
    model = adding_model(cell, steps, seed)
    return fit_adding_curve(model, x, y, test, updates, ADD_BATCH, ADD_EVAL_EVERY)


def fit_adding_curve(model, x, y, test, updates: int, batch: int, every: int) -> dict:
    """Train a compiled ``model`` for ``updates`` updates on consecutive mini-batches of ``batch``
    rows of ``x``, ``y`` (no shuffling), and record the test MSE on ``test = (x_test, y_test)``
    after every ``every`` updates, and the CPU time spent in ``fit``. Chapter 18's script
    (train_regularised.py) trains its adding-problem runs with this too."""
    x_test, y_test = test
    curve, seconds = [], 0.0
    every = min(every, updates)
    for start in range(0, updates, every):
        rows = slice(start * batch, (start + every) * batch)
        began = time.process_time()
        model.fit(x[rows], y[rows], batch_size=batch, epochs=1, shuffle=False, verbose=0)
        seconds += time.process_time() - began
        y_hat = model.predict(x_test, batch_size=len(x_test), verbose=0)
        curve.append(float(np.mean((y_hat - y_test) ** 2)))
    return {"test_mse": curve[-1], "curve": curve, "cpu_s_per_update": seconds / updates,
            "params": int(model.count_params())}


# ----------------------------------------------------------------------------------------------
# First names
# ----------------------------------------------------------------------------------------------
def names_data() -> dict:
    """Chapter 15's split and teacher-forcing arrays (from scripts/train_char_model.py)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from train_char_model import prepare

    return prepare()


def names_model(cell: str, seed: int, vocabulary_size: int, length: int):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((length,), dtype="int32"),
                              keras.layers.Embedding(vocabulary_size, NAMES_EMBED),
                              *recurrent_layers(cell, NAMES_UNITS[cell], True),
                              keras.layers.Dense(vocabulary_size)])
    loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight")
    model.compile(optimizer=keras.optimizers.Adam(NAMES_LR), loss=loss)
    return model


def names_run(cell: str, seed: int, data: dict, epochs: int) -> dict:
    import keras

    x, y, w = data["train"]
    model = names_model(cell, seed, len(data["vocabulary"]), x.shape[1])
    keep = keras.callbacks.EarlyStopping(monitor="val_loss", patience=epochs,
                                         restore_best_weights=True)
    began = time.process_time()
    history = model.fit(x, y, sample_weight=w, batch_size=NAMES_BATCH, epochs=epochs,
                        validation_data=data["val"], callbacks=[keep], verbose=0)
    seconds = time.process_time() - began
    x_test, y_test, w_test = data["test"]
    test = model.evaluate(x_test, y_test, sample_weight=w_test, batch_size=256, verbose=0)
    updates = epochs * int(np.ceil(len(x) / NAMES_BATCH))
    return {"test_nll": float(test), "val_loss": [float(v) for v in history.history["val_loss"]],
            "loss": [float(v) for v in history.history["loss"]],
            "best_epoch": int(np.argmin(history.history["val_loss"])) + 1,
            "cpu_s_per_update": seconds / updates, "params": int(model.count_params())}


# ----------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a few updates, one seed, two lengths: checks the script runs")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the JSON here instead of rnnbook's stored files")
    parser.add_argument("--part", choices=("adding", "names", "both"), default="both")
    args = parser.parse_args()

    os.environ["KERAS_BACKEND"] = "jax"        # before Keras is first imported (see above)
    import rnnbook

    rnnbook.setup(seed=0)
    import keras

    seeds = SEEDS[:1] if args.quick else SEEDS
    lengths = ADD_LENGTHS[:2] if args.quick else ADD_LENGTHS
    updates = 4 if args.quick else ADD_UPDATES
    epochs = 1 if args.quick else NAMES_EPOCHS
    results = {"keras_version": keras.__version__, "backend": keras.backend.backend(),
               "seeds": list(seeds), "quick": args.quick,
               "adding": {"lengths": list(lengths), "units": ADD_UNITS, "batch": ADD_BATCH,
                          "updates": updates, "learning_rate": ADD_LR,
                          "eval_every": min(ADD_EVAL_EVERY, updates), "test": ADD_TEST,
                          "runs": []},
               "names": {"units": NAMES_UNITS, "embed": NAMES_EMBED, "batch": NAMES_BATCH,
                         "epochs": epochs, "learning_rate": NAMES_LR, "runs": []}}
    began = time.perf_counter()
    if args.part in ("adding", "both"):
        for steps in lengths:
            for seed in seeds:
                for cell in ADD_UNITS:
                    run = adding_run(cell, steps, seed, updates)
                    results["adding"]["runs"].append({"cell": cell, "T": steps, "seed": seed,
                                                      **run})
                    print(f"adding T={steps:3d} seed {seed} {cell:8s} "
                          f"MSE {run['test_mse']:.4f} ({time.perf_counter() - began:.0f} s)",
                          flush=True)
    if args.part in ("names", "both"):
        data = names_data()
        if args.quick:
            data = {**data, "train": tuple(a[:256] for a in data["train"])}
        for seed in seeds:
            for cell in NAMES_UNITS:
                run = names_run(cell, seed, data, epochs)
                results["names"]["runs"].append({"cell": cell, "seed": seed, **run})
                print(f"names seed {seed} {cell:9s} test NLL {run['test_nll']:.4f} "
                      f"best epoch {run['best_epoch']} ({time.perf_counter() - began:.0f} s)",
                      flush=True)
    results["wall_s"] = time.perf_counter() - began
    out = rnnbook.save_stored(RESULTS, results, out=args.out)   # + SHA256SUMS unless --out
    print(f"wrote {out} in {results['wall_s']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
