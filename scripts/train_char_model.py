#!/usr/bin/env python3
"""Train the character-level name generator of chapter 15 and store its weights.

Chapter 15 (book/applications/15_char_generation.ipynb) trains a next-character model on the
first names of the 1990 US Census (``rnnbook.data.load_first_names``, shipped by the ``names``
package): ``Embedding(27, 16) -> GRU(64, return_sequences=True) -> Dense(27)``, with teacher
forcing. Training it until the validation loss stops improving (20 epochs) takes about 20 s of
CPU time, more than the chapter should add to its run, so this script does it,
deterministically, and stores the result in ``rnnbook/stored_files/char_model_weights.npz``
(about 300 KB). The chapter trains for two epochs to show the run, then loads the stored
weights. The script then trains the same model from the other seeds in ``SEEDS`` and stores
what the chapter compares, for every seed, in ``char_model_seeds.json``: test NLL at several
temperatures, with the state carried and reset, per-name NLLs for paired tests, and sample
statistics (``seed_metrics``).

    .venv/bin/python scripts/train_char_model.py               # about 70 s of CPU time
    .venv/bin/python scripts/train_char_model.py --seeds-only  # only char_model_seeds.json
    .venv/bin/python scripts/train_char_model.py --beam        # only char_model_beam.json

Measured on two cores: 20 s of CPU time for seed 0, 68 s for all three seeds with their
scores (the wall time depends on what else runs). ``--beam`` (49 s of CPU time) retrains
seeds 1 and 2, checks that every seed's scores equal ``char_model_seeds.json``'s, and stores
the beam-search names of every seed (``beam_metrics``) in ``char_model_beam.json``.

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
SEEDS = (0, 1, 2)                # model seeds of the comparison; SEED's weights are stored
SEEDS_FILE = "char_model_seeds.json"
TEMPERATURES = (0.5, 0.8, 0.9, 1.0, 1.1, 1.25, 2.0)      # held-out NLL at these
SAMPLE_TEMPERATURES, N_SAMPLES, SAMPLE_SEED = (0.3, 0.7, 1.0, 1.5), 1000, 2
BEAM_FILE = "char_model_beam.json"       # --beam: beam search against greedy, every seed
BEAM_WIDTHS = (1, 3, 5, 20)              # width 1 is greedy decoding


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


def build(vocabulary_size: int, seed: int = SEED):
    """The next-character model, seeded and compiled (logits out; the loss applies softmax)."""
    import keras

    keras.utils.set_random_seed(seed)
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


def train(epochs: int = MAX_EPOCHS, data: dict | None = None, seed: int = SEED):
    """Train the model; return (model, history dict, {epoch: weights} snapshots)."""
    import keras

    data = prepare() if data is None else data
    model = build(len(data["vocabulary"]), seed)
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


def _nll_per_name(probs: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """-log P of each name and its end marker: probs (n, L, V), targets y and weights w (n, L)."""
    p_target = np.take_along_axis(probs, y[..., None], axis=-1)[..., 0]
    return -(np.log(p_target) * w).sum(axis=1)


def seed_metrics(model, data: dict) -> dict:
    """What chapter 15 compares, for one trained model: test NLL per character at every
    temperature in TEMPERATURES, with the state carried and reset at every character, the
    per-name NLLs behind them (for paired tests over the test names), and statistics of
    N_SAMPLES names drawn at each temperature in SAMPLE_TEMPERATURES."""
    from rnnbook import apply_temperature, softmax
    from rnnbook.sampling import (char_initial_state, char_model_from_keras, char_step, decode,
                                  generate)

    x, y, w = data["test"]
    n_chars = float(w.sum())
    probs = softmax(model.predict(x, verbose=0).astype(np.float64))      # (n, L, V)
    real = w > 0
    out = {"test_nll_at_temperature": {}}
    for tau in TEMPERATURES:
        scaled = probs.copy()
        scaled[real] = apply_temperature(probs[real], tau)
        name_nll = _nll_per_name(scaled, y, w)
        out["test_nll_at_temperature"][str(tau)] = float(name_nll.sum() / n_chars)
        if tau in (1.0, 1.1):
            out[f"name_nll_at_{tau}"] = [round(float(v), 6) for v in name_nll]
    out["test_nll"] = out["test_nll_at_temperature"]["1.0"]
    cm = char_model_from_keras(model)
    reset = char_step(cm, x.ravel(), char_initial_state(cm, x.size))[0].reshape(probs.shape)
    reset_nll = _nll_per_name(reset, y, w)
    out["test_nll_state_reset"] = float(reset_nll.sum() / n_chars)
    out["name_nll_state_reset"] = [round(float(v), 6) for v in reset_nll]
    corpus = set(np.concatenate(list(data["words"].values())))
    out["samples"] = {}
    for tau in SAMPLE_TEMPERATURES:
        names = [decode(s, data["vocabulary"]) for s in generate(
            lambda tokens, state: char_step(cm, tokens, state),
            char_initial_state(cm, N_SAMPLES), n=N_SAMPLES, max_length=20,
            rng=np.random.default_rng(SAMPLE_SEED), temperature=tau)]
        out["samples"][str(tau)] = {
            "distinct": len(set(names)) / N_SAMPLES,
            "real": sum(s in corpus for s in names) / N_SAMPLES,
            "mean_length": float(np.mean([len(s) for s in names]))}
    return out


def beam_metrics(model, data: dict) -> dict:
    """Chapter 15's most probable names under one trained model: for each of the 26 first
    letters, the name that beam search (rnnbook.beam_search, summed log P, at most 12
    characters after the letter and the end marker) finds from that letter, for every width
    in BEAM_WIDTHS. For each width: the names, their log P (the letter's own included),
    the mean log P, how many names differ from greedy decoding's (width 1), and how many are
    more / less probable than it (by more than 1e-4, beyond float32 rounding). Also the best
    name from the start marker at each width (``best_name``) and whether width 1 equals
    rnnbook.greedy_decode (``width1_is_greedy``)."""
    from rnnbook import beam_search, greedy_decode
    from rnnbook.sampling import char_initial_state, char_model_from_keras, char_step, decode

    cm = char_model_from_keras(model)
    vocabulary = data["vocabulary"]
    V = len(vocabulary)

    def step(tokens, state):
        return char_step(cm, tokens, state)

    letters = np.arange(1, V)
    first_probs, after_letter = char_step(cm, np.zeros(V - 1, np.int64),
                                          char_initial_state(cm, V - 1))
    first_log_p = np.log(first_probs[np.arange(V - 1), letters].astype(np.float64))
    greedy_ids, _ = greedy_decode(step, after_letter, letters, 12, end=0)
    out = {"width1_is_greedy": True, "best_name": {}}
    for k in BEAM_WIDTHS:
        result = beam_search(step, after_letter, beam_width=k, max_length=12, end_token=0,
                             start_token=letters)
        names = [vocabulary[first] + decode(tokens, vocabulary)
                 for first, tokens in zip(letters, result.tokens[:, 0])]
        log_p = first_log_p + result.log_prob[:, 0]
        if k == 1:
            out["width1_is_greedy"] = bool(np.array_equal(result.tokens[:, 0], greedy_ids))
            greedy_names, greedy_log_p = names, log_p
        out[str(k)] = {
            "names": names, "log_p": [round(float(v), 6) for v in log_p],
            "mean_log_p": float(log_p.mean()),
            "changed": sum(a != b for a, b in zip(names, greedy_names)),
            "more": int(np.sum(log_p > greedy_log_p + 1e-4)),
            "less": int(np.sum(log_p < greedy_log_p - 1e-4))}
        best = beam_search(step, char_initial_state(cm, 1), beam_width=k, max_length=13,
                           end_token=0, min_length=1)
        out["best_name"][str(k)] = [decode(best.tokens[0, 0], vocabulary),
                                    round(float(best.log_prob[0, 0]), 6)]
    return out


def store(model, history: dict, snapshots: dict, data: dict, out: Path | None,
          began: float) -> None:
    """Store the weights of SEED's run as WEIGHTS (or write them to ``out``)."""
    import keras

    import rnnbook

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
    out = rnnbook.save_stored(WEIGHTS, stored, out=out)   # + SHA256SUMS unless out is given
    print(f"{len(history['loss'])} epochs, best {best}, val loss "
          f"{min(history['val_loss']):.4f}, {time.perf_counter() - began:.0f} s")
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")


def main() -> None:
    from rnnbook.stored import OUT_HELP

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    parser.add_argument("--seeds-only", action="store_true",
                        help=f"only write {SEEDS_FILE}: seed {SEED}'s model from the stored "
                             f"{WEIGHTS}, the other seeds trained")
    parser.add_argument("--beam", action="store_true",
                        help=f"only write {BEAM_FILE}: as --seeds-only, with beam search "
                             f"(beam_metrics), after checking that the seeds' scores equal "
                             f"{SEEDS_FILE}'s")
    args = parser.parse_args()

    import rnnbook

    rnnbook.setup(seed=SEED)
    import keras

    began = time.perf_counter()
    data = prepare()
    if args.seeds_only or args.beam:
        stored = rnnbook.load_stored(WEIGHTS)
        model = build(len(data["vocabulary"]))
        model.set_weights([stored[f"final__{i}"] for i in range(len(model.get_weights()))])
        history = {"loss": list(stored["loss"]), "val_loss": list(stored["val_loss"])}
    else:
        model, history, snapshots = train(data=data)
        store(model, history, snapshots, data, args.out, began)

    runs, beams = [], []                              # SEED's model first, then the others
    for seed in SEEDS:
        if seed != SEED:
            began = time.perf_counter()
            model, history, _ = train(data=data, seed=seed)
        best = int(np.argmin(history["val_loss"])) + 1
        runs.append({"seed": seed, "epochs": len(history["loss"]), "best_epoch": best,
                     "val_loss": float(min(history["val_loss"])),
                     **seed_metrics(model, data)})
        if args.beam:
            beams.append({"seed": seed, **beam_metrics(model, data)})
        print(f"seed {seed}: {len(history['loss'])} epochs, best {best}, test NLL "
              f"{runs[-1]['test_nll']:.4f}, {time.perf_counter() - began:.0f} s", flush=True)
    if args.beam:
        import json

        if json.loads(json.dumps(runs)) != rnnbook.load_stored(SEEDS_FILE)["seeds"]:
            raise SystemExit(f"the seeds' scores differ from {SEEDS_FILE}'s: the rerun did "
                             "not reproduce the models")
        out = rnnbook.save_stored(BEAM_FILE, {
            "about": "Beam search (rnnbook.beam_search, summed log P) against greedy "
                     "decoding of chapter 15's model trained from each seed in SEEDS (the "
                     f"runs of {SEEDS_FILE}, whose scores they reproduce): the most "
                     "probable name from each first letter a-z, and from the start "
                     "(best_name: name, log P), at each beam width (beam_metrics).",
            "widths": list(BEAM_WIDTHS), "keras_version": keras.__version__,
            "seeds": beams},
            out=None if args.out is None else args.out.with_name(BEAM_FILE))
        print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")
        return
    seeds = {"about": "Chapter 15's model trained from each seed in SEEDS (the split, data "
                      "and recipe fixed; the seed sets the initial weights and the order of "
                      "the mini-batches), scored on the test names. name_nll_*: -log P of "
                      "each test name with its end marker, in the order of test_words.",
             "keras_version": keras.__version__, "seeds": runs}
    out = rnnbook.save_stored(SEEDS_FILE, seeds,
                              out=None if args.out is None else args.out.with_name(SEEDS_FILE))
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    sys.exit(main())
