"""Specification of rnnbook.attention, of rnnbook.data.date_pairs and of the stored weights of
chapter 16, which scripts/train_seq2seq.py trains.

dot_attention and additive_attention are compared with keras.layers.Attention and
AdditiveAttention (return_attention_scores=True) over several shapes, with and without keys,
scales, value and query masks and the causal mask; float32 agreement is about 1e-7, the
tolerance 1e-5. greedy_decode is checked on a toy decoder whose answer is known, and the stored
weights by re-running the script's first batches.
"""

import datetime
import re

import keras
import numpy as np
import pytest

import rnnbook
from rnnbook.attention import additive_attention, dot_attention, greedy_decode
from rnnbook.data import DATE_FORMATS, DATE_SOURCE_CHARS, DATE_TARGET_CHARS, date_pairs
from script_loader import load_script   # tests/script_loader.py

ATOL = 1e-5

# (batch, Tq, Tv, dim, dim_v, separate key)
SHAPES = [(1, 1, 1, 1, 1, False), (3, 4, 6, 5, 5, False), (2, 7, 3, 4, 6, True),
          (4, 1, 9, 8, 8, False), (2, 5, 5, 3, 2, True)]


def _inputs(rng, batch, tq, tv, dim, dim_v, with_key):
    q = rng.normal(size=(batch, tq, dim)).astype(np.float32)
    v = rng.normal(size=(batch, tv, dim_v)).astype(np.float32)
    k = rng.normal(size=(batch, tv, dim)).astype(np.float32) if with_key else None
    return q, v, k


def _value_mask(rng, batch, tv):
    """Random masks with at least one real step per sequence (the first, or a random one)."""
    mask = rng.random((batch, tv)) < 0.6
    mask[np.arange(batch), rng.integers(0, tv, size=batch)] = True
    mask[:, 0] |= rng.random(batch) < 0.5
    return mask


def _keras(layer, q, v, k, value_mask=None, query_mask=None, causal=False):
    inputs = [q, v] if k is None else [q, v, k]
    mask = None
    if value_mask is not None or query_mask is not None:
        mask = [query_mask, value_mask]
    out, w = layer(inputs, mask=mask, return_attention_scores=True, use_causal_mask=causal)
    return np.asarray(out), np.asarray(w)


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")   # Tv = 1
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("use_scale", [False, True])
def test_dot_attention_matches_keras(shape, use_scale, rng):
    q, v, k = _inputs(rng, *shape)
    layer = keras.layers.Attention(use_scale=use_scale)
    _keras(layer, q, v, k)                                   # builds the layer
    scale = None
    if use_scale:
        layer.scale.assign(0.37)
        scale = 0.37
    for value_mask, query_mask, causal in [(None, None, False),
                                           (_value_mask(rng, shape[0], shape[2]), None, False),
                                           (None, rng.random(shape[:2]) < 0.5, False),
                                           (None, None, True)]:
        if causal and shape[1] > shape[2]:
            continue
        ref_out, ref_w = _keras(layer, q, v, k, value_mask, query_mask, causal)
        out, w = dot_attention(q, v, k, scale=scale, value_mask=value_mask,
                               query_mask=query_mask, causal=causal)
        assert out.dtype == np.float32 and out.shape == ref_out.shape
        np.testing.assert_allclose(w, ref_w, atol=ATOL)
        np.testing.assert_allclose(out, ref_out, atol=ATOL)
        if value_mask is not None:
            assert np.all(w[np.broadcast_to(~value_mask[:, None, :], w.shape)] == 0)
        np.testing.assert_allclose(w.sum(-1), 1, atol=1e-6)


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")   # Tv = 1
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("use_scale", [True, False])
def test_additive_attention_matches_keras(shape, use_scale, rng):
    q, v, k = _inputs(rng, *shape)
    layer = keras.layers.AdditiveAttention(use_scale=use_scale)
    _keras(layer, q, v, k)
    scale = np.asarray(layer.scale) if use_scale else None
    value_mask = _value_mask(rng, shape[0], shape[2])
    query_mask = rng.random(shape[:2]) < 0.5
    for vm, qm in [(None, None), (value_mask, None), (value_mask, query_mask)]:
        ref_out, ref_w = _keras(layer, q, v, k, vm, qm)
        out, w = additive_attention(q, v, k, scale=scale, value_mask=vm, query_mask=qm)
        np.testing.assert_allclose(w, ref_w, atol=ATOL)
        np.testing.assert_allclose(out, ref_out, atol=ATOL)


