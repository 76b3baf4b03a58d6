"""The edges of the public API: each unusual input gets the right answer or a clear error.

These are the cases a bad-input sweep over every public function found answered silently wrong
or with an obscure error (a ZeroDivisionError from deep inside, NaN out of a clipping function,
a negative loss). Each test states the rule the function now follows.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import rnnbook
from rnnbook import (SGD, Adam, classifier_loss_and_grads, clip_by_norm, dtw_distances,
                     fit_linear_ar, generate, gru_backward, gru_forward, layer_forward,
                     lstm_backward, lstm_forward, rnn_backward, rnn_forward, sample_categorical,
                     softmax, train_classifier)
from rnnbook.data import chronological_split, split_masks
from rnnbook.sampling import CharModel, char_step, decode

F32 = np.float32


def _weights(cell: str, D: int, H: int, rng) -> dict:
    G = {"simple": 1, "lstm": 4, "gru": 3}[cell]
    p = {"W_x": rng.normal(size=(G * H, D)).astype(F32),
         "W_h": rng.normal(size=(G * H, H)).astype(F32)}
    if cell == "simple":
        p["b_h"] = rng.normal(size=G * H).astype(F32)
    elif cell == "lstm":
        p["b"] = rng.normal(size=G * H).astype(F32)
    else:
        p["b_x"] = rng.normal(size=G * H).astype(F32)
        p["b_h"] = rng.normal(size=G * H).astype(F32)
    return p


FORWARD = {"simple": rnn_forward, "lstm": lstm_forward, "gru": gru_forward}
BACKWARD = {"simple": rnn_backward, "lstm": lstm_backward, "gru": gru_backward}


# ------------------------------------------------------------------------- empty batches, no units

@pytest.mark.parametrize("cell", ["simple", "lstm", "gru"])
def test_an_empty_batch_gives_empty_results_of_the_right_shapes(cell, rng):
    p = _weights(cell, 4, 5, rng)
    x = np.zeros((0, 3, 4), F32)
    out = FORWARD[cell](x, **p)
    H = out[0] if isinstance(out, tuple) else out
    assert H.shape == (0, 3, 5) and H.dtype == F32
    grads = BACKWARD[cell](x, **p, dH=np.zeros((0, 3, 5), F32))
    assert grads["x"].shape == (0, 3, 4)
    for name, value in p.items():                  # no examples: every weight gradient is 0
        np.testing.assert_array_equal(grads[name], np.zeros_like(value))
    assert layer_forward(x, p, cell).shape == (0, 3, 5)


@pytest.mark.parametrize("cell", ["simple", "lstm", "gru"])
def test_a_layer_without_hidden_units_is_refused(cell, rng):
    p = _weights(cell, 4, 0, rng)
    with pytest.raises(ValueError, match=r"W_x must have .* rows, .*\(at least one hidden unit\); got shape \(0, 4\)"):
        FORWARD[cell](np.zeros((2, 3, 4), F32), **p)


def test_the_classifier_needs_examples_and_labels_in_0_1(rng):
    p = {"W_x": np.zeros((3, 1)), "W_h": np.zeros((3, 3)), "b_h": np.zeros(3),
         "W_y": np.zeros((1, 3)), "b_y": np.zeros(1)}
    with pytest.raises(ValueError, match=r"at least one example; got x \(0, 4, 1\)"):
        classifier_loss_and_grads(p, np.zeros((0, 4, 1)), np.zeros((0, 1)))
    with pytest.raises(ValueError, match=r"labels in \[0, 1\].*e\.g\. 7"):
        classifier_loss_and_grads(p, np.zeros((2, 4, 1)), np.array([[0.0], [7.0]]))
    with pytest.raises(ValueError, match=r"labels in \[0, 1\].*e\.g\. -1"):
        train_classifier(p, np.zeros((2, 4, 1)), np.array([-1.0, 1.0]), SGD())
    loss, _ = classifier_loss_and_grads(p, np.zeros((2, 4, 1)), np.array([[0.25], [1.0]]))
    assert loss > 0                                  # soft labels are fine, as in Keras


# -------------------------------------------------------------------------------- optimizers

@pytest.mark.parametrize("make, match", [
    (lambda: SGD(np.nan), r"learning_rate must be positive and finite; got nan"),
    (lambda: SGD(np.inf), r"learning_rate must be positive and finite; got inf"),
    (lambda: SGD(momentum=np.nan), r"momentum must be in \[0, 1\); got nan"),
    (lambda: SGD(True), r"learning_rate must be a real number; got True"),
    (lambda: Adam(np.nan), r"learning_rate must be positive and finite; got nan"),
    (lambda: Adam(epsilon=np.nan), r"epsilon must be non-negative and finite; got nan"),
    (lambda: Adam(epsilon=-1e-7), r"epsilon must be non-negative and finite; got -1e-07"),
    (lambda: Adam(beta_1=np.nan), r"beta_1 must be in \[0, 1\); got nan"),
    (lambda: Adam(learning_rate=1j), r"learning_rate must be a real number"),
])
def test_optimizers_refuse_nan_infinite_and_non_real_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("optimizer", [SGD(), SGD(momentum=0.5), Adam()])
@pytest.mark.parametrize("bad, match", [
    (np.array([np.nan, 0.0]), r"params\['w'\] contains NaN or infinite"),
    (np.array([np.inf, 0.0]), r"params\['w'\] contains NaN or infinite"),
    (np.array([1 + 1j, 0.0]), r"params\['w'\] must be a real floating-point array.*complex128"),
    (np.array([None, 0.0]), r"params\['w'\] must be a real floating-point array.*object"),
])
def test_optimizer_steps_refuse_non_finite_or_non_real_parameters(optimizer, bad, match):
    with pytest.raises(ValueError, match=match):
        optimizer.step({"w": bad}, {"w": np.zeros(2)})


def test_clipping_to_an_infinite_norm_leaves_the_gradients_as_they_are():
    grads = {"a": np.array([3.0, 4.0], F32), "b": np.array([[1e30]])}
    clipped = clip_by_norm(grads, np.inf)
    for key, g in grads.items():
        np.testing.assert_array_equal(clipped[key], g)
        assert clipped[key].dtype == g.dtype and clipped[key] is not g
    with pytest.raises(ValueError, match=r"max_norm must be a positive number"):
        clip_by_norm(grads, np.nan)


# ------------------------------------------------------------------------------- DTW numerics

def test_dtw_is_exact_on_data_far_from_zero(rng):
    a, b = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    exact = dtw_distances([a], [b])[0, 0]
    for offset in (1e6, 1e8):                          # the expansion lost 1e-4 and 28% here
        shifted = dtw_distances([a + offset], [b + offset])[0, 0]
        np.testing.assert_allclose(shifted, exact, rtol=1e-7)
    huge = np.full((4, 2), 1e200)
    assert dtw_distances([huge], [huge])[0, 0] == 0.0  # was NaN: ||a||^2 overflowed


# ---------------------------------------------------------------------------- sampling, decoding

def test_sampling_huge_weights_does_not_overflow_the_cumulative_sum():
    draws = sample_categorical(np.full((3000, 3), 1e308), np.random.default_rng(0))
    counts = np.bincount(draws, minlength=3)
    assert counts.min() > 900                          # uniform, not always index 0


def test_an_empty_class_axis_is_refused():
    with pytest.raises(ValueError, match=r"probs has no classes \(shape \(2, 0\)\)"):
        sample_categorical(np.zeros((2, 0)), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"z has no classes along axis -1 \(shape \(2, 0\)\)"):
        softmax(np.zeros((2, 0)))


@pytest.mark.parametrize("indices, match", [
    ([1, -1], r"indices must lie in \[0, 3\).*got -1"),
    ([1, 3], r"indices must lie in \[0, 3\).*got 3"),
    ([1.0], r"indices must be integers"),
])
def test_decode_refuses_indices_outside_the_vocabulary(indices, match):
    with pytest.raises(ValueError, match=match):
        decode(indices, ".ab")
    assert decode([1, 2, 0, 1], ".ab") == "ab" and decode([], ".ab") == ""


def test_char_step_refuses_tokens_outside_the_embedding(rng):
    V, E, H = 4, 2, 3
    model = CharModel(rng.normal(size=(V, E)), "GRU", _weights("gru", E, H, rng),
                      rng.normal(size=(V, H)), np.zeros(V))
    state = (np.zeros((2, H)),)
    for tokens in ([0, -1], [0, V]):
        with pytest.raises(ValueError, match=r"tokens must lie in \[0, 4\)"):
            char_step(model, np.array(tokens), state)


def test_generate_draws_one_number_per_row_at_every_step_finished_or_not():
    """Row 0 ends at its first step; the other rows must still get the uniform numbers they
    would get if it had not (one ``rng.random(n)`` per step), so a row's sample does not depend
    on when the other rows finish."""
    n, V, steps = 4, 5, 6
    table = np.random.default_rng(3).dirichlet(np.ones(V), size=(steps, n))
    table[:, 0] = 0.0
    table[0, 0, 0] = 1.0                                # row 0 draws the end marker at once
    table[1:, 0, 1] = 1.0

    def step(tokens, state):
        return table[state], state + 1

    out = generate(step, 0, n=n, max_length=steps, rng=np.random.default_rng(11))
    rng = np.random.default_rng(11)
    expected = [[] for _ in range(n)]
    done = np.zeros(n, bool)
    for t in range(steps):
        p = table[t] / table[t].sum(axis=1, keepdims=True)
        u = rng.random(n)
        tokens = (np.cumsum(p, axis=1) > u[:, None]).argmax(axis=1)
        done |= tokens == 0
        for row in np.flatnonzero(~done):
            expected[row].append(int(tokens[row]))
    assert out[0] == [] and out == expected


# --------------------------------------------------------------------------- data and forecasts

def test_forecasting_and_splitting_refuse_degenerate_shapes(rng):
    with pytest.raises(ValueError, match=r"horizon >= 1; got Y of shape \(40, 0, 1\)"):
        fit_linear_ar(rng.normal(size=(40, 3, 1)), np.zeros((40, 0, 1)))
    dates = np.arange("2013-12-30", "2015-01-03", dtype="datetime64[D]")
    with pytest.raises(ValueError, match=r"at least one time step and one feature.*\(369, 4, 0\)"):
        chronological_split(np.zeros((dates.size, 4, 0)), np.zeros((dates.size, 1)), dates)
    with pytest.raises(ValueError, match=r"dates is empty"):
        split_masks(np.array([], dtype="datetime64[D]"))


# ----------------------------------------------------------------------- flags and mask rules

@pytest.mark.parametrize("flag", ["no", 0, None])
def test_go_backwards_must_be_a_boolean(flag, rng):
    p = _weights("simple", 4, 5, rng)
    x = rng.normal(size=(2, 3, 4)).astype(F32)
    with pytest.raises(ValueError, match=r"go_backwards must be True or False"):
        rnn_forward(x, **p, go_backwards=flag)
    with pytest.raises(ValueError, match=r"go_backwards must be True or False"):
        layer_forward(x, p, "simple", go_backwards=flag)


@pytest.mark.parametrize("cell", ["simple", "lstm", "gru"])
def test_masks_of_0_and_1_count_the_same_in_any_numeric_dtype(cell, rng):
    p = _weights(cell, 4, 5, rng)
    x = rng.normal(size=(3, 6, 4)).astype(F32)
    mask = rng.random((3, 6)) < 0.7
    reference = layer_forward(x, p, cell, mask=mask)
    for dtype in (np.int8, np.float32, np.float64):
        np.testing.assert_array_equal(layer_forward(x, p, cell, mask=mask.astype(dtype)),
                                      reference)
        out = FORWARD[cell](x, **p, mask=mask.astype(dtype))
        np.testing.assert_array_equal(out[0] if isinstance(out, tuple) else out, reference)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_zero_output_for_mask_is_honoured_as_keras_does(go_backwards, rng, keras_seed):
    x = rng.normal(size=(3, 7, 2)).astype(F32)
    mask = np.ones((3, 7), bool)
    mask[0, 5:] = False                                  # trailing padding
    mask[1, :2] = False                                  # leading padding
    mask[2, 3] = False                                   # a gap
    layer = keras.layers.LSTM(4, return_sequences=True, zero_output_for_mask=True,
                              go_backwards=go_backwards)
    expected = np.asarray(layer(x, mask=mask))
    out = layer_forward(x, rnnbook.from_keras(layer), "lstm", go_backwards=go_backwards,
                        mask=mask, zero_output_for_mask=layer.zero_output_for_mask)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    repeated = layer_forward(x, rnnbook.from_keras(layer), "lstm", go_backwards=go_backwards,
                             mask=mask)
    assert np.abs(repeated - expected).max() > 1e-3     # without the flag the outputs differ
