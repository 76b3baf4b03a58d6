#!/usr/bin/env python3
"""Train the character-level name generator of chapter 15 and store its weights.

Chapter 15 (book/applications/15_char_generation.ipynb) trains a next-character model on the
first names of the 1990 US Census (``rnnbook.data.load_first_names``, shipped by the ``names``
package): ``Embedding(27, 16) -> GRU(64, return_sequences=True) -> Dense(27)``, with teacher
forcing. Training it until the validation loss stops improving takes a few minutes on two
cores, longer than a notebook may run, so this script does it, deterministically, and stores
the result in ``rnnbook/stored_files/char_model_weights.npz`` (about 300 KB). The chapter trains
for two epochs to show the run, then loads the stored weights.

    .venv/bin/python scripts/train_char_model.py          # about two minutes on two cores

The model starts from ``keras.utils.set_random_seed(SEED)``; ``fit`` shuffles with
TensorFlow's seeded generator, so a rerun on the same machine gives the same bits. Stored: the
three word lists of the split, the weights after the first epoch (``tests/test_sampling.py``
re-runs that epoch and checks it still reproduces them), after epochs ``SNAPSHOTS`` and at the
best epoch (``final``), and the loss histories.

Protocol: the names are shuffled with ``np.random.default_rng(SEED)`` and split 80/10/10 into
training, validation and test words. Loss: cross-entropy of each next character, averaged over
the real (unpadded) characters (``reduction="mean_with_sample_weight"``), Adam with learning
rate ``LR``, mini-batches of ``BATCH`` words, at most ``MAX_EPOCHS`` epochs, stopped when the
validation loss has not improved for ``PATIENCE`` epochs, keeping the best weights. The test
words are not touched.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = "char_model_weights.npz"   # in rnnbook/stored_files, written by rnnbook.save_stored

FRACTIONS = (0.8, 0.1, 0.1)      # training, validation, test
EMBED, UNITS, BATCH, LR = 16, 64, 32, 3e-3
MAX_EPOCHS, PATIENCE, SEED = 60, 5, 0
SNAPSHOTS = (5, 10)              # epochs whose weights are stored besides the first and best


def split_words(seed: int = SEED) -> dict:
    """The names, shuffled with ``default_rng(seed)`` and split into train/val/test lists."""
    from rnnbook.data import load_first_names

    words = load_first_names()
    order = np.random.default_rng(seed).permutation(len(words))
    n_train = int(FRACTIONS[0] * len(words))
    n_val = int(FRACTIONS[1] * len(words))
    return {"train": words[order[:n_train]],
            "val": words[order[n_train:n_train + n_val]],
            "test": words[order[n_train + n_val:]]}


def prepare() -> dict:
    """The split, the vocabulary and the teacher-forcing arrays of every part."""
    from rnnbook.sampling import char_vocabulary, encode_words

    words = split_words()
    vocabulary = char_vocabulary(np.concatenate(list(words.values())))
    length = max(len(w) for part in words.values() for w in part) + 1
    out = {"words": words, "vocabulary": vocabulary}
    for part, ws in words.items():
        out[part] = encode_words(ws, vocabulary, length)
    return out


def build(vocabulary_size: int):
    """The next-character model, seeded and compiled (logits out; the loss applies softmax)."""
    import keras

    keras.utils.set_random_seed(SEED)
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(vocabulary_size, EMBED),
        keras.layers.GRU(UNITS, return_sequences=True),
        keras.layers.Dense(vocabulary_size),
    ])
    loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LR), loss=loss)
    return model


def train(epochs: int = MAX_EPOCHS, data: dict | None = None):
    """Train the model; return (model, history dict, {epoch: weights} snapshots)."""
    import keras

    data = prepare() if data is None else data
    model = build(len(data["vocabulary"]))
    snapshots = {}

    class Snapshots(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == 1 or epoch + 1 in SNAPSHOTS:
                snapshots[epoch + 1] = [w.copy() for w in self.model.get_weights()]

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE,
                                         restore_best_weights=True)
    x, y, w = data["train"]
    history = model.fit(x, y, sample_weight=w, epochs=epochs, batch_size=BATCH, verbose=0,
                        validation_data=data["val"], callbacks=[Snapshots(), stop])
    return model, history.history, snapshots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="write here instead of rnnbook/stored_files (the chapter "
                             "reads only that folder; SHA256SUMS is then not updated)")
    args = parser.parse_args()

    import rnnbook

    rnnbook.setup(seed=SEED)
    import keras

    began = time.perf_counter()
    data = prepare()
    model, history, snapshots = train(data=data)
    best = int(np.argmin(history["val_loss"])) + 1
    stored = {"seed": np.int64(SEED), "units": np.int64(UNITS), "embed": np.int64(EMBED),
              "vocabulary": np.array(data["vocabulary"]),
              "keras_version": np.array(keras.__version__),
              "loss": np.array(history["loss"]), "val_loss": np.array(history["val_loss"]),
              "best_epoch": np.int64(best)}
    for part, words in data["words"].items():
        stored[f"{part}_words"] = words
    for i, w in enumerate(model.get_weights()):
        stored[f"final__{i}"] = w
    for epoch, weights in snapshots.items():
        tag = "start" if epoch == 1 else f"epoch{epoch}"
        for i, w in enumerate(weights):
            stored[f"{tag}__{i}"] = w
    if args.out is None:                              # the file the chapter reads
        out = rnnbook.save_stored(WEIGHTS, stored)    # and its line in SHA256SUMS
    else:
        out = args.out
        out.write_bytes(rnnbook.stored.encode_stored(WEIGHTS, stored))
    print(f"{len(history['loss'])} epochs, best {best}, val loss "
          f"{min(history['val_loss']):.4f}, {time.perf_counter() - began:.0f} s")
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    sys.exit(main())