def test_causal_and_value_masks_combined_match_keras(rng):
    q, v, _ = _inputs(rng, 3, 5, 5, 4, 4, False)
    value_mask = np.ones((3, 5), dtype=bool)
    value_mask[:, 3:] = False                                 # right padding
    ref_out, ref_w = _keras(keras.layers.Attention(), q, v, None, value_mask, None, True)
    out, w = dot_attention(q, v, value_mask=value_mask, causal=True)
    np.testing.assert_allclose(w, ref_w, atol=ATOL)
    np.testing.assert_allclose(out, ref_out, atol=ATOL)
    assert np.all(np.triu(w[0], 1) == 0)


def test_attention_by_hand():
    # one query, two values: scores 1 and 3 -> weights softmax([1, 3])
    q = np.array([[[1.0, 0.0]]])
    v = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    k = np.array([[[1.0, 5.0], [3.0, -1.0]]])
    out, w = dot_attention(q, v, k)
    a = np.exp([1.0, 3.0]) / np.exp([1.0, 3.0]).sum()
    np.testing.assert_allclose(w[0, 0], a, rtol=1e-12)
    np.testing.assert_allclose(out[0, 0], a @ v[0], rtol=1e-12)
    out2, w2 = dot_attention(q, v, k, scale=0.0)               # scale 0: plain average
    np.testing.assert_allclose(w2[0, 0], [0.5, 0.5])
    _, w3 = additive_attention(q, v, k)                       # tanh(1+1)+tanh(5), tanh(4)+tanh(-1)
    e = np.array([np.tanh(2) + np.tanh(5), np.tanh(4) + np.tanh(-1)])
    np.testing.assert_allclose(w3[0, 0], np.exp(e) / np.exp(e).sum(), rtol=1e-12)
    # masking the larger score leaves all weight on the other value, exactly
    out4, w4 = dot_attention(q, v, k, value_mask=[[True, False]])
    assert w4[0, 0].tolist() == [1.0, 0.0] and out4[0, 0].tolist() == [1.0, 2.0]


