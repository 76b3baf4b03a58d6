"""Specification of rnnbook.beam: beam search over a next-token model step(tokens, state).

The model in most tests is a random fixed transition model over prefixes: every prefix (its
code carried in the state) gets its own next-token distribution, drawn once from a Dirichlet
distribution, so a hypothesis that continued from another hypothesis's state would get wrong
probabilities. On it beam search must

* equal exhaustive search (the same outputs in the same order, the same log-probabilities) when
  the beam is wide enough to hold every output, with and without an end token, minimum length and
  length penalty, for several seeds;
* equal a plain one-hypothesis-at-a-time implementation of the same rule for narrow beams;
* with beam width 1, equal rnnbook.greedy_decode;
* treat the end token as described: finished hypotheses stop growing and compete with the
  unfinished ones, and the search stops when all are finished;
* rank by log P / ((5 + |y|) / 6) ** alpha.

The same checks run on rnnbook's own char_step with a tiny random CharModel, and bad arguments
must be named in the error.
"""


import numpy as np
import pytest

import rnnbook
from rnnbook.attention import greedy_decode
from rnnbook.beam import BeamResult, beam_search, length_penalty_factor
from rnnbook.sampling import CharModel, char_initial_state, char_step


def prefix_model(V, max_length, seed, concentration=0.5):
    """step(tokens, code) -> (table[code'], code') with code' = code * V + token.

    Starting from a code c with c + 1 <= V (1 for V = 2 or 3), each prefix of at most max_length
    fed tokens has its own code, below (c + 1) V^max_length <= V^(max_length + 1), and so its own
    random distribution ``table[code']``.
    """
    table = np.random.default_rng(seed).dirichlet(np.full(V, concentration),
                                                  size=V ** (max_length + 1))

    def step(tokens, code):
        code = code * V + tokens
        return table[code], code

    return step


def exhaustive(step, state, V, max_length, end, start=0, min_length=0, alpha=0.0):
    """Every output of one source, best first: (tokens, log P, score, finished).

    An output is a sequence that ends with the end token (and not before, and not among the first
    min_length tokens), or one of max_length tokens without it.
    """
    found = []

    def grow(prefix, log_p, state, token):
        probs, state = step(np.array([token]), state)
        log_probs = np.log(probs[0])
        for v in range(V):
            tokens = prefix + (v,)
            total = log_p + log_probs[v]
            score = total / float(length_penalty_factor(len(tokens), alpha))
            if end is not None and v == end:
                if len(prefix) >= min_length:
                    found.append((tokens, total, score, True))
            elif len(tokens) == max_length:
                found.append((tokens, total, score, False))
            else:
                grow(tokens, total, state, v)

    grow((), 0.0, state, start)
    return sorted(found, key=lambda h: -h[2])


def hypotheses(result: BeamResult, source=0):
    """The finite hypotheses of one source as (tokens, log P, score, finished)."""
    out = []
    for j in range(result.log_prob.shape[1]):
        if np.isfinite(result.log_prob[source, j]):
            n = result.length[source, j]
            out.append((tuple(int(v) for v in result.tokens[source, j, :n]),
                        result.log_prob[source, j], result.score[source, j],
                        bool(result.finished[source, j])))
    return out


def assert_same_hypotheses(got, expected, rtol=1e-12):
    assert [h[0] for h in got] == [h[0] for h in expected]
    assert [h[3] for h in got] == [h[3] for h in expected]
    np.testing.assert_allclose([h[1] for h in got], [h[1] for h in expected], rtol=rtol)
    np.testing.assert_allclose([h[2] for h in got], [h[2] for h in expected], rtol=rtol)


# --- exact on small problems --------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("V, max_length", [(3, 4), (4, 3), (2, 6)])
@pytest.mark.parametrize("end, min_length, alpha", [(0, 0, 0.0), (None, 0, 0.0), (1, 1, 0.0),
                                                    (0, 0, 0.7), (0, 2, 1.5)])
