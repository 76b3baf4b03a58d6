"""Beam search: the M most probable continuations of a next-token model, found approximately.

A decoder gives ``p(y_t | y_<t)`` one step at a time (conditioned on a source, for a
translator). The probability of a whole output is the product of its steps, so its
log-probability is the sum ``log P(y) = sum_t log p(y_t | y_<t)``. Greedy decoding
(:func:`~rnnbook.attention.greedy_decode`) keeps one prefix and extends it by its most probable
token; exhaustive search would score all ``V^n`` outputs. *Beam search* keeps the ``M`` best
*hypotheses* (prefixes with their summed log-probabilities): at every step each unfinished one is
extended by every token, and the ``M`` best of the candidates survive.

The end token. A hypothesis that has produced the end token is *finished*: it stops growing, and
at every later step it stays a candidate with its log-probability unchanged, competing with the
extensions of the unfinished ones for the ``M`` places. The search stops when all ``M``
hypotheses are finished (the beam could not change any more) or after ``max_length`` tokens.
With beam width 1 this is greedy decoding; with ``M`` at least the number of possible outputs
nothing is ever dropped, and the beam is the exhaustive search's ranking.

Length normalisation. Every token multiplies the probability by a factor below one, so summed
log-probabilities favour short outputs. Candidates are ranked by ::

    score(y) = log P(y) / lp(|y|),     lp(n) = ((5 + n) / 6) ** chi

Wu et al.'s (2016, GNMT) length penalty, with ``chi = length_penalty`` (the book's χ) and
``|y|`` the number of tokens produced, the end token included. The default ``chi = 0`` gives
``lp = 1``: no normalisation, the plain summed log-probability.

Conventions, shared with :func:`~rnnbook.sampling.generate` and
:func:`~rnnbook.attention.greedy_decode`: the model is a function
``step(tokens, state) -> (probs, state)`` over a batch of rows. Here the rows are the hypotheses:
``batch * M`` of them, row ``i * M + j`` is hypothesis ``j`` of source ``i``. The state must be an
array whose axis 0 is the rows, or a tuple, list or dict of such (nested), because after every
step the search reorders it: each surviving hypothesis continues from its parent's state,
``state = [s[parents] for s in state]``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

__all__ = ["BeamResult", "beam_search", "length_penalty_factor"]


class BeamResult(NamedTuple):
    """The hypotheses of :func:`beam_search`, best first, for each source.

    Attributes:
        tokens: int64, shape (batch, beam_width, max_length): the tokens produced (the start
            token excluded, the end token included); positions after the end token hold the end
            token (-1 when there is no end token and nothing to fill).
        log_prob: float64, shape (batch, beam_width): ``log P(y) = sum_t log p(y_t | y_<t)``.
        score: float64, shape (batch, beam_width): ``log_prob / lp(length)``, the ranking (equal
            to ``log_prob`` when ``length_penalty = 0``); sorted descending along axis 1.
        length: int64, shape (batch, beam_width): ``|y|``, the tokens produced, end token included.
        finished: bool, shape (batch, beam_width): whether the hypothesis ended with the end token
            (False for those that reached ``max_length`` first).

    A hypothesis with ``log_prob = -inf`` is a filler: there were fewer than ``beam_width``
    outputs of non-zero probability; ignore it.
    """

    tokens: np.ndarray
    log_prob: np.ndarray
    score: np.ndarray
    length: np.ndarray
    finished: np.ndarray


def length_penalty_factor(length, chi: float) -> np.ndarray:
    """GNMT's length penalty ``lp(n) = ((5 + n) / 6) ** chi``; ``lp(1) = 1``, ``chi = 0``
    gives 1 for every length. ``length`` is an int or array of ints >= 0."""
    n = np.asarray(length, dtype=np.float64)
    return ((5.0 + n) / 6.0) ** float(chi)


# --- the state: arrays with the rows on axis 0, or containers of them ---------------------------

def _leaves(state, path="state"):
    """Every array in ``state`` with its path, e.g. ``("state[1]", array)``."""
    if isinstance(state, (tuple, list)):
        for i, s in enumerate(state):
            yield from _leaves(s, f"{path}[{i}]")
    elif isinstance(state, dict):
        for key, s in state.items():
            yield from _leaves(s, f"{path}[{key!r}]")
    elif state is not None:
        yield path, state


def _map(state, f):
    """``state`` with ``f`` applied to every array, keeping tuples, lists and dicts."""
    if isinstance(state, tuple):
        items = [_map(s, f) for s in state]
        return type(state)(*items) if hasattr(state, "_fields") else tuple(items)
    if isinstance(state, list):
        return [_map(s, f) for s in state]
    if isinstance(state, dict):
        return {key: _map(s, f) for key, s in state.items()}
    if state is None:
        return None
    return f(state)


def _state_rows(state, what: str) -> int | None:
    """The common length of axis 0 of every array in ``state`` (None if it has no arrays)."""
    rows, first = None, None
    for path, leaf in _leaves(state):
        shape = np.shape(leaf)
        if len(shape) == 0:
            raise ValueError(f"{what}: every array in the state needs the rows on axis 0; "
                             f"{path} is a scalar")
        if rows is None:
            rows, first = shape[0], path
        elif shape[0] != rows:
            raise ValueError(f"{what}: every array in the state must have the same number of "
                             f"rows on axis 0; {first} has {rows} (shape "
                             f"{np.shape(dict(_leaves(state))[first])}) but {path} has shape "
                             f"{shape}")
    return rows


# --- argument checks ----------------------------------------------------------------------------

def _int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def _check_probs(probs, rows: int, t: int, vocabulary: int | None) -> np.ndarray:
    p = np.asarray(probs)
    if p.dtype.kind not in "fiu":
        raise ValueError(f"step must return probabilities of a real dtype; got dtype {p.dtype} "
                         f"with shape {p.shape} at step {t}")
    if p.ndim != 2 or p.shape[0] != rows or p.shape[1] < 1:
        raise ValueError(f"step must return probs of shape (batch * beam_width, V) = ({rows}, "
                         f"V); got shape {p.shape} at step {t}")
    if vocabulary is not None and p.shape[1] != vocabulary:
        raise ValueError(f"step returned {p.shape[1]} probabilities per row at step {t} but "
                         f"{vocabulary} at step 0 (shape {p.shape})")
    p = p.astype(np.float64)
    if not np.all(np.isfinite(p)) or (p < 0).any():
        raise ValueError(f"step must return probabilities (finite, >= 0); got NaN, infinite or "
                         f"negative entries in probs of shape {p.shape} at step {t}")
    sums = p.sum(axis=1)
    if np.any(np.abs(sums - 1.0) > 1e-3):
        bad = int(np.argmax(np.abs(sums - 1.0)))
        raise ValueError(f"step must return probabilities whose rows sum to one (a softmax, not "
                         f"logits); row {bad} of probs {p.shape} sums to {sums[bad]:.6g} at "
                         f"step {t}")
    return p


# --- the search ---------------------------------------------------------------------------------

def beam_search(step: Callable, state, *, beam_width: int, max_length: int,
                end_token: int | None = 0, start_token=0, min_length: int = 0,
                length_penalty: float = 0.0) -> BeamResult:
    """The ``beam_width`` best outputs of a next-token model for each of a batch of sources.

    One step, for each source, with ``M = beam_width`` hypotheses ``y`` of summed
    log-probabilities ``log P(y)``::

        candidates = { y + [v], log P(y) + log p(v | y) :  y unfinished, v = 0 .. V-1 }
                   + { y, log P(y) :                       y finished }
        beam       = the M candidates with the largest  log P / lp(|y|)

    with ``lp(n) = ((5 + n) / 6) ** length_penalty`` (GNMT; 1 for the default 0, i.e. no length
    normalisation). Ties go to the candidate of the better-ranked parent, then the smaller token,
    so ``beam_width = 1`` gives exactly :func:`~rnnbook.attention.greedy_decode`'s output. The
    search stops when every hypothesis is finished or after ``max_length`` steps; then the beam,
    sorted by score, is returned. It is approximate: a prefix that leaves the beam is never
    extended again, so a better output can be missed; with ``beam_width`` at least the number of
    possible outputs it equals exhaustive search.

    Args:
        step: ``step(tokens, state) -> (probs, state)``: the model's one-step function, given the
            previous tokens, shape (batch * beam_width,) int64, and the state; returns
            next-token probabilities, shape (batch * beam_width, V) (rows summing to one: pass a
            softmax, not logits), and the new state. Row ``b * beam_width + j`` is hypothesis
            ``j`` of source ``b``. With :func:`~rnnbook.sampling.char_step`:
            ``lambda tokens, s: char_step(model, tokens, s)``. Anything ``step`` holds per source
            (a translator's encoder states) must either travel in ``state`` or be repeated
            ``np.repeat(context, beam_width, axis=0)`` by the caller; the search reorders only
            ``state``, within each source's block of rows, so repeated per-source context stays
            aligned.
        state: the state before the first step for the ``batch`` sources: an array with one row
            per source on axis 0, or a (nested) tuple, list or dict of such arrays, or None for
            a model without state. The search repeats each row ``beam_width`` times.
        beam_width: ``M >= 1``, how many hypotheses are kept per source.
        max_length: the most tokens a hypothesis may have, the end token included (the number
            of steps; :func:`~rnnbook.sampling.generate`'s ``max_length`` excludes the end).
        end_token: the token that ends an output (default 0, the book's marker), or None for
            outputs of a fixed length (every hypothesis then has ``max_length`` tokens).
        start_token: the first input token, an int or one per source, shape (batch,) (default 0).
            It is only fed to ``step``, so it need not be one of the ``V`` output tokens: a
            decoder may read a start marker that it never writes (chapter 16's id 11 for 11
            output characters).
        min_length: the end token may not be one of the first ``min_length`` tokens (e.g. 1 to
            forbid the empty name); 0 by default.
        length_penalty: GNMT's exponent ``chi``, the book's χ (0 by default: no normalisation;
            0.6 to 1 favour longer outputs).

    Returns:
        a :class:`BeamResult` ``(tokens, log_prob, score, length, finished)`` with arrays of
        shape (batch, beam_width, max_length) and (batch, beam_width), best hypothesis first.
        ``result.tokens[:, 0]`` is the best output of every source.

    Raises:
        TypeError: if ``step`` is not callable.
        ValueError: for a non-positive ``beam_width`` or ``max_length``, ``min_length`` outside
            ``[0, max_length]``, a negative or out-of-vocabulary ``end_token``, start tokens of
            the wrong shape or range, a non-finite ``length_penalty``, arrays in ``state`` with
            different numbers of rows (or none), and probabilities from ``step`` of the wrong
            shape, with NaN or negative entries or rows that do not sum to one.
    """
    if not callable(step):
        raise TypeError(f"step must be callable as step(tokens, state); got "
                        f"{type(step).__name__}")
    k = _int("beam_width", beam_width, 1)
    steps = _int("max_length", max_length, 1)
    min_length = _int("min_length", min_length, 0)
    if min_length > steps:
        raise ValueError(f"min_length must be at most max_length = {steps}; got {min_length}")
    end = None if end_token is None else _int("end_token", end_token, 0)
    try:
        alpha = float(length_penalty)
    except (TypeError, ValueError):
        raise ValueError(f"length_penalty must be a finite number; got {length_penalty!r}") \
            from None
    if not np.isfinite(alpha):
        raise ValueError(f"length_penalty must be a finite number; got {length_penalty!r}")
    start = np.asarray(start_token)
    if start.dtype.kind not in "iu" or start.ndim > 1:
        raise ValueError(f"start_token must be an int or a 1-D integer array, shape (batch,); "
                         f"got dtype {start.dtype} with shape {start.shape}")
    if start.size and start.min() < 0:
        raise ValueError(f"start_token must be >= 0; got {start.min()}")
    batch = _state_rows(state, "state")
    if start.ndim == 1:
        if batch is not None and start.shape[0] != batch:
            raise ValueError(f"start_token has shape {start.shape} but state has {batch} rows "
                             f"(one per source)")
        batch = start.shape[0]
    if batch is None:
        batch = 1
    if batch < 1:
        raise ValueError(f"state has no rows: need at least one source; got {batch}")
    return _beam_search(step, state, batch, k, steps, end, np.broadcast_to(start, (batch,)),
                        min_length, alpha)


def _beam_search(step, state, batch, k, steps, end, start, min_length, alpha) -> BeamResult:
    """The search itself, with checked arguments (the model's outputs are still checked)."""
    rows = np.arange(batch)[:, None]
    pad = -1 if end is None else end
    state = _map(state, lambda s: np.repeat(s, k, axis=0))
    tokens = np.repeat(start.astype(np.int64), k)                        # (batch k,)
    log_prob = np.full((batch, k), -np.inf)
    log_prob[:, 0] = 0.0                            # one hypothesis, the empty one, at the start
    score = log_prob.copy()
    length = np.zeros((batch, k), np.int64)
    finished = np.zeros((batch, k), bool)
    history = np.full((batch, k, steps), pad, np.int64)
    vocabulary = None
    for t in range(steps):
        probs, new_state = step(tokens, state)
        probs = _check_probs(probs, batch * k, t, vocabulary)
        if vocabulary is None:
            vocabulary = probs.shape[1]
            if end is not None and end >= vocabulary:
                raise ValueError(f"end_token must be a token of the model's vocabulary of "
                                 f"{vocabulary}; got {end}")
        got = _state_rows(new_state, f"the state step returned at step {t}")
        if got is not None and got != batch * k:
            raise ValueError(f"step must return a state with batch * beam_width = {batch * k} "
                             f"rows; got {got} at step {t}")
        V = vocabulary
        with np.errstate(divide="ignore"):                 # log 0 = -inf: an impossible token
            total = log_prob[:, :, None] + np.log(probs).reshape(batch, k, V)   # (batch, k, V)
        new_length = np.broadcast_to((length + ~finished)[:, :, None], total.shape)
        if end is not None:
            if t < min_length:
                total[:, :, end] = -np.inf
            total[finished] = -np.inf                      # a finished hypothesis stays as it is:
            total[finished, end] = log_prob[finished]      # one candidate, log P unchanged
        ranking = total if alpha == 0.0 else total / length_penalty_factor(new_length, alpha)
        flat = ranking.reshape(batch, k * V)
        best = np.argsort(-flat, axis=1, kind="stable")[:, :k]          # (batch, k)
        parent, token = best // V, best % V
        was_finished = finished[rows, parent]
        log_prob = total.reshape(batch, k * V)[rows, best]
        score = flat[rows, best]
        length = new_length.reshape(batch, k * V)[rows, best]
        finished = was_finished if end is None else was_finished | (token == end)
        history = history[rows, parent]
        history[:, :, t] = np.where(was_finished, pad, token)
        parents = (rows * k + parent).ravel()            # each hypothesis keeps its own state
        state = _map(new_state, lambda s: s[parents])
        tokens = token.ravel()                             # a finished one is fed its end
        if end is not None and np.all(finished | np.isneginf(log_prob)):
            break                                          # no hypothesis can change any more
    return BeamResult(history, log_prob, score, length, finished)
