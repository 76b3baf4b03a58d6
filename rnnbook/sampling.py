"""Character-level language models: encoding words, temperature, sampling and generation.

Chapter "Generating text one character at a time" trains a Keras model
``Sequential([Input((None,), dtype="int32"), Embedding(V, E), GRU(H, return_sequences=True),
Dense(V)])`` to predict each next character of a word, and generates new words with it in NumPy.
This module holds the pieces that chapter and its training script share:

* :func:`char_vocabulary`, :func:`encode_words`, :func:`decode`: one marker symbol (``"."``,
  index 0) starts every input and ends every target; the letters follow in sorted order.
* :func:`apply_temperature`: ``p_i^(1/T) / sum_j p_j^(1/T)`` row by row.
* :func:`sample_categorical`: one draw per row from a ``np.random.Generator``, by inverting the
  cumulative distribution with one uniform number per row, so two implementations that compute
  the same probabilities draw the same samples from the same random stream.
* :class:`CharModel`, :func:`char_model_from_keras`, :func:`char_initial_state`,
  :func:`char_step`: the trained network in NumPy, one step at a time with
  :func:`~rnnbook.gru.gru_step` or :func:`~rnnbook.lstm.lstm_step`, carrying the state.
* :func:`generate`: sampling words from any ``step(tokens, state) -> (probs, state)``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from ._checks import as_array, check_rank
from .gru import gru_step
from .keras_interop import from_keras
from .losses import softmax
from .lstm import lstm_step

__all__ = [
    "MARKER", "char_vocabulary", "encode_words", "decode",
    "apply_temperature", "sample_categorical",
    "CharModel", "char_model_from_keras", "char_initial_state", "char_step", "generate",
]

#: The marker symbol: the first input of every word (start) and its last target (end).
MARKER = "."


def char_vocabulary(words) -> str:
    """The vocabulary of ``words``: ``MARKER`` (index 0), then every character, sorted.

    Raises:
        ValueError: if ``words`` is empty or a word is empty or contains the marker.
    """
    words = list(words)
    if not words:
        raise ValueError("words is empty")
    for word in words:
        if not isinstance(word, str) or not word:
            raise ValueError(f"every word must be a non-empty str; got {word!r}")
        if MARKER in word:
            raise ValueError(f"the word {word!r} contains the marker {MARKER!r}")
    return MARKER + "".join(sorted(set("".join(words))))


def encode_words(words, vocabulary: str, length: int | None = None):
    """Teacher-forcing arrays for a next-character model.

    A word ``c_1 ... c_n`` becomes the input ``. c_1 ... c_n`` and the target
    ``c_1 ... c_n .``: at step ``t`` the model reads the character before ``c_t`` and is trained
    to predict ``c_t``; the last target is the end marker. Shorter words are padded at the end
    (with the marker) to ``length`` steps and their padded steps get weight 0.

    Args:
        words: sequence of str, characters from ``vocabulary``.
        vocabulary: the string :func:`char_vocabulary` returns (marker first).
        length: the number of steps, at least the longest word's length + 1 (the default).

    Returns:
        ``(x, y, weights)``: int32 inputs and targets of shape (N, length), and float32 weights
        of shape (N, length), 1 on the ``len(word) + 1`` real steps of each row, 0 after.
    """
    if not vocabulary or vocabulary[0] != MARKER:
        raise ValueError(f"vocabulary must start with the marker {MARKER!r}; got {vocabulary!r}")
    index = {c: i for i, c in enumerate(vocabulary)}
    words = list(words)
    longest = max((len(w) for w in words), default=0) + 1
    length = longest if length is None else int(length)
    if length < longest:
        raise ValueError(f"length {length} is too short: the longest word needs {longest} steps")
    x = np.zeros((len(words), length), np.int32)
    y = np.zeros((len(words), length), np.int32)
    weights = np.zeros((len(words), length), np.float32)
    for row, word in enumerate(words):
        try:
            codes = [index[c] for c in word]
        except KeyError as exc:
            raise ValueError(f"the word {word!r} has a character not in the vocabulary: "
                             f"{exc.args[0]!r}") from None
        x[row, 1:len(codes) + 1] = codes
        y[row, :len(codes)] = codes
        weights[row, :len(codes) + 1] = 1.0
    return x, y, weights


def decode(indices, vocabulary: str) -> str:
    """The characters of a sequence of indices, stopping before the first end marker."""
    codes = np.asarray(indices)
    if codes.size and codes.dtype.kind not in "iu":
        raise ValueError(f"indices must be integers; got dtype {codes.dtype} "
                         f"with shape {codes.shape}")
    codes = codes.astype(np.int64).ravel()
    bad = (codes < 0) | (codes >= len(vocabulary))
    if bad.any():
        raise ValueError(f"indices must lie in [0, {len(vocabulary)}) for a vocabulary of "
                         f"{len(vocabulary)} symbols; got {int(codes[bad][0])}")
    chars = []
    for i in codes:
        if i == 0:
            break
        chars.append(vocabulary[i])
    return "".join(chars)


def apply_temperature(probs, temperature) -> np.ndarray:
    """Sharpen or flatten distributions: row ``i`` becomes ``p_i^(1/T) / sum_j p_j^(1/T)``.

    ``T = 1`` only renormalises, ``T < 1`` moves mass towards the most probable entries (the
    result approaches one-hot on the maximum as ``T -> 0``; tied maxima share it), ``T > 1``
    flattens towards uniform over the entries that are not zero. Zero entries stay zero.
    Computed in the log domain, ``exp((log p - max log p) / T)``, so a small ``T`` does not
    underflow. Equivalent to ``softmax(logits / T)`` when ``probs = softmax(logits)``.

    Args:
        probs: non-negative weights, shape (rows, K) (or (K,) for one distribution). Rows need
            not sum to one; each is renormalised.
        temperature: a finite number > 0.

    Returns:
        float64 array of the shape of ``probs``, each row summing to one.

    Raises:
        ValueError: for a temperature that is not a finite number > 0, for ``probs`` that are
            not 1-D or 2-D, contain NaN, infinite or negative entries, or have a row of zeros.
    """
    try:
        T = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"temperature must be a number > 0; got {temperature!r}") from None
    if not np.isfinite(T) or T <= 0:
        raise ValueError(f"temperature must be a finite number > 0; got {temperature!r}")
    p = as_array("probs", probs, finite=False)
    if p.ndim not in (1, 2):
        raise ValueError(f"probs must have shape (rows, K) or (K,); got shape {p.shape}")
    if np.isnan(p).any():
        raise ValueError(f"probs contains NaN (shape {p.shape})")
    if np.isinf(p).any():
        raise ValueError(f"probs contains infinite values (shape {p.shape})")
    if (p < 0).any():
        raise ValueError(f"probs contains negative entries (shape {p.shape}, "
                         f"smallest {p.min():.3g})")
    rows = p.reshape(-1, p.shape[-1]).astype(np.float64)
    zero = ~(rows > 0).any(axis=1)
    if rows.shape[-1] == 0 or zero.any():
        first = int(np.argmax(zero)) if zero.size else 0
        raise ValueError(f"probs has a row of zeros (row {first} of shape {p.shape}); "
                         "it has no distribution to rescale")
    with np.errstate(divide="ignore"):
        logp = np.log(rows)
    scaled = np.exp((logp - logp.max(axis=1, keepdims=True)) / T)   # exp(-inf) = 0
    out = scaled / scaled.sum(axis=1, keepdims=True)
    return out.reshape(p.shape)


def sample_categorical(probs, rng: np.random.Generator) -> np.ndarray:
    """One index per row of ``probs``, drawn with probability proportional to the row.

    Draws exactly one uniform number ``u`` per row (``rng.random(rows)``) and returns the first
    index whose cumulative weight exceeds ``u`` times the row's total: the inverse of the
    cumulative distribution. Rows need not sum to one.

    Args:
        probs: non-negative weights, shape (rows, K).
        rng: a ``np.random.Generator``.

    Returns:
        int64 indices, shape (rows,).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a np.random.Generator; got {type(rng).__name__}")
    p = as_array("probs", probs)
    check_rank("probs", p, 2, "(rows, K)")
    if p.shape[1] == 0:
        raise ValueError(f"probs has no classes (shape {p.shape}); need K >= 1")
    if (p < 0).any():
        raise ValueError(f"probs contains negative entries (shape {p.shape})")
    with np.errstate(over="ignore"):
        cdf = np.cumsum(p.astype(np.float64), axis=1)
    if not np.isfinite(cdf[:, -1]).all():
        # huge weights (rows near 1e308) overflow the running sum: rescale each row by its
        # largest entry first, which leaves the distribution unchanged
        rows = p.astype(np.float64)
        top = rows.max(axis=1, keepdims=True)
        cdf = np.cumsum(rows / np.where(top > 0, top, 1.0), axis=1)
    if (cdf[:, -1] <= 0).any():
        raise ValueError(f"probs has a row of zeros (shape {p.shape})")
    u = rng.random(len(p)) * cdf[:, -1]
    index = (cdf > u[:, None]).argmax(axis=1)
    return index.astype(np.int64)