def test_a_wide_beam_equals_exhaustive_search(seed, V, max_length, end, min_length, alpha):
    step = prefix_model(V, max_length, seed)
    expected = exhaustive(step, np.ones(1, np.int64), V, max_length, end, 0, min_length, alpha)
    result = beam_search(step, np.ones(1, np.int64), beam_width=V ** max_length,
                         max_length=max_length, end_token=end, min_length=min_length,
                         length_penalty=alpha)
    got = hypotheses(result)
    assert len(got) == len(expected)                     # every output, none twice
    assert_same_hypotheses(got, expected)
    assert np.all(result.score[0, :-1] >= result.score[0, 1:])   # best first, fillers last


def reference_beam(step, state, V, max_length, k, end, start=0, min_length=0, alpha=0.0):
    """The same rule, one hypothesis at a time: (tokens, log P, finished, state, last token)."""
    def score(log_p, n):
        return log_p / float(length_penalty_factor(n, alpha))

    beam = [((), 0.0, False, state, start)]
    for t in range(max_length):
        candidates = []
        for rank, (tokens, log_p, finished, s, last) in enumerate(beam):
            if finished:
                candidates.append((score(log_p, len(tokens)), rank, end,
                                   (tokens, log_p, True, s, last)))
                continue
            probs, s_next = step(np.array([last]), s)
            log_probs = np.log(probs[0])
            for v in range(V):
                if end is not None and v == end and t < min_length:
                    continue
                new = (tokens + (v,), log_p + log_probs[v], v == end, s_next, v)
                candidates.append((score(new[1], len(new[0])), rank, v, new))
        candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
        beam = [c[3] for c in candidates[:k]]
        if all(h[2] for h in beam):
            break
    return [(h[0], h[1], score(h[1], len(h[0])), h[2]) for h in beam]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 2, 3, 7])
@pytest.mark.parametrize("end, min_length, alpha", [(0, 0, 0.0), (None, 0, 0.0), (3, 1, 0.6)])
def test_a_narrow_beam_follows_the_rule(seed, k, end, min_length, alpha):
    V, max_length = 5, 6
    step = prefix_model(V, max_length, seed)
    expected = reference_beam(step, np.ones(1, np.int64), V, max_length, k, end, 0, min_length,
                              alpha)
    result = beam_search(step, np.ones(1, np.int64), beam_width=k, max_length=max_length,
                         end_token=end, min_length=min_length, length_penalty=alpha)
    assert_same_hypotheses(hypotheses(result), expected)


def test_a_narrow_beam_can_miss_the_most_probable_output():
    """Beam search is approximate: over the seeds, width 2 misses exhaustive search's best."""
    V, max_length = 4, 4
    missed = 0
    for seed in range(20):
        step = prefix_model(V, max_length, seed)
        best = exhaustive(step, np.ones(1, np.int64), V, max_length, 0)[0]
        result = beam_search(step, np.ones(1, np.int64), beam_width=2, max_length=max_length)
        assert result.log_prob[0, 0] <= best[1] + 1e-12            # never better than exact
        missed += hypotheses(result)[0][0] != best[0]
    assert 0 < missed < 20


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("end", [0, None])
def test_width_one_is_greedy_decoding(seed, end):
    V, max_length = 5, 6
    step = prefix_model(V, max_length, seed, concentration=1.0)
    start = np.array([0, 1, 2, 3])
    state = np.array([1, 2, 3, 1])
    tokens, probs = greedy_decode(step, state, start, max_length, end=end)
    result = beam_search(step, state, beam_width=1, max_length=max_length, end_token=end,
                         start_token=start)
    np.testing.assert_array_equal(result.tokens[:, 0], tokens)
    with np.errstate(divide="ignore"):
        chosen = np.log(np.take_along_axis(probs, tokens[:, :, None], axis=2)[..., 0])
    np.testing.assert_allclose(result.log_prob[:, 0],
                               np.where(np.isnan(chosen), 0, chosen).sum(axis=1), rtol=1e-12)


