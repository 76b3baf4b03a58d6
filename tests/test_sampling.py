"""Specification of rnnbook.sampling (temperature, sampling, the NumPy character model), of the
first-names corpus loader, and of the stored weights of chapter 15, which
scripts/train_char_model.py trains.

The stored weights are checked by re-running the script's first epoch (130 Adam steps); it
reproduces the stored start to 0.0 on the machine that trained them, and START_ATOL leaves room
for another CPU's rounding.
"""


import keras
import numpy as np
import pytest

import rnnbook
from rnnbook.data import load_first_names
from rnnbook.sampling import (MARKER, apply_temperature, char_initial_state,
                              char_model_from_keras, char_step, char_vocabulary, decode,
                              encode_words, generate, sample_categorical)
from script_loader import load_script   # tests/script_loader.py

START_ATOL = 1e-4


# --- apply_temperature ---------------------------------------------------------------------------

def test_temperature_one_is_the_identity_on_normalised_rows(rng):
    p = rng.dirichlet(np.ones(7), size=5)
    p[0, 3] = 0.0
    p[0] /= p[0].sum()
    np.testing.assert_allclose(apply_temperature(p, 1.0), p, rtol=1e-12, atol=0)
    np.testing.assert_allclose(apply_temperature(p[1], 1), p[1], rtol=1e-12)     # 1-D


def test_rows_need_not_sum_to_one():
    w = np.array([[1.0, 3.0, 0.0], [2.0, 2.0, 4.0]])
    np.testing.assert_allclose(apply_temperature(w, 1.0), w / w.sum(1, keepdims=True))
    np.testing.assert_allclose(apply_temperature(w, 0.5),
                               [[0.1, 0.9, 0.0], [1 / 6, 1 / 6, 4 / 6]])   # squares, renormalised


def test_definition_and_softmax_of_scaled_logits(rng):
    logits = rng.normal(size=(4, 6))
    p = rnnbook.softmax(logits)
    for T in (0.3, 1.7, 25.0):
        expected = p ** (1 / T) / np.sum(p ** (1 / T), axis=1, keepdims=True)
        np.testing.assert_allclose(apply_temperature(p, T), expected, rtol=1e-10)
        np.testing.assert_allclose(apply_temperature(p, T), rnnbook.softmax(logits / T),
                                   rtol=1e-10)


def test_small_temperature_approaches_one_hot_and_large_approaches_uniform():
    p = np.array([[0.1, 0.6, 0.3, 0.0], [0.45, 0.1, 0.45, 0.0]])
    cold = apply_temperature(p, 1e-3)            # p^1000 would underflow without logs
    np.testing.assert_allclose(cold, [[0, 1, 0, 0], [0.5, 0, 0.5, 0]], atol=1e-12)
    assert apply_temperature(p, 0.05)[0, 1] > apply_temperature(p, 0.5)[0, 1] > 0.6
    hot = apply_temperature(p, 1e6)
    np.testing.assert_allclose(hot, [[1 / 3, 1 / 3, 1 / 3, 0]] * 2, atol=1e-5)
    assert np.all(hot[:, 3] == 0.0)              # a zero stays zero at any temperature


@pytest.mark.parametrize("T", [0, -1.0, np.nan, np.inf, "warm", None])
def test_temperature_must_be_a_finite_positive_number(T):
    with pytest.raises(ValueError, match="temperature must be"):
        apply_temperature(np.ones((2, 3)), T)


@pytest.mark.parametrize("probs, message", [
    ([[0.5, np.nan, 0.5]], r"probs contains NaN \(shape \(1, 3\)\)"),
    ([[0.5, np.inf]], r"probs contains infinite"),
    ([[0.5, -0.1, 0.6]], r"probs contains negative entries \(shape \(1, 3\)"),
    ([[0.5, 0.5], [0.0, 0.0]], r"probs has a row of zeros \(row 1 of shape \(2, 2\)\)"),
    (np.ones((2, 2, 2)), r"probs must have shape \(rows, K\) or \(K,\); got shape \(2, 2, 2\)"),
])
def test_bad_probabilities_are_refused(probs, message):
    with pytest.raises(ValueError, match=message):
        apply_temperature(probs, 1.0)