class CharModel(NamedTuple):
    """A trained ``Embedding -> GRU or LSTM -> Dense`` character model in the book's notation.

    Attributes:
        embedding: the embedding matrix, shape (V, E): row ``k`` is the input of character ``k``.
        cell: ``"GRU"`` or ``"LSTM"``.
        recurrent: the recurrent layer's parameters as :func:`~rnnbook.keras_interop.from_keras` returns them.
        W_y: output weights, shape (V, H).
        b_y: output bias, shape (V,).
    """

    embedding: np.ndarray
    cell: str
    recurrent: dict
    W_y: np.ndarray
    b_y: np.ndarray


def char_model_from_keras(model) -> CharModel:
    """Read a Keras ``Sequential([Input, Embedding, GRU or LSTM, Dense])`` into a
    :class:`CharModel` (the recurrent layer with ``return_sequences=True``)."""
    layers = list(model.layers)
    kinds = [type(layer).__name__ for layer in layers]
    if len(layers) != 3 or kinds[0] != "Embedding" or kinds[1] not in ("GRU", "LSTM") \
            or kinds[2] != "Dense":
        raise ValueError(f"expected the layers Embedding, GRU or LSTM, Dense; got {kinds}")
    embedding = np.array(layers[0].embeddings.numpy(), order="C")
    dense = from_keras(layers[2])
    return CharModel(embedding, kinds[1], from_keras(layers[1]), dense["W_y"], dense["b_y"])


