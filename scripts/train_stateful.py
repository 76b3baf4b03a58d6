#!/usr/bin/env python3
"""Chapter 17's experiment: a stateful LSTM on one long stream of names, against windows.

Chapter 17 (book/applications/17_stateful_tbptt.ipynb) asks what carrying the state across
the windows of truncated BPTT buys. The data are chapter 15's names (the same seeded
80/10/10 split, ``train_char_model.split_words``), written one after another as one long
stream, ``.anna.bob.carl.``, so that a window of ``kappa`` characters usually starts in the
middle of a name. Two models with the same layers, ``Embedding(27, 16) -> LSTM(64) ->
Dense(27)``, are trained on the same batches in the same order (``rnnbook.stateful_batches``:
``BATCH`` rows read in parallel, windows of ``kappa`` steps, ``shuffle=False``):

* ``stateful``: ``LSTM(stateful=True)``; each batch starts from the state the previous batch
  ended in (truncated BPTT, states reset at the start of every epoch);
* ``windows``: an ordinary LSTM; every window starts from zeros (independent windows).

Each model is trained with Adam (learning rate ``LR``) for at most ``MAX_EPOCHS * kappa / 8``
epochs (a longer window gives fewer batches per epoch: the same number of updates at most),
stopped when the validation NLL has not improved for ``PATIENCE`` epochs, keeping the best
weights; the validation and test NLLs are computed in NumPy with ``rnnbook.lstm_forward``
(Keras's own ``evaluate`` would move the stateful layer's state). Every model is scored on
the test stream both ways: ``carried`` (the state carried over the whole stream) and
``reset`` (every window of ``kappa`` characters from zeros). Stored, for every ``kappa`` in
``KAPPAS``, seed in ``SEEDS`` and model: the epochs, the validation NLL history, the test NLL
per character, the NLL per position in the window, and each test name's summed NLL and
number of characters (for paired intervals over names), in ``stateful_results.json``.

    .venv/bin/python scripts/train_stateful.py          # about 4 minutes of CPU time

Measured: 250 s of CPU time (13 minutes of wall time on two busy shared cores), 0.8 GB of memory.

The random seed sets the initial weights (``keras.utils.set_random_seed``); batches are not
shuffled, so a rerun on the same machine gives the same numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

RESULTS = "stateful_results.json"   # in rnnbook/stored_files, written by rnnbook.save_stored
EMBED, UNITS, BATCH, LR = 16, 64, 32, 3e-3
MAX_EPOCHS, PATIENCE = 40, 4    # MAX_EPOCHS for kappa = 8; kappa / 8 times as many for longer
KAPPAS = (8, 32)
SEEDS = (0, 1, 2)
MODES = ("stateful", "windows")


def streams() -> dict:
    """Each part of chapter 15's split as one stream of token ids: ``.name.name. ... .``."""
    from train_char_model import split_words

    from rnnbook.sampling import char_vocabulary

    words = split_words()
    vocabulary = char_vocabulary(np.concatenate(list(words.values())))
    index = {ch: i for i, ch in enumerate(vocabulary)}
    out = {"vocabulary": vocabulary}
    for part, ws in words.items():
        text = "." + ".".join(ws) + "."
        out[part] = np.array([index[ch] for ch in text], dtype=np.int32)
    return out