# --- sampling --------------------------------------------------------------------------------------

def test_sample_categorical_inverts_the_cdf_with_one_uniform_per_row():
    p = np.array([[0.2, 0.5, 0.3]] * 4)
    u = np.random.default_rng(3).random(4)
    expected = np.searchsorted(np.cumsum(p[0]), u, side="right")
    np.testing.assert_array_equal(sample_categorical(p, np.random.default_rng(3)), expected)
    draws = sample_categorical(np.tile([[1.0, 0.0, 3.0]], (20000, 1)), np.random.default_rng(0))
    assert not np.any(draws == 1)
    assert abs(np.mean(draws == 2) - 0.75) < 0.02
    with pytest.raises(TypeError, match="np.random.Generator"):
        sample_categorical(p, 0)


def test_generate_stops_at_the_marker_and_follows_the_step():
    # a "model" that spells a, b, then the end marker, whatever the random numbers
    def step(tokens, state):
        probs = np.zeros((len(tokens), 4))
        probs[np.arange(len(tokens)), [(1, 2, 0)[min(state, 2)]] * len(tokens)] = 1.0
        return probs, state + 1
    out = generate(step, 0, n=3, max_length=10, rng=np.random.default_rng(0))
    assert out == [[1, 2]] * 3
    assert generate(step, 0, n=2, max_length=1, rng=np.random.default_rng(0)) == [[1]] * 2


# --- vocabulary and encoding -----------------------------------------------------------------------

def test_encoding_for_teacher_forcing():
    vocab = char_vocabulary(["ab", "ca"])
    assert vocab == MARKER + "abc"
    x, y, w = encode_words(["ab", "c"], vocab)
    np.testing.assert_array_equal(x, [[0, 1, 2], [0, 3, 0]])      # . a b | . c (pad)
    np.testing.assert_array_equal(y, [[1, 2, 0], [3, 0, 0]])      # a b . | c . (pad)
    np.testing.assert_array_equal(w, [[1, 1, 1], [1, 1, 0]])
    assert x.dtype == y.dtype == np.int32 and w.dtype == np.float32
    assert decode(y[0], vocab) == "ab" and decode([3, 0, 1], vocab) == "c"
    with pytest.raises(ValueError, match="not in the vocabulary: 'z'"):
        encode_words(["az"], vocab)
    with pytest.raises(ValueError, match="contains the marker"):
        char_vocabulary(["a.b"])


# --- the NumPy character model against Keras -------------------------------------------------------

@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_char_step_carries_the_state_and_matches_keras(cell, keras_seed):
    model = keras.Sequential([keras.Input((None,), dtype="int32"),
                              keras.layers.Embedding(5, 3),
                              getattr(keras.layers, cell)(4, return_sequences=True),
                              keras.layers.Dense(5)])
    x = np.array([[0, 1, 2, 3, 4, 1], [0, 4, 4, 2, 1, 3]], np.int32)
    expected = rnnbook.softmax(model.predict(x, verbose=0).astype(np.float64))
    cm = char_model_from_keras(model)
    state = char_initial_state(cm, 2)
    for t in range(x.shape[1]):
        probs, state = char_step(cm, x[:, t], state)
        np.testing.assert_allclose(probs, expected[:, t], atol=1e-6)


# --- the first-names corpus ------------------------------------------------------------------------