def char_initial_state(model: CharModel, n: int) -> tuple:
    """Zero states for ``n`` sequences: ``(h,)`` for a GRU, ``(h, c)`` for an LSTM."""
    H = model.W_y.shape[1]
    h = np.zeros((int(n), H), model.W_y.dtype)
    return (h,) if model.cell == "GRU" else (h, h.copy())


def char_step(model: CharModel, tokens, state: tuple):
    """One step of the character model for a batch.

    Looks up each token's embedding, advances the recurrent state by one step
    (:func:`~rnnbook.gru.gru_step` or :func:`~rnnbook.lstm.lstm_step`) and maps the new hidden state
    through the output layer and a softmax.

    Args:
        model: a :class:`CharModel`.
        tokens: int indices of the current input characters, shape (n,).
        state: the state after the previous step, as :func:`char_initial_state` makes it.

    Returns:
        ``(probs, state)``: next-character probabilities, shape (n, V), and the new state.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or tokens.dtype.kind not in "iu":
        raise ValueError(f"tokens must be a 1-D integer array; got dtype {tokens.dtype} and "
                         f"shape {tokens.shape}")
    vocabulary_size = model.embedding.shape[0]
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocabulary_size):
        raise ValueError(f"tokens must lie in [0, {vocabulary_size}) (the embedding has "
                         f"{vocabulary_size} rows); got values from {tokens.min()} to "
                         f"{tokens.max()}")
    x_t = model.embedding[tokens]
    if model.cell == "GRU":
        h = gru_step(x_t, state[0], **model.recurrent)
        state = (h,)
    else:
        h, c = lstm_step(x_t, state[0], state[1], **model.recurrent)
        state = (h, c)
    logits = h @ model.W_y.T + model.b_y
    return softmax(logits.astype(np.float64)), state


def generate(step: Callable, state, *, n: int, max_length: int, rng: np.random.Generator,
             temperature: float = 1.0) -> list[list[int]]:
    """Sample ``n`` sequences from a next-symbol model, feeding each sample back in.

    Every sequence starts from the marker (index 0) and ends when the marker is drawn, or after
    ``max_length`` symbols. At each step ``step(tokens, state)`` returns the next-symbol
    probabilities of every row and the new state; they are rescaled with
    :func:`apply_temperature` and one symbol per row is drawn with :func:`sample_categorical`,
    for every row, finished or not, so that the random stream does not depend on when rows
    finish.

    Args:
        step: ``step(tokens, state) -> (probs, state)``, tokens of shape (n,), probs (n, V).
            With :func:`char_step`: ``lambda tokens, s: char_step(model, tokens, s)``.
        state: the state before the first step (e.g. :func:`char_initial_state`).
        n: how many sequences.
        max_length: the most symbols a sequence may have (the end marker excluded).
        rng: a ``np.random.Generator``.
        temperature: passed to :func:`apply_temperature`.

    Returns:
        ``n`` lists of symbol indices, without the end marker.
    """
    tokens = np.zeros(int(n), np.int64)                     # the start marker
    out = [[] for _ in range(int(n))]
    done = np.zeros(int(n), bool)
    for _ in range(int(max_length)):
        probs, state = step(tokens, state)
        tokens = sample_categorical(apply_temperature(probs, temperature), rng)
        done |= tokens == 0
        for row in np.flatnonzero(~done):
            out[row].append(int(tokens[row]))
        if done.all():
            break
    return out
