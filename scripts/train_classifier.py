#!/usr/bin/env python3
"""Train the speaker classifiers of chapter 14, three seeds each, and store their weights.

Chapter 14 (book/applications/14_variable_length_classification.ipynb) names the speaker of a
JapaneseVowels utterance (``rnnbook.data.load_japanese_vowels``, 7 to 29 frames of 12
coefficients) with four networks, each trained from the seeds ``SEEDS`` (1, 2, 3):

- ``masked``: ``Masking -> GRU(32) -> Dense(9) -> Softmax`` on the post-padded utterances;
- ``unmasked``: the same without ``Masking``;
- ``conv``: three causal dilated ``Conv1D`` layers, the mean over the real frames
  (the padding mask is a second input), ``Dense(9)``, ``Softmax``;
- ``prepadded``: ``unmasked`` trained on pre-padded utterances (the chapter's exercise 2).

Training all twelve takes about 50 s of CPU time, more than the chapter should spend,
so this script does it, deterministically, with the chapter's own functions and in the
chapter's order, and stores the result in ``rnnbook/stored_files/classifier_weights.npz``
(about 300 KB). The chapter builds the models, trains one of them for one epoch to show the
run, and loads the stored weights for its tables, tests and figures.

    .venv/bin/python scripts/train_classifier.py     # about 50 s of CPU time

Protocol (the chapter's): the utterances are standardised with the mean and standard
deviation of the real training frames and post-padded (``prepadded``: pre-padded) to the
longest training utterance; sparse categorical cross-entropy, Adam with learning rate ``LR``,
``EPOCHS`` epochs in mini-batches of ``BATCH``. Run ``s`` starts from
``keras.utils.set_random_seed(s)``; ``fit`` shuffles with TensorFlow's seeded generator, so a
rerun on the same machine gives the same bits. The test set is not touched.

Stored arrays, named ``<variant>_seed<s>__<what>``: ``final__<i>`` (the ``i``-th array of
``model.get_weights()`` after the last epoch), ``loss`` and ``accuracy`` (the training history,
one value per epoch), and for seed 1 ``epoch1__<i>``, the weights after the first epoch: the
chapter re-trains the masked network's first epoch, ``tests/test_classification_data.py`` the
unmasked GRU's and the Conv1D's, and both check that they still reproduce them, which catches a
changed recipe, data set or library version.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = "classifier_weights.npz"   # in rnnbook/stored_files, written by rnnbook.save_stored

SEEDS = (1, 2, 3)
UNITS, EPOCHS, BATCH, LR = 32, 20, 32, 0.005
KERNEL_SIZE, DILATIONS, FILTERS = 3, (1, 2, 4), 24
VARIANTS = ("masked", "unmasked", "conv", "prepadded")


def prepare() -> dict:
    """The chapter's training arrays: standardised, padded utterances, masks and labels.

    Returns ``x_train`` (270, 26, 12) float32 post-padded, ``m_train`` (270, 26) bool,
    ``x_pre`` (270, 26, 12) float32 pre-padded and ``y_train`` (270,) int64.
    """
    from rnnbook import pad_sequences
    from rnnbook.data import load_japanese_vowels

    train_seqs, y_train = load_japanese_vowels("train")
    train_frames = np.concatenate(train_seqs)
    mu, sigma = train_frames.mean(axis=0), train_frames.std(axis=0)
    train_std = [(s - mu) / sigma for s in train_seqs]
    x_train, m_train = pad_sequences(train_std)
    x_pre, _ = pad_sequences(train_std, padding="pre")
    return {"x_train": x_train, "m_train": m_train, "x_pre": x_pre, "y_train": y_train}


def speaker_model(masked: bool, units: int = UNITS):
    """[Masking] -> GRU(units) -> Dense(9) -> softmax, for utterances of any length."""
    import keras

    layers = [keras.Input((None, 12))]
    if masked:
        layers.append(keras.layers.Masking(mask_value=0.0))
    layers += [keras.layers.GRU(units), keras.layers.Dense(9), keras.layers.Softmax()]
    return keras.Sequential(layers)


def train_speaker_model(masked: bool, x, y, seed: int = 1, epochs: int = EPOCHS,
                        callbacks=None):
    """The chapter's ``train_speaker_model`` (``epochs`` and ``callbacks`` added)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = speaker_model(masked)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LR),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=callbacks)
    return model