@pytest.mark.parametrize("sex, n", [("female", 4275), ("male", 1219), ("both", 5163)])
def test_first_names_offline_shape_and_dtype(no_network, sex, n):
    words = load_first_names(sex)
    assert words.shape == (n,) and words.dtype == np.dtype("<U11")
    assert list(words) == sorted(set(words))
    assert set("".join(words)) == set("abcdefghijklmnopqrstuvwxyz")
    assert {"mary", "james"} <= set(load_first_names("both"))
    with pytest.raises(ValueError, match="sex must be"):
        load_first_names("all")


# --- the stored weights of chapter 15 --------------------------------------------------------------

def _script():
    return load_script("scripts/train_char_model.py")


def test_first_epoch_of_the_script_reproduces_the_stored_start():
    script = _script()
    stored = rnnbook.load_stored(script.WEIGHTS)
    data = script.prepare()
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(data["words"][part], stored[f"{part}_words"])
    assert data["vocabulary"] == str(stored["vocabulary"])
    model, history, snapshots = script.train(epochs=1, data=data)
    assert len(snapshots[1]) == len(model.get_weights()) == 6
    for i, w in enumerate(snapshots[1]):
        np.testing.assert_allclose(w, stored[f"start__{i}"], atol=START_ATOL,
                                   err_msg=f"weight {i}")
    np.testing.assert_allclose(history["loss"][0], stored["loss"][0], rtol=1e-5)


def _stored_model(script, data):
    """The chapter's model with the stored final weights (char_model_weights.npz)."""
    stored = rnnbook.load_stored(script.WEIGHTS)
    model = script.build(len(data["vocabulary"]))
    model.set_weights([stored[f"final__{i}"] for i in range(6)])
    return model


def test_stored_seed_scores_belong_to_the_stored_model():
    """char_model_seeds.json lists every seed of the script, and its seed-0 scores are those
    of the stored weights (the model the chapter uses), recomputed by the script's code."""
    script = _script()
    runs = rnnbook.load_stored(script.SEEDS_FILE)["seeds"]
    assert [run["seed"] for run in runs] == list(script.SEEDS) and len(runs) >= 3
    data = script.prepare()
    model = _stored_model(script, data)
    again = script.seed_metrics(model, data)
    for key in ("name_nll_at_1.0", "name_nll_at_1.1", "name_nll_state_reset"):
        np.testing.assert_allclose(again[key], runs[0][key], atol=1e-5, err_msg=key)
        assert len(runs[0][key]) == len(data["words"]["test"])
    assert again["samples"] == runs[0]["samples"]
    for run in runs:                  # every run beats the bigram model's 2.34 nats/char
        assert 1.8 < run["test_nll"] < 2.2 < run["test_nll_state_reset"]


def test_stored_beam_names_belong_to_the_stored_model():
    """char_model_beam.json lists every seed of the script, its seed-0 names are those of the
    stored weights, searched again by the script, and every seed's counts are consistent."""
    script = _script()
    beams = rnnbook.load_stored(script.BEAM_FILE)["seeds"]
    assert [run["seed"] for run in beams] == list(script.SEEDS) and len(beams) >= 3
    data = script.prepare()
    model = _stored_model(script, data)
    again = script.beam_metrics(model, data)
    for k in script.BEAM_WIDTHS:
        assert again[str(k)]["names"] == beams[0][str(k)]["names"]
        np.testing.assert_allclose(again[str(k)]["log_p"], beams[0][str(k)]["log_p"],
                                   atol=1e-5)
    assert again["best_name"]["1"][0] == beams[0]["best_name"]["1"][0] == "marisel"
    for run in beams:
        assert run["width1_is_greedy"] and run["1"]["changed"] == 0
        for k in script.BEAM_WIDTHS:
            r = run[str(k)]
            assert len(r["names"]) == len(r["log_p"]) == 26
            assert r["more"] + r["less"] <= r["changed"]
            np.testing.assert_allclose(np.mean(r["log_p"]), r["mean_log_p"], atol=1e-6)
            assert all(name[0] == letter for name, letter in
                       zip(r["names"], "abcdefghijklmnopqrstuvwxyz"))
