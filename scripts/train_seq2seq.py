#!/usr/bin/env python3
"""Train the two date normalisers of chapter 16 and store their weights.

Chapter 16 (book/applications/16_seq2seq_attention.ipynb) trains a character-level
encoder-decoder to rewrite dates such as "Sunday, 7 March 2021", "03/07/2021" or "07-MAR-21" as
"2021-03-07", once without attention (the decoder sees the source only through the encoder's
final state) and once with dot-product attention over the encoder's states. Training both to
convergence takes longer than a notebook may run, so this script does it, deterministically, and
stores the result in ``rnnbook/stored_files/seq2seq_weights.npz`` (under 1 MB), with the
weights after ``EARLY_EPOCHS`` epochs, to compare the two models on an equal, short budget. The chapter
trains the attention model for one epoch to show the run, then loads the stored weights. The
script then trains both models from the other seeds in ``SEEDS``, decodes the test dates
greedily with every model, after ``EARLY_EPOCHS`` epochs and converged, and stores the scores
in ``seq2seq_seeds.json`` (``train_seeds``).

    .venv/bin/python scripts/train_seq2seq.py                 # about 20 min of CPU time
    .venv/bin/python scripts/train_seq2seq.py --seeds-only    # only seq2seq_seeds.json
    .venv/bin/python scripts/train_seq2seq.py --seeds-only --early-only   # about 2 min
    .venv/bin/python scripts/train_seq2seq.py --beam      # only seq2seq_beam.json, 16 min
    .venv/bin/python scripts/train_seq2seq.py --beam --early-only   # 5-epoch seeds, 2 min

Measured on two cores: an epoch costs 4 to 4.6 s of CPU time, so seed 0's two runs (43 and
21 epochs) about 5 minutes. The stored ``seq2seq_seeds.json`` comes from ``--seeds-only``:
seeds 1 and 2 trained to convergence took 831 s of CPU time, as seed 1's plain model and seed
2's attention model ran to ``MAX_EPOCHS`` (``--early-only`` gives the same 5-epoch scores in
about 2 minutes). ``seq2seq_beam.json`` comes from ``--beam`` (937 s of CPU time, 13 min on
two shared cores): seeds 1 and 2 retrained to convergence, their greedy scores after
``EARLY_EPOCHS`` epochs and converged checked equal to ``seq2seq_seeds.json``'s, and beam
search (``beam_metrics``) run on all twelve models. ``--beam --early-only`` (130 s of CPU time)
retrains seeds 1 and 2 for ``EARLY_EPOCHS`` epochs only and searches every 5-epoch model and
seed 0's converged ones.

Every model starts from ``keras.utils.set_random_seed(SEED)``; ``fit`` shuffles with
TensorFlow's seeded generator, so a rerun on the same machine gives the same bits. The weights
after the first ``START_BATCHES`` batches are stored too: ``tests/test_attention.py`` re-runs
those batches and checks they still reproduce them, which catches a changed recipe, data set or
library version.

Protocol: ``N_TRAIN`` training pairs, ``N_VAL`` validation and ``N_TEST`` test pairs from
``rnnbook.data.date_pairs(..., rng=DATA_SEED)``, consecutive parts of one draw, so no day is in
two parts. Teacher forcing: the decoder reads the start marker and the first nine target
characters and is trained to write the ten target characters (cross-entropy on the logits).
Adam with learning rate ``LR``, mini-batches of ``BATCH``, at most ``MAX_EPOCHS`` epochs,
stopped when the validation loss has not improved for ``PATIENCE`` epochs, keeping the best
weights. The test part is not touched.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = "seq2seq_weights.npz"   # in rnnbook/stored_files, written by rnnbook.save_stored

N_TRAIN, N_VAL, N_TEST, DATA_SEED = 10_000, 1_000, 2_000, 16
SOURCE_LEN, TARGET_LEN = 28, 10         # longest source ("Wednesday, 24 September 2031"); ISO
EMBED, UNITS, BATCH, LR = 16, 64, 64, 3e-3
MAX_EPOCHS, PATIENCE, SEED = 60, 4, 0
START_BATCHES = 20                      # the stored start: weights after this many batches
EARLY_EPOCHS = 5                        # also stored: the weights after this many epochs
KINDS = ("plain", "attention")
SEEDS = (0, 1, 2)        # model seeds of the equal-budget comparison; SEED's weights are stored
SEEDS_FILE = "seq2seq_seeds.json"
BEAM_FILE = "seq2seq_beam.json"   # --beam: beam search against greedy decoding, every seed
BEAM_WIDTHS = (1, 3, 5)           # width 1 is greedy decoding


def vocabularies() -> tuple[dict, dict, int]:
    """Source ids (0 is padding), target ids (0..10) and the start marker's id (11)."""
    from rnnbook.data import DATE_SOURCE_CHARS, DATE_TARGET_CHARS

    source_ids = {c: i + 1 for i, c in enumerate(DATE_SOURCE_CHARS)}
    target_ids = {c: i for i, c in enumerate(DATE_TARGET_CHARS)}
    return source_ids, target_ids, len(DATE_TARGET_CHARS)