def conv_speaker_model():
    """Causal dilated Conv1D x 3 -> mean over the real frames -> Dense(9) -> softmax."""
    import keras

    frames = keras.Input((None, 12))
    mask = keras.Input((None,), dtype="bool")            # True at the real frames
    h = frames
    for d in DILATIONS:
        h = keras.layers.Conv1D(FILTERS, KERNEL_SIZE, padding="causal", dilation_rate=d,
                                activation="relu")(h)
    pooled = keras.layers.GlobalAveragePooling1D()(h, mask=mask)
    logits = keras.layers.Dense(9)(pooled)
    return keras.Model([frames, mask], keras.layers.Softmax()(logits))


def train_conv_model(x, mask, y, seed: int = 1, epochs: int = EPOCHS, callbacks=None):
    """The chapter's ``train_conv_model`` (``epochs`` and ``callbacks`` added)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = conv_speaker_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LR),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit([x, mask], y, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=callbacks)
    return model


def train_variant(variant: str, seed: int, data: dict, epochs: int = EPOCHS,
                  callbacks=None):
    """Train one of ``VARIANTS`` from ``seed`` on the arrays of :func:`prepare`."""
    x, m, y = data["x_train"], data["m_train"], data["y_train"]
    if variant == "conv":
        return train_conv_model(x, m, y, seed, epochs, callbacks)
    if variant == "prepadded":
        return train_speaker_model(False, data["x_pre"], y, seed, epochs, callbacks)
    if variant in ("masked", "unmasked"):
        return train_speaker_model(variant == "masked", x, y, seed, epochs, callbacks)
    raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")


def first_epoch_recorder(into: list):
    """A callback that appends copies of the weights after the first epoch to ``into``."""
    import keras

    class FirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                into.extend(w.copy() for w in self.model.get_weights())

    return FirstEpoch()


def run_order() -> list[tuple[str, int]]:
    """The chapter's order: GRUs seed by seed (masked, unmasked), then Conv1D, then pre-padded."""
    return ([(name, seed) for seed in SEEDS for name in ("masked", "unmasked")]
            + [("conv", seed) for seed in SEEDS] + [("prepadded", seed) for seed in SEEDS])


def main() -> None:
    from rnnbook.stored import OUT_HELP

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    args = parser.parse_args()

    import rnnbook

    rnnbook.setup(seed=0)                 # as the chapter's first cell
    import keras

    data = prepare()
    stored = {"seeds": np.array(SEEDS, dtype=np.int64), "epochs": np.int64(EPOCHS),
              "keras_version": np.array(keras.__version__)}
    for variant, seed in run_order():
        began = time.perf_counter()
        start: list = []
        model = train_variant(variant, seed, data, callbacks=[first_epoch_recorder(start)])
        name = f"{variant}_seed{seed}"
        for i, w in enumerate(model.get_weights()):
            stored[f"{name}__final__{i}"] = w
        if seed == SEEDS[0]:
            for i, w in enumerate(start):
                stored[f"{name}__epoch1__{i}"] = w
        history = model.history.history
        stored[f"{name}__loss"] = np.array(history["loss"])
        stored[f"{name}__accuracy"] = np.array(history["accuracy"])
        print(f"{name:16s} loss {history['loss'][-1]:.4f}, accuracy "
              f"{history['accuracy'][-1]:.4f}, {time.perf_counter() - began:.0f} s",
              flush=True)
    out = rnnbook.save_stored(WEIGHTS, stored, out=args.out)   # + SHA256SUMS unless --out
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    sys.exit(main())