def build(kappa: int, stateful: bool, vocabulary_size: int, seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    shape = {"batch_shape": (BATCH, kappa)} if stateful else {"shape": (kappa,)}
    model = keras.Sequential([
        keras.Input(dtype="int32", **shape),
        keras.layers.Embedding(vocabulary_size, EMBED),
        keras.layers.LSTM(UNITS, return_sequences=True, stateful=stateful),
        keras.layers.Dense(vocabulary_size),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LR),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def token_nll(weights: list, stream: np.ndarray, kappa: int | None) -> np.ndarray:
    """-log P of every next token of ``stream`` under the model, in NumPy.

    ``kappa=None``: the state carried over the whole stream; otherwise the stream is cut into
    windows of ``kappa`` inputs, each run from zero states (the last one may be shorter).
    """
    from rnnbook import lstm_forward

    A, kernel, recurrent, bias, W_y, b_y = (np.asarray(w, np.float64) for w in weights)
    x, y = stream[:-1], stream[1:]
    pieces = [x] if kappa is None else [x[i:i + kappa] for i in range(0, len(x), kappa)]
    nll = []
    full = [p for p in pieces if len(p) == len(pieces[0])]
    rest = pieces[len(full):]
    for group in (full, rest):
        if not group:
            continue
        H, _ = lstm_forward(A[np.stack(group)], kernel.T, recurrent.T, bias)
        logits = H @ W_y + b_y
        logits -= logits.max(axis=-1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        nll.append(logp.reshape(-1, logp.shape[-1]))
    logp = np.concatenate(nll)
    return -logp[np.arange(len(y)), y]


def train(kappa: int, mode: str, data: dict, seed: int) -> tuple[list, dict]:
    import keras

    from rnnbook import stateful_batches

    stateful = mode == "stateful"
    model = build(kappa, stateful, len(data["vocabulary"]), seed)
    train_stream = data["train"]
    x = stateful_batches(train_stream[:-1], BATCH, kappa).reshape(-1, kappa)
    y = stateful_batches(train_stream[1:], BATCH, kappa).reshape(-1, kappa)
    lstm = model.layers[1]
    best, best_weights, history, wait = np.inf, None, [], 0
    for epoch in range(MAX_EPOCHS * kappa // 8):
        if stateful:
            lstm.reset_state()                       # a new pass over the stream
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        weights = model.get_weights()
        val = float(token_nll(weights, data["val"], None if stateful else kappa).mean())
        history.append(val)
        if val < best:
            best, best_weights, wait = val, weights, 0
        else:
            wait += 1
            if wait >= PATIENCE:
                break
    keras.backend.clear_session()
    return best_weights, {"val_nll": history, "epochs": len(history),
                          "best_epoch": int(np.argmin(history)) + 1}


def scores(weights: list, stream: np.ndarray, kappa: int) -> dict:
    """Test NLL per character, per position in the window, and per name, both ways."""
    y = stream[1:]
    name = np.concatenate([[0], np.cumsum(y == 0)[:-1]])     # the name each target ends in
    out = {}
    for way, k in (("carried", None), ("reset", kappa)):
        nll = token_nll(weights, stream, k)
        position = np.arange(len(y)) % kappa
        out[way] = {"nll": float(nll.mean()),
                    "by_position": [float(nll[position == p].mean()) for p in range(kappa)],
                    "name_nll": np.bincount(name, weights=nll).round(6).tolist()}
    out["name_chars"] = np.bincount(name).tolist()
    return out


def main() -> None:
    from rnnbook.stored import OUT_HELP

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    args = parser.parse_args()

    import rnnbook

    rnnbook.setup(seed=0)
    import keras

    data = streams()
    runs = []
    for kappa in KAPPAS:
        for seed in SEEDS:
            for mode in MODES:
                began = time.process_time()
                weights, history = train(kappa, mode, data, seed)
                result = scores(weights, data["test"], kappa)
                runs.append({"kappa": kappa, "seed": seed, "model": mode, **history,
                             "test": result, "cpu_s": round(time.process_time() - began, 1)})
                print(f"kappa {kappa} seed {seed} {mode:8s}: {history['epochs']} epochs, "
                      f"best {history['best_epoch']}, test carried "
                      f"{result['carried']['nll']:.4f} reset {result['reset']['nll']:.4f}, "
                      f"{runs[-1]['cpu_s']:.0f} s CPU", flush=True)
    results = {"about": "Chapter 17: LSTM(64) on chapter 15's names written as one stream; "
                        "'stateful' carries the state across windows of kappa characters "
                        "(truncated BPTT), 'windows' starts every window from zeros. test."
                        "carried / test.reset: scored with the state carried over the whole "
                        "test stream / reset at every window. name_nll: summed -log P of each "
                        "test name's characters and end marker; name_chars: their number.",
               "batch": BATCH, "units": UNITS, "embed": EMBED, "lr": LR,
               "max_epochs": MAX_EPOCHS, "patience": PATIENCE,
               "keras_version": keras.__version__, "runs": runs}
    out = rnnbook.save_stored(RESULTS, results, out=args.out)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    sys.exit(main())