def test_attention_refuses_bad_arguments():
    q, v = np.zeros((2, 3, 4)), np.zeros((2, 5, 4))
    with pytest.raises(ValueError, match=r"query must have 3 dimensions.*\(3, 4\)"):
        dot_attention(q[0], v)
    with pytest.raises(ValueError, match=r"same batch size.*\(2, 3, 4\).*\(1, 5, 4\)"):
        dot_attention(q, v[:1])
    with pytest.raises(ValueError, match=r"same last dimension.*\(2, 3, 4\).*\(2, 5, 3\)"):
        dot_attention(q, np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"key and value.*Tv.*\(2, 4, 4\).*\(2, 5, 4\)"):
        additive_attention(q, v, np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"value_mask must have shape \(batch, Tv\) = \(2, 5\)"):
        dot_attention(q, v, value_mask=np.ones((2, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"query_mask must have shape \(batch, Tq\) = \(2, 3\)"):
        dot_attention(q, v, query_mask=np.ones((2, 5), dtype=bool))
    with pytest.raises(ValueError, match="value_mask must be boolean"):
        dot_attention(q, v, value_mask=np.full((2, 5), 0.5))
    with pytest.raises(ValueError, match="no value to attend to"):
        dot_attention(q, v, value_mask=np.array([[True] * 5, [False] * 5]))
    with pytest.raises(ValueError, match="causal=True leaves query 0"):
        dot_attention(q, v, value_mask=np.array([[False] + [True] * 4] * 2), causal=True)
    with pytest.raises(ValueError, match=r"scale must be a single number.*\(2,\)"):
        dot_attention(q, v, scale=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"scale must have shape \(dim,\) = \(4,\).*\(3,\)"):
        additive_attention(q, v, scale=np.ones(3))
    with pytest.raises(ValueError, match="query contains NaN"):
        dot_attention(np.full((2, 3, 4), np.nan), v)


# --- greedy_decode --------------------------------------------------------------------------------

def _counter_step(tokens, state):
    """A toy decoder over 5 tokens: the most probable next token is (previous + state) mod 5."""
    probs = np.full((len(tokens), 5), 0.1)
    probs[np.arange(len(tokens)), (tokens + state) % 5] = 0.6
    return probs, state


def test_greedy_decode_feeds_back_the_argmax():
    tokens, probs = greedy_decode(_counter_step, np.array([1, 2]), np.array([0, 0]), 4)
    assert tokens.tolist() == [[1, 2, 3, 4], [2, 4, 1, 3]]
    assert probs.shape == (2, 4, 5) and np.all(probs.max(-1) == 0.6)


def test_greedy_decode_stops_at_the_end_marker():
    tokens, probs = greedy_decode(_counter_step, np.array([1, 2]), np.array([0, 0]), 6, end=4)
    assert tokens.tolist() == [[1, 2, 3, 4, 4, 4], [2, 4, 4, 4, 4, 4]]
    assert np.isnan(probs[1, 2:]).all() and not np.isnan(probs[0, :4]).any()


def test_greedy_decode_refuses_bad_arguments():
    with pytest.raises(ValueError, match="steps must be a positive integer; got 0"):
        greedy_decode(_counter_step, 1, np.array([0]), 0)
    with pytest.raises(ValueError, match=r"start must be a 1-D array.*\(1, 2\)"):
        greedy_decode(_counter_step, 1, np.zeros((1, 2), dtype=int), 3)
    with pytest.raises(TypeError, match="step must be callable"):
        greedy_decode(None, 1, np.array([0]), 3)
    with pytest.raises(ValueError, match=r"scores of shape \(batch, V\) = \(2, V\).*\(5,\)"):
        greedy_decode(lambda t, s: (np.zeros(5), s), 1, np.array([0, 0]), 3)


# --- date_pairs -------------------------------------------------------------------------------------

def test_date_pairs_are_correct_and_reproducible():
    pairs = date_pairs(3000, rng=5)
    again = date_pairs(3000, rng=np.random.default_rng(5))
    assert pairs.source == again.source and pairs.target == again.target
    assert len(set(pairs.target)) == 3000                    # different days
    assert set("".join(pairs.source)) <= set(DATE_SOURCE_CHARS)
    assert set("".join(pairs.target)) <= set(DATE_TARGET_CHARS)
    assert max(map(len, pairs.source)) <= 28
    assert set(pairs.format.tolist()) == set(range(len(DATE_FORMATS)))
    parsers = {"7 March 2021": "%d %B %Y", "March 7, 2021": "%B %d, %Y",
               "Sunday, 7 March 2021": "%A, %d %B %Y", "Mar 7 2021": "%b %d %Y",
               "03/07/2021": "%m/%d/%Y", "7.3.2021": "%d.%m.%Y", "20210307": "%Y%m%d"}
    names = list(DATE_FORMATS)
    for src, tgt, f in zip(pairs.source, pairs.target, pairs.format):
        day = datetime.date.fromisoformat(tgt)
        assert 1950 <= day.year <= 2049
        name = names[f]
        if name in parsers:                                  # C locale: English names
            assert datetime.datetime.strptime(src, parsers[name]).date() == day, src
        elif name == "march 7th, 2021":                     # drop the ordinal suffix
            plain = re.sub(r"(\d+)(st|nd|rd|th),", r"\1,", src)
            assert datetime.datetime.strptime(plain, "%B %d, %Y").date() == day, src
            assert src.islower()
        else:                                                # 07-MAR-21
            assert src == day.strftime("%d-%b-%y").upper(), src
    assert DATE_FORMATS["march 7th, 2021"](datetime.date(2021, 3, 7)) == "march 7th, 2021"
    assert DATE_FORMATS["Sunday, 7 March 2021"](datetime.date(2021, 3, 7)) == \
        "Sunday, 7 March 2021"
    assert [DATE_FORMATS["march 7th, 2021"](datetime.date(2021, 1, d)).split(",")[0][8:]
            for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd"]


def test_date_pairs_refuses_bad_arguments():
    with pytest.raises(ValueError, match="at most the number of days.*3 days.*n = 4"):
        date_pairs(4, rng=0, first="2020-01-01", last="2020-01-03")
    with pytest.raises(ValueError, match="n must be a positive integer"):
        date_pairs(0, rng=0)


def test_public_names_are_exported():
    for name in ("dot_attention", "additive_attention", "greedy_decode"):
        assert getattr(rnnbook, name) is getattr(rnnbook.attention, name)


# --- the stored weights of chapter 16 -----------------------------------------------------------

def _script():
    return load_script("scripts/train_seq2seq.py")


def test_stored_data_match_the_script():
    script = _script()
    data = script.prepare()
    x, y_in, y, pairs = data["train"]
    assert x.shape == (script.N_TRAIN, script.SOURCE_LEN) and y.shape[1] == script.TARGET_LEN
    assert np.all(y_in[:, 0] == len(DATE_TARGET_CHARS)) and np.all(y_in[:, 1:] == y[:, :-1])
    assert not set(pairs.target) & set(data["test"][3].target)
    assert [len(data[p][0]) for p in ("val", "test")] == [script.N_VAL, script.N_TEST]
    stored = rnnbook.load_stored(script.WEIGHTS)
    for kind in script.KINDS:
        n = len(script.build(kind == "attention").get_weights())
        for stage in ("start", "early", "final"):
            assert f"{kind}__{stage}__{n - 1}" in stored and f"{kind}__{stage}__{n}" not in stored


@pytest.mark.parametrize("kind", ["plain", "attention"])
def test_first_batches_of_the_script_reproduce_the_stored_start(kind):
    """The script's first START_BATCHES mini-batches give the stored weights again."""
    script = _script()
    stored = rnnbook.load_stored(script.WEIGHTS)
    model, _, start, start_loss, _ = script.train(kind, epochs=1, stop_after_start=True)
    assert len(start) == len(model.get_weights()) > 0
    for i, w in enumerate(start):
        np.testing.assert_allclose(w, stored[f"{kind}__start__{i}"], atol=1e-5,
                                   err_msg=f"{kind} weight {i}")
    np.testing.assert_allclose(start_loss, stored[f"{kind}__start_loss"], rtol=1e-5)


def test_stored_seed_scores_belong_to_the_stored_models():
    """seq2seq_seeds.json lists every seed of the script, and the seed-0 scores of the
    attention model after EARLY_EPOCHS epochs are those of the stored weights, decoded again
    by the script. (Chapter 16 decodes all four stored seed-0 models again under nbval and
    compares them with these files: the wrong dates, the 'month 1st' scores and the beam
    search's results; so one model suffices here to tie the script to its files.)"""
    script = _script()
    runs = rnnbook.load_stored(script.SEEDS_FILE)["seeds"]
    assert [run["seed"] for run in runs] == list(script.SEEDS) and len(runs) >= 3
    stored = rnnbook.load_stored(script.WEIGHTS)
    data = script.prepare()
    beams = rnnbook.load_stored(script.BEAM_FILE)["seeds"]
    assert [run["seed"] for run in beams] == list(script.SEEDS)
    n = len(script.build(True).get_weights())
    early = [stored[f"attention__early__{i}"] for i in range(n)]
    again = script.seed_metrics("attention", early, data, script.SEED, beam=True)
    assert again.pop("beam") == beams[0]["attention"]           # seq2seq_beam.json, seed 0
    assert again == runs[0]["attention"]
    for kind in script.KINDS:
        for run, beam in zip(runs, beams):
            score = run[kind]
            assert len(score["wrong"]) == round((1 - score["exact"]) * script.N_TEST)
            _check_beam_scores(beam[kind], score, script)


def _check_beam_scores(beam: dict, score: dict, script) -> None:
    """One model's beam scores agree with its greedy ones and with each other."""
    greedy = beam[str(script.BEAM_WIDTHS[0])]
    assert script.BEAM_WIDTHS[0] == 1 and beam["width1_differs"] == 0
    assert greedy["exact"] == score["exact"] and greedy["differs"] == []
    for k in script.BEAM_WIDTHS:
        b = beam[str(k)]
        assert b["only_beam"] + b["only_greedy"] <= len(b["differs"])
        assert b["up"] + b["down"] <= len(b["differs"])
        assert b["exact"] * script.N_TEST == pytest.approx(
            greedy["exact"] * script.N_TEST + b["only_beam"] - b["only_greedy"])