def test_the_start_token_may_lie_outside_the_output_vocabulary():
    """A decoder reads a start marker (id V) that it never writes, as chapter 16's does."""
    V, max_length = 3, 4
    step = prefix_model(V + 1, max_length, seed=4)

    def writes_v_tokens(tokens, code):                # the marker's row renormalised away
        probs, code = step(tokens, code)
        return probs[:, :V] / probs[:, :V].sum(axis=1, keepdims=True), code

    state = np.zeros(2, np.int64)
    result = beam_search(writes_v_tokens, state, beam_width=V ** max_length,
                         max_length=max_length, end_token=None, start_token=V)
    best = exhaustive(writes_v_tokens, np.zeros(1, np.int64), V, max_length, None, start=V)
    assert [tuple(t) for t, *_ in hypotheses(result)] == [t for t, *_ in best]
    greedy, _ = greedy_decode(writes_v_tokens, state, np.full(2, V), max_length, end=None)
    one = beam_search(writes_v_tokens, state, beam_width=1, max_length=max_length,
                      end_token=None, start_token=V)
    np.testing.assert_array_equal(one.tokens[:, 0], greedy)


def test_a_batch_of_sources_is_searched_independently():
    V, max_length, k = 4, 5, 3
    step = prefix_model(V, max_length, seed=11)
    state = np.array([1, 2, 3])
    start = np.array([3, 0, 1])
    batch = beam_search(step, state, beam_width=k, max_length=max_length, start_token=start)
    for b in range(3):
        alone = beam_search(step, state[b:b + 1], beam_width=k, max_length=max_length,
                            start_token=int(start[b]))
        for name in BeamResult._fields:
            np.testing.assert_array_equal(getattr(batch, name)[b], getattr(alone, name)[0])


def test_state_containers_and_per_source_context_are_reordered():
    """A dict holding a tuple, and context repeated per source in the step (chapter 16's way)."""
    V, max_length, k = 4, 4, 3
    step = prefix_model(V, max_length, seed=5)
    context = np.array([[0.0], [1.0]])                  # one row per source
    repeated = np.repeat(context, k, axis=0)

    def dict_step(tokens, s):
        assert np.all(s["pair"][1] == s["pair"][0] * 10)   # rows gathered together
        probs, code = step(tokens, s["pair"][0])
        assert np.all(s["source"] == repeated)             # reordered within each source
        return probs, {"pair": (code, code * 10), "source": s["source"]}

    state = {"pair": (np.array([1, 2]), np.array([10, 20])), "source": context}
    got = beam_search(dict_step, state, beam_width=k, max_length=max_length)
    plain = beam_search(step, np.array([1, 2]), beam_width=k, max_length=max_length)
    for name in BeamResult._fields:
        np.testing.assert_array_equal(getattr(got, name), getattr(plain, name))


# --- the end token and the length penalty -------------------------------------------------------

def table_step(table):
    """A model whose distribution depends only on the position: table[t], t = calls so far."""
    calls = []

    def step(tokens, state):
        calls.append(tokens.copy())
        return np.tile(table[len(calls) - 1], (len(tokens), 1)), state

    return step, calls


def test_finished_hypotheses_stop_growing_and_compete():
    # step 0: end 0.5, a 0.3, b 0.2; later: end 0.1, a 0.6, b 0.3
    table = np.array([[0.5, 0.3, 0.2]] + [[0.1, 0.6, 0.3]] * 4)
    step, calls = table_step(table)
    result = beam_search(step, None, beam_width=2, max_length=5)
    # the empty output (0.5) ends at once and stays first; a.end = 0.03 loses to aa = 0.18
    assert hypotheses(result)[0][0] == (0,) and result.finished[0, 0]
    assert result.length[0, 0] == 1
    np.testing.assert_array_equal(result.tokens[0, 0], [0, 0, 0, 0, 0])    # padded with end
    assert not result.finished[0, 1] and result.length[0, 1] == 5            # never ended
    np.testing.assert_allclose(result.log_prob[0], [np.log(0.5), np.log(0.3 * 0.6 ** 4)])
    np.testing.assert_array_equal(result.tokens[0, 1], [1, 1, 1, 1, 1])
    # the finished hypothesis is fed its end token and its row is not extended
    assert all(c[0] == 0 for c in calls[1:])