def encode(sources, targets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Character ids: sources (n, SOURCE_LEN) right-padded with 0, decoder inputs (start
    marker, then the target shifted right by one) and targets, both (n, TARGET_LEN); int32."""
    source_ids, target_ids, start = vocabularies()
    x = np.zeros((len(sources), SOURCE_LEN), np.int32)
    for i, s in enumerate(sources):
        x[i, :len(s)] = [source_ids[c] for c in s]
    y = np.array([[target_ids[c] for c in t] for t in targets], np.int32)
    y_in = np.concatenate([np.full((len(y), 1), start, np.int32), y[:, :-1]], axis=1)
    return x, y_in, y


def prepare() -> dict:
    """The three parts, each ``(x, y_in, y, pairs)``, from one seeded draw of distinct days."""
    from rnnbook.data import DatePairs, date_pairs

    pairs = date_pairs(N_TRAIN + N_VAL + N_TEST, rng=DATA_SEED)
    cuts = {"train": slice(0, N_TRAIN), "val": slice(N_TRAIN, N_TRAIN + N_VAL),
            "test": slice(N_TRAIN + N_VAL, None)}
    out = {}
    for name, part in cuts.items():
        sub = DatePairs(pairs.source[part], pairs.target[part], pairs.format[part])
        out[name] = (*encode(sub.source, sub.target), sub)
    return out


def build(attention: bool, seed: int = SEED):
    """The encoder-decoder, seeded and compiled; with ``attention`` the decoder's states
    attend (dot product) to the encoder's and the output layer reads both."""
    import keras

    source_ids, _, start = vocabularies()
    keras.utils.set_random_seed(seed)
    source = keras.Input((SOURCE_LEN,), dtype="int32", name="source")
    previous = keras.Input((TARGET_LEN,), dtype="int32", name="previous")
    e = keras.layers.Embedding(len(source_ids) + 1, EMBED, mask_zero=True,
                               name="source_embedding")(source)
    states, final = keras.layers.GRU(UNITS, return_sequences=True, return_state=True,
                                     name="encoder")(e)
    d = keras.layers.Embedding(start + 1, EMBED, name="target_embedding")(previous)
    s = keras.layers.GRU(UNITS, return_sequences=True, name="decoder")(
        d, initial_state=final)
    if attention:
        context = keras.layers.Attention(name="attention")([s, states])
        s = keras.layers.Concatenate(name="concatenate")([s, context])
    logits = keras.layers.Dense(start, name="output")(s)
    model = keras.Model([source, previous], logits)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LR),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def train(kind: str, epochs: int = MAX_EPOCHS, data: dict | None = None,
          stop_after_start: bool = False, seed: int = SEED):
    """Train one model; return (model, history dict, weights after START_BATCHES batches,
    the running training loss at that point, weights after EARLY_EPOCHS epochs).
    ``stop_after_start`` stops after START_BATCHES batches (for tests)."""
    import keras

    data = prepare() if data is None else data
    (x, y_in, y, _), (xv, yv_in, yv, _) = data["train"], data["val"]
    model = build(kind == "attention", seed)
    start, start_loss, early = [], [], []

    class Start(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if not start and batch == START_BATCHES - 1:
                start.extend(w.copy() for w in self.model.get_weights())
                start_loss.append(float(logs["loss"]))
                if stop_after_start:
                    self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if epoch == EARLY_EPOCHS - 1:
                early.extend(w.copy() for w in self.model.get_weights())

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE,
                                         restore_best_weights=True)
    history = model.fit([x, y_in], y, epochs=epochs, batch_size=BATCH, verbose=0,
                        validation_data=([xv, yv_in], yv),
                        callbacks=[Start()] if stop_after_start else [Start(), stop])
    return model, history.history, start, start_loss[0], early