def test_the_search_stops_when_every_hypothesis_has_ended():
    table = np.array([[0.05, 0.5, 0.45]] + [[0.9, 0.05, 0.05]] * 9)
    step, calls = table_step(table)
    result = beam_search(step, None, beam_width=2, max_length=10)
    assert len(calls) == 2                               # a.end and b.end: both ended
    assert result.finished[0].all()
    assert [h[0] for h in hypotheses(result)] == [(1, 0), (2, 0)]
    np.testing.assert_allclose(result.log_prob[0], np.log([0.5 * 0.9, 0.45 * 0.9]))


def test_min_length_forbids_an_early_end():
    table = np.array([[0.9, 0.06, 0.04]] + [[0.7, 0.2, 0.1]] * 3)
    step, _ = table_step(table)
    assert hypotheses(beam_search(step, None, beam_width=1, max_length=4))[0][0] == (0,)
    step, _ = table_step(table)                          # a fresh model: it counts its calls
    best = hypotheses(beam_search(step, None, beam_width=1, max_length=4, min_length=1))[0]
    assert best[0] == (1, 0)
    np.testing.assert_allclose(best[1], np.log(0.06 * 0.7))      # the end is not renormalised


def test_length_penalty_is_gnmt():
    np.testing.assert_allclose(length_penalty_factor([0, 1, 4, 13], 0.5), [(5 / 6) ** 0.5, 1,
                                                                           1.5 ** 0.5, 3 ** 0.5])
    np.testing.assert_array_equal(length_penalty_factor(np.arange(10), 0.0), np.ones(10))
    # a short output (end now, 0.4) against a long one (0.6 ** 8 * 0.9, nine tokens)
    table = np.array([[0.4, 0.6]] + [[0.1, 0.9]] * 7 + [[0.9, 0.1]] * 2)
    step, _ = table_step(table)
    plain = beam_search(step, None, beam_width=2, max_length=10, end_token=0)
    assert plain.length[0, 0] == 1
    step, _ = table_step(table)
    alpha = 4.0
    normalised = beam_search(step, None, beam_width=2, max_length=10, length_penalty=alpha)
    assert normalised.length[0, 0] == 9 and normalised.finished[0, 0]
    np.testing.assert_allclose(normalised.score[0],
                               normalised.log_prob[0] / ((5 + normalised.length[0]) / 6) ** alpha)
    np.testing.assert_allclose(normalised.log_prob[0, 0], np.log(0.6 * 0.9 ** 7 * 0.9))


# --- rnnbook's own character model --------------------------------------------------------------

def tiny_char_model(cell, seed, V=4, E=3, H=5):
    rng = np.random.default_rng(seed)
    gates = 3 if cell == "GRU" else 4
    recurrent = {"W_x": rng.normal(size=(gates * H, E)), "W_h": rng.normal(size=(gates * H, H))}
    if cell == "GRU":
        recurrent.update(b_x=rng.normal(size=gates * H), b_h=rng.normal(size=gates * H))
    else:
        recurrent["b"] = rng.normal(size=gates * H)
    return CharModel(rng.normal(size=(V, E)), cell, recurrent, rng.normal(size=(V, H)) * 2,
                     rng.normal(size=V))


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
@pytest.mark.parametrize("seed", range(3))
def test_char_model_beam_equals_exhaustive_search(cell, seed):
    model = tiny_char_model(cell, seed)
    V, max_length = 4, 4

    def step(tokens, state):
        return char_step(model, tokens, state)

    expected = exhaustive(step, char_initial_state(model, 1), V, max_length, 0, min_length=1)
    result = beam_search(step, char_initial_state(model, 1), beam_width=V ** max_length,
                         max_length=max_length, min_length=1)
    # the same rows in a different batch may round differently in the matrix products
    assert_same_hypotheses(hypotheses(result), expected, rtol=1e-10)
    narrow = beam_search(step, char_initial_state(model, 1), beam_width=1, max_length=6)
    tokens, _ = greedy_decode(step, char_initial_state(model, 1), np.zeros(1, int), 6, end=0)
    np.testing.assert_array_equal(narrow.tokens[:, 0], tokens)
    assert rnnbook.beam_search is beam_search


# --- errors -------------------------------------------------------------------------------------

def _uniform(tokens, state):
    return np.full((len(tokens), 3), 1 / 3), state


def _step_returning(probs=None, state=None):
    def step(tokens, s):
        return (np.full((len(tokens), 3), 1 / 3) if probs is None else probs(tokens),
                s if state is None else state(tokens))
    return step


@pytest.mark.parametrize("kwargs, message", [
    (dict(beam_width=0), r"beam_width must be an integer >= 1; got 0"),
    (dict(beam_width=True), r"beam_width must be an integer >= 1; got True"),
    (dict(beam_width=2.0), r"beam_width must be an integer >= 1; got 2.0"),
    (dict(max_length=0), r"max_length must be an integer >= 1; got 0"),
    (dict(min_length=-1), r"min_length must be an integer >= 0; got -1"),
    (dict(min_length=5), r"min_length must be at most max_length = 4; got 5"),
    (dict(end_token=-1), r"end_token must be an integer >= 0; got -1"),
    (dict(end_token=3), r"end_token must be a token of the model's vocabulary of 3; got 3"),
    (dict(start_token=1.5), r"start_token must be an int or a 1-D integer array.*float64"),
    (dict(start_token=np.zeros((2, 1), int)), r"start_token must be .* shape \(2, 1\)"),
    (dict(start_token=np.zeros(3, int)), r"start_token has shape \(3,\) but state has 2 rows"),
    (dict(start_token=-2), r"start_token must be >= 0; got -2"),
    (dict(length_penalty=np.nan), r"length_penalty must be a finite number; got nan"),
    (dict(length_penalty="long"), r"length_penalty must be a finite number; got 'long'"),
    (dict(state=(np.zeros((2, 3)), np.zeros((3, 3)))),
     r"same number of rows on axis 0; state\[0\] has 2 \(shape \(2, 3\)\) but state\[1\] has "
     r"shape \(3, 3\)"),
    (dict(state=(np.zeros(2), 1.0)), r"state\[1\] is a scalar"),
    (dict(state=np.zeros((0, 3))), r"state has no rows"),
    (dict(step=_step_returning(probs=lambda t: np.full((len(t), 3), 0.5))),
     r"rows sum to one .*row 0 of probs \(6, 3\) sums to 1.5 at step 0"),
    (dict(step=_step_returning(probs=lambda t: np.full((len(t), 3), np.nan))),
     r"finite, >= 0.*shape \(6, 3\) at step 0"),
    (dict(step=_step_returning(probs=lambda t: np.tile([1.5, -0.5, 0.0], (len(t), 1)))),
     r"NaN, infinite or negative"),
    (dict(step=_step_returning(probs=lambda t: np.full((len(t) + 1, 3), 1 / 3))),
     r"probs of shape \(batch \* beam_width, V\) = \(6, V\); got shape \(7, 3\) at step 0"),
    (dict(step=_step_returning(probs=lambda t: np.full(len(t), 1.0))),
     r"got shape \(6,\) at step 0"),
    (dict(step=_step_returning(probs=lambda t: np.full((len(t), 3), "a"))),
     r"real dtype; got dtype <U1"),
    (dict(step=_step_returning(state=lambda t: np.zeros((2, 1)))),
     r"state with batch \* beam_width = 6 rows; got 2 at step 0"),
])
def test_bad_arguments_are_named(kwargs, message):
    arguments = dict(step=_uniform, state=np.zeros((2, 1)), beam_width=3, max_length=4)
    arguments.update(kwargs)
    step, state = arguments.pop("step"), arguments.pop("state")
    with pytest.raises(ValueError, match=message):
        beam_search(step, state, **arguments)


def test_vocabulary_change_and_non_callable_step():
    sizes = iter([3, 4])

    def changing(tokens, state):
        V = next(sizes)
        return np.full((len(tokens), V), 1 / V), state

    with pytest.raises(ValueError, match=r"4 probabilities per row at step 1 but 3 at step 0"):
        beam_search(changing, None, beam_width=1, max_length=3, end_token=None)
    with pytest.raises(TypeError, match=r"step must be callable"):
        beam_search("step", None, beam_width=1, max_length=3)