def greedy(model, x: np.ndarray) -> np.ndarray:
    """Greedy decoding with the Keras model, as chapter 16's ``keras_greedy``: ids (n, T_y)."""
    _, _, start = vocabularies()
    y_in = np.full((len(x), TARGET_LEN), start, np.int32)
    for t in range(TARGET_LEN):
        logits = model.predict([x, y_in], verbose=0, batch_size=1000)
        if t + 1 < TARGET_LEN:
            y_in[:, t + 1] = logits[:, t].argmax(axis=-1)
    return np.concatenate([y_in[:, 1:], logits[:, -1:].argmax(axis=-1)], axis=1)


def seed_metrics(kind: str, weights: list, data: dict, seed: int,
                 beam: bool = False) -> dict:
    """Chapter 16's scores of one model, decoded greedily: exact match and per-character
    accuracy on the test dates, the indices of the wrong test dates, and the exact match on
    the training dates written 'month 1st, year'. With ``beam``, also ``"beam"``:
    beam_metrics of the model on the test dates."""
    model = build(kind == "attention", seed)
    model.set_weights(weights)
    x, _, y, _ = data["test"]
    ids = greedy(model, x)
    right = ids == y
    x_train, _, y_train, pairs = data["train"]
    first = [i for i, s in enumerate(pairs.source) if " 1st," in s]
    out = {"exact": float(right.all(axis=1).mean()), "per_char": float(right.mean()),
           "wrong": [int(i) for i in np.flatnonzero(~right.all(axis=1))],
           "train_1st_exact": float((greedy(model, x_train[first]) ==
                                     y_train[first]).all(axis=1).mean())}
    if beam:
        out["beam"] = beam_metrics(model, x, y, ids)
    return out


def numpy_decoder(model, x: np.ndarray, k: int = 1):
    """Chapter 16's NumPy decoder of a trained model for the sources x (n, SOURCE_LEN):
    ``(step, final)``, with ``step(tokens, s) -> (probabilities, s)`` over n k rows (each
    source's encoder states repeated k times, for beam search) and ``final`` (n, H) the
    encoder's final states, the decoder's initial state."""
    from rnnbook import dense_forward, dot_attention, from_keras, gru_forward, gru_step, softmax

    mask = x != 0
    embed = model.get_layer("source_embedding").get_weights()[0]
    states = gru_forward(embed[x], **from_keras(model.get_layer("encoder")), mask=mask)
    final = states[:, -1]               # masked steps carry the state: the final one
    states, mask = np.repeat(states, k, axis=0), np.repeat(mask, k, axis=0)
    target_embed = model.get_layer("target_embedding").get_weights()[0]
    gru = from_keras(model.get_layer("decoder"))
    out = from_keras(model.get_layer("output"))
    attend = "attention" in [layer.name for layer in model.layers]

    def step(tokens, s):
        s = gru_step(target_embed[tokens], s, **gru)
        features = s
        if attend:
            c, _ = dot_attention(s[:, None], states, value_mask=mask)
            features = np.concatenate([s, c[:, 0]], axis=-1)
        return softmax(dense_forward(features, **out)), s
    return step, final


def sequence_log_prob(model, x: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """log P(ids | x) = sum_t log p(y_t | y_<t, x) under the NumPy decoder (n,)."""
    _, _, start = vocabularies()
    step, s = numpy_decoder(model, x)
    previous, total = np.full(len(ids), start), np.zeros(len(ids))
    for t in range(TARGET_LEN):
        probs, s = step(previous, s)
        total += np.log(probs[np.arange(len(ids)), ids[:, t]].astype(np.float64))
        previous = ids[:, t]
    return total


def beam_metrics(model, x: np.ndarray, y: np.ndarray, greedy_ids: np.ndarray) -> dict:
    """Beam search (rnnbook.beam_search, plain summed log P) against greedy decoding on the
    test dates, for every width in BEAM_WIDTHS, as chapter 16's beam section: exact match,
    mean log P of the outputs, search errors (wrong outputs the model scores below the true
    date), dates whose output became more / less probable than greedy decoding's (by more
    than 1e-9), dates right only with the beam / only with greedy decoding, and the indices
    of the dates it writes differently from greedy decoding. ``greedy_ids``: the Keras
    greedy outputs; ``width1_differs`` counts the dates where width 1 does not equal them."""
    from rnnbook import beam_search

    _, _, start = vocabularies()
    truth_log_p = sequence_log_prob(model, x, y)
    greedy_right = (greedy_ids == y).all(axis=1)
    out = {}
    for k in BEAM_WIDTHS:
        step, final = numpy_decoder(model, x, k)
        result = beam_search(step, final, beam_width=k, max_length=TARGET_LEN,
                             end_token=None, start_token=start)
        ids, lp = result.tokens[:, 0], result.log_prob[:, 0]
        if k == 1:
            greedy_log_p = lp
            width1_differs = int((ids != greedy_ids).any(axis=1).sum())
        right = (ids == y).all(axis=1)
        out[str(k)] = {
            "exact": float(right.mean()), "mean_log_p": float(lp.mean()),
            "search_errors": int(np.sum(~right & (truth_log_p > lp))),
            "up": int(np.sum(lp > greedy_log_p + 1e-9)),
            "down": int(np.sum(lp < greedy_log_p - 1e-9)),
            "only_beam": int(np.sum(right & ~greedy_right)),
            "only_greedy": int(np.sum(~right & greedy_right)),
            "differs": [int(i) for i in np.flatnonzero((ids != greedy_ids).any(axis=1))]}
    out["width1_differs"] = width1_differs
    return out


def train_seeds(data: dict, seed_weights: dict, converged: bool = True,
                beam: bool = False) -> dict:
    """Chapter 16's comparison from every seed in SEEDS: for each kind the weights after
    EARLY_EPOCHS epochs (``run[kind]``) and, with ``converged``, at the best epoch of a full
    run (``run[kind + "_converged"]``), scored by seed_metrics. ``seed_weights[kind, stage]``
    (stage "early" or "final"): SEED's weights, from the full run or the stored file, not
    trained again. Without ``converged`` the other seeds train for EARLY_EPOCHS epochs only
    (SEED's converged weights, stored, are still scored when ``beam``). With ``beam`` every
    score also holds ``"beam"`` (seed_metrics)."""
    import keras

    runs = []
    for seed in SEEDS:
        run = {"seed": seed}
        for kind in KINDS:
            began, cpu = time.perf_counter(), time.process_time()
            if seed == SEED:
                early, final = seed_weights[kind, "early"], seed_weights[kind, "final"]
                history = None
            elif converged:
                model, history, _, _, early = train(kind, data=data, seed=seed)
                final = model.get_weights()
            else:
                *_, early = train(kind, epochs=EARLY_EPOCHS, data=data, seed=seed)
            run[kind] = seed_metrics(kind, early, data, seed, beam)
            print(f"seed {seed} {kind:9s} after {EARLY_EPOCHS} epochs: test exact match "
                  f"{run[kind]['exact']:.4f}, {time.perf_counter() - began:.0f} s, "
                  f"{time.process_time() - cpu:.0f} s CPU", flush=True)
            if converged or (beam and seed == SEED):
                run[f"{kind}_converged"] = seed_metrics(kind, final, data, seed, beam)
                if history is not None:
                    run[f"{kind}_converged"].update(
                        epochs=len(history["loss"]),
                        best_epoch=int(np.argmin(history["val_loss"])) + 1)
            if f"{kind}_converged" in run:
                print(f"seed {seed} {kind:9s} converged: test exact match "
                      f"{run[f'{kind}_converged']['exact']:.4f}", flush=True)
        runs.append(run)
    about = (f"Chapter 16's two models after {EARLY_EPOCHS} epochs from each seed in "
             "SEEDS (data and recipe fixed; the seed sets the initial weights and the "
             "order of the mini-batches), decoded greedily. wrong: indices of the "
             "wrong test dates.")
    if converged:
        about += (" *_converged: the same runs at their best epoch (early stopping); "
                  f"seed {SEED}'s epochs are in {WEIGHTS}.")
    return {"about": about, "early_epochs": EARLY_EPOCHS, "keras_version": keras.__version__,
            "seeds": runs}


def main() -> None:
    from rnnbook.stored import OUT_HELP

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    parser.add_argument("--seeds-only", action="store_true",
                        help=f"only write {SEEDS_FILE}: take seed {SEED}'s weights from the "
                             f"stored {WEIGHTS} and train the other seeds")
    parser.add_argument("--early-only", action="store_true",
                        help=f"train the other seeds for {EARLY_EPOCHS} epochs only (no "
                             "converged comparison)")
    parser.add_argument("--beam", action="store_true",
                        help=f"only write {BEAM_FILE}: as --seeds-only, with beam search, "
                             f"after checking that the greedy scores equal {SEEDS_FILE}'s")
    args = parser.parse_args()

    import rnnbook

    rnnbook.setup(seed=SEED)
    import keras

    stored = {"units": np.int64(UNITS), "seed": np.int64(SEED),
              "keras_version": np.array(keras.__version__)}
    data = prepare()
    if args.beam:
        return _write(args.out, BEAM_FILE, beam_seeds(train_seeds(
            data, _stages(rnnbook.load_stored(WEIGHTS)), not args.early_only, beam=True)))
    if args.seeds_only:
        return _write(args.out, SEEDS_FILE, train_seeds(
            data, _stages(rnnbook.load_stored(WEIGHTS)), not args.early_only))
    for kind in KINDS:
        began = time.perf_counter()
        model, history, start, start_loss, early = train(kind, data=data)
        best = int(np.argmin(history["val_loss"])) + 1
        for i, w in enumerate(model.get_weights()):
            stored[f"{kind}__final__{i}"] = w
        for i, w in enumerate(start):
            stored[f"{kind}__start__{i}"] = w
        for i, w in enumerate(early):
            stored[f"{kind}__early__{i}"] = w
        stored[f"{kind}__start_loss"] = np.float64(start_loss)
        for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
            stored[f"{kind}__{key}"] = np.array(history[key])
        stored[f"{kind}__best_epoch"] = np.int64(best)
        print(f"{kind:10s} {len(history['loss']):3d} epochs, best {best:3d}, val loss "
              f"{min(history['val_loss']):.4f}, val accuracy "
              f"{history['val_accuracy'][best - 1]:.4f}, {time.perf_counter() - began:.0f} s",
              flush=True)
    out = rnnbook.save_stored(WEIGHTS, stored, out=args.out)   # + SHA256SUMS unless --out
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")
    _write(args.out, SEEDS_FILE, train_seeds(data, _stages(stored), not args.early_only))


def beam_seeds(result: dict) -> dict:
    """The beam scores of train_seeds(..., beam=True), after checking that its greedy
    scores are those stored in SEEDS_FILE (the runs reproduce the stored models)."""
    import rnnbook

    stored = {run["seed"]: run for run in rnnbook.load_stored(SEEDS_FILE)["seeds"]}
    runs = []
    for run in result["seeds"]:
        beams = {"seed": run["seed"]}
        for key, score in run.items():
            if key == "seed":
                continue
            beams[key] = score.pop("beam")
            if score != {k: stored[run["seed"]][key][k] for k in score}:
                raise SystemExit(f"seed {run['seed']} {key}: the greedy scores differ from "
                                 f"{SEEDS_FILE}'s; the rerun did not reproduce the model")
        runs.append(beams)
    return {"about": (
        "Beam search (rnnbook.beam_search, summed log P, no length penalty) against greedy "
        f"decoding of chapter 16's models on the {N_TEST} test dates, for each seed in SEEDS: "
        f"the models after {EARLY_EPOCHS} epochs and, where present, converged (*_converged), "
        f"the same runs as {SEEDS_FILE}, whose greedy scores they reproduce. For each beam "
        "width: exact match, mean log P of the outputs, search errors (wrong outputs whose "
        "true date has higher log P), outputs more (up) and less (down) probable than "
        "greedy decoding's, dates right only with the beam / only greedily, and the indices "
        "of the dates written differently from greedy decoding. width1_differs: dates where "
        "width 1 (NumPy) differs from the Keras greedy output."),
        "widths": list(BEAM_WIDTHS), "keras_version": result["keras_version"],
        "seeds": runs}


def _stages(stored) -> dict:
    """{(kind, stage): weights} for the stages "early" and "final" of stored weights."""
    return {(kind, stage): [stored[f"{kind}__{stage}__{i}"] for i in
                            range(len(build(kind == "attention").get_weights()))]
            for kind in KINDS for stage in ("early", "final")}


def _write(out: Path | None, name: str, data) -> None:
    """Store ``data`` as ``name`` with rnnbook.save_stored, or beside ``out`` if given."""
    import rnnbook

    path = rnnbook.save_stored(name, data, out=None if out is None else out.with_name(name))
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    sys.exit(main())
