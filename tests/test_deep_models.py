"""Whole models against Keras: stacked, bidirectional and masked recurrent networks.

Every model is built in Keras (float32, the default), its weights are read with
``rnnbook.from_keras``, and the NumPy forward pass (``rnnbook.bidirectional.layer_forward`` /
``bidirectional_forward`` on top of the cells' own recurrences) must give Keras's outputs to
float32 accuracy. Masks come from ``keras.layers.Masking`` or ``Embedding(mask_zero=True)`` in
front of the model, with right padding, left padding and a row with no real step at all.
"""

import keras
import numpy as np
import pytest

import rnnbook
from rnnbook.bidirectional import CELL_PARAMS, MERGE_MODES, bidirectional_forward, layer_forward

ATOL = 1e-5       # float32 forward passes; the measured differences are ~1e-7
SHAPES = [        # (batch, time, input, hidden)
    (1, 1, 1, 1),
    (4, 9, 3, 5),
    (16, 23, 7, 12),
]
LAYERS = {"simple": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def make_layer(cell, units, **kwargs):
    return LAYERS[cell](units, **kwargs)


def inputs(rng, batch, time, features):
    return rng.normal(size=(batch, time, features)).astype(np.float32)


def padded(rng, batch, time, features, side):
    """Sequences of random lengths (row 0 empty when batch > 1) zero-padded on ``side``.

    Returns ``(x, mask)``: the padded inputs and the (batch, time) mask, True for real steps.
    """
    lengths = rng.integers(1, time + 1, size=batch)
    if batch > 1:
        lengths[0] = 0                                   # an all-masked row
        lengths[-1] = time                               # and a full one
    steps = np.arange(time)
    mask = steps[None, :] < lengths[:, None]             # right padding: real steps first
    if side == "left":
        mask = mask[:, ::-1]
    x = inputs(rng, batch, time, features) * mask[:, :, None]
    return x, np.ascontiguousarray(mask)


def keras_out(model, x):
    out = model(x, training=False)
    if isinstance(out, (list, tuple)):
        return [np.asarray(o) for o in out]
    return np.asarray(out)


def assert_close(ours, theirs, atol=ATOL):
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_close(a, b, atol)
        return
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=atol)


# ---------------------------------------------------------------------------------------------
# stacked models


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("cells", [("gru", "lstm"), ("lstm", "simple"), ("simple", "gru")])
def test_stacked_model_matches_keras(rng, keras_seed, shape, cells):
    batch, time, features, hidden = shape
    first, second = cells
    model = keras.Sequential([
        keras.Input((time, features)),
        make_layer(first, hidden, return_sequences=True),
        make_layer(second, hidden + 2, return_sequences=True),
    ])
    x = inputs(rng, batch, time, features)
    p1, p2 = (rnnbook.from_keras(layer) for layer in model.layers)
    h1 = layer_forward(x, p1, first)                     # what the second layer sees
    ours = layer_forward(h1, p2, second)
    assert ours.shape == (batch, time, hidden + 2)
    assert_close(ours, keras_out(model, x))
    # the first layer's whole sequence is the second layer's input
    assert_close(h1, keras_out(model.layers[0], x))


def test_three_layer_stack_with_last_state_only(rng, keras_seed):
    batch, time, features = 6, 12, 4
    model = keras.Sequential([
        keras.Input((time, features)),
        keras.layers.LSTM(7, return_sequences=True),
        keras.layers.GRU(5, return_sequences=True, reset_after=False),
        keras.layers.LSTM(3),                            # return_sequences=False: last output
    ])
    x = inputs(rng, batch, time, features)
    h = x
    for layer, cell in zip(model.layers, ["lstm", "gru", "lstm"]):
        h = layer_forward(h, rnnbook.from_keras(layer), cell)
    assert_close(h[:, -1], keras_out(model, x))


# ---------------------------------------------------------------------------------------------
# bidirectional layers


# every cell with every merge mode, the shapes taken in turn (keeps the suite quick)
CELL_MERGE_SHAPE = [(cell, mode, SHAPES[(i + j) % len(SHAPES)])
                    for i, cell in enumerate(["lstm", "gru", "simple"])
                    for j, mode in enumerate(MERGE_MODES)]
CELL_MERGE_SIDE = [(cell, mode, ("right", "left")[(i + j) % 2])
                   for i, cell in enumerate(["lstm", "gru", "simple"])
                   for j, mode in enumerate(MERGE_MODES)]


@pytest.mark.parametrize("cell, merge_mode, shape", CELL_MERGE_SHAPE)
def test_bidirectional_matches_keras(rng, keras_seed, shape, merge_mode, cell):
    batch, time, features, hidden = shape
    bi = keras.layers.Bidirectional(make_layer(cell, hidden, return_sequences=True),
                                    merge_mode=merge_mode)
    x = inputs(rng, batch, time, features)
    theirs = keras_out(bi, x)
    params = rnnbook.from_keras(bi)
    ours = bidirectional_forward(x, **params, cell=cell, merge_mode=merge_mode)
    assert_close(ours, theirs)
    width = 2 * hidden if merge_mode == "concat" else hidden
    if merge_mode is not None:
        assert ours.shape == (batch, time, width)


@pytest.mark.parametrize("merge_mode", ["concat", "ave", None])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bidirectional_last_output_matches_keras(rng, keras_seed, merge_mode, cell):
    batch, time, features, hidden = 5, 8, 3, 6
    bi = keras.layers.Bidirectional(make_layer(cell, hidden), merge_mode=merge_mode)
    x = inputs(rng, batch, time, features)
    theirs = keras_out(bi, x)
    ours = bidirectional_forward(x, **rnnbook.from_keras(bi), cell=cell, merge_mode=merge_mode,
                                 return_sequences=False)
    assert_close(ours, theirs)
    # the backward half is the backward layer's state after reading x_1, i.e. the last
    # entry of its processing-order sequence
    h_b = layer_forward(x, rnnbook.from_keras(bi)["backward"], cell, go_backwards=True)
    if merge_mode == "concat":
        assert_close(ours[:, hidden:], h_b[:, -1])


def test_bidirectional_gru_reset_before(rng, keras_seed):
    bi = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True, reset_after=False))
    x = inputs(rng, 3, 6, 2)
    theirs = keras_out(bi, x)                            # builds the layer
    params = rnnbook.from_keras(bi)
    assert params["forward"]["b_h"] is None
    assert_close(bidirectional_forward(x, **params, cell="gru"), theirs)


def test_deep_bidirectional_model_matches_keras(rng, keras_seed):
    batch, time, features = 4, 10, 3
    model = keras.Sequential([
        keras.Input((time, features)),
        keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True)),
        keras.layers.Bidirectional(keras.layers.GRU(4), merge_mode="sum"),
        keras.layers.Dense(1),
    ])
    x = inputs(rng, batch, time, features)
    first, second, dense = model.layers
    h = bidirectional_forward(x, **rnnbook.from_keras(first), cell="lstm")
    h = bidirectional_forward(h, **rnnbook.from_keras(second), cell="gru", merge_mode="sum",
                              return_sequences=False)
    ours = rnnbook.dense_forward(h, **rnnbook.from_keras(dense))
    assert_close(ours, keras_out(model, x))


def test_backward_half_is_the_forward_layer_on_the_reversed_sequence(rng):
    """With the backward layer's weights in both directions, the flipped backward half is the
    forward half computed on the time-reversed input, flipped back."""
    H, D = 3, 2
    params = {"W_x": rng.normal(size=(4 * H, D)), "W_h": rng.normal(size=(4 * H, H)),
              "b": rng.normal(size=4 * H)}
    x = rng.normal(size=(2, 5, D))
    y_f, y_b = bidirectional_forward(x, params, params, "lstm", merge_mode=None)
    np.testing.assert_allclose(y_b, layer_forward(x[:, ::-1], params, "lstm")[:, ::-1],
                               rtol=1e-12)
    np.testing.assert_allclose(y_f, layer_forward(x, params, "lstm"), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# masks


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("cells, shape", [(("lstm", "gru"), SHAPES[1]),
                                          (("simple", "lstm"), SHAPES[2])])
def test_masked_stacked_model_matches_keras(rng, keras_seed, side, shape, cells):
    batch, time, features, hidden = shape
    first, second = cells
    model = keras.Sequential([
        keras.Input((time, features)),
        keras.layers.Masking(mask_value=0.0),
        make_layer(first, hidden, return_sequences=True),
        make_layer(second, hidden + 1, return_sequences=True),
    ])
    x, mask = padded(rng, batch, time, features, side)
    h1 = layer_forward(x, rnnbook.from_keras(model.layers[1]), first, mask=mask)
    ours = layer_forward(h1, rnnbook.from_keras(model.layers[2]), second, mask=mask)
    theirs = keras_out(model, x)
    assert_close(ours, theirs)
    assert not mask[0].any() and np.all(theirs[0] == 0)  # the empty row stays at zero


@pytest.mark.parametrize("cell, merge_mode, side", CELL_MERGE_SIDE)
def test_masked_bidirectional_matches_keras(rng, keras_seed, side, merge_mode, cell):
    batch, time, features, hidden = 6, 11, 3, 5
    model = keras.Sequential([
        keras.Input((time, features)),
        keras.layers.Masking(mask_value=0.0),
        keras.layers.Bidirectional(make_layer(cell, hidden, return_sequences=True),
                                   merge_mode=merge_mode),
    ])
    x, mask = padded(rng, batch, time, features, side)
    theirs = keras_out(model, x)
    ours = bidirectional_forward(x, **rnnbook.from_keras(model.layers[1]), cell=cell,
                                 merge_mode=merge_mode, mask=mask)
    assert_close(ours, theirs)
    # Bidirectional returns zeros at masked steps, in both halves
    for part in (ours if merge_mode is None else [ours]):
        assert np.all(part[~mask] == 0)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_masked_bidirectional_last_output_matches_keras(rng, keras_seed, side, cell):
    batch, time, features, hidden = 7, 9, 2, 4
    model = keras.Sequential([
        keras.Input((time, features)),
        keras.layers.Masking(mask_value=0.0),
        keras.layers.Bidirectional(make_layer(cell, hidden), merge_mode=None),
    ])
    x, mask = padded(rng, batch, time, features, side)
    ours = bidirectional_forward(x, **rnnbook.from_keras(model.layers[1]), cell=cell,
                                 merge_mode=None, mask=mask, return_sequences=False)
    theirs = keras_out(model, x)
    assert_close(ours, theirs)
    assert np.all(ours[0][0] == 0) and np.all(ours[1][0] == 0)   # the all-masked row
    # each real sequence gives what the two layers give on it alone, without padding
    params = rnnbook.from_keras(model.layers[1])
    for b in range(1, batch):
        real = x[b:b + 1, mask[b]]
        alone = bidirectional_forward(real, **params, cell=cell, merge_mode=None,
                                      return_sequences=False)
        assert_close(ours[0][b:b + 1], alone[0])
        assert_close(ours[1][b:b + 1], alone[1])


@pytest.mark.parametrize("side", ["right", "left"])
def test_embedding_mask_zero_model_matches_keras(rng, keras_seed, side):
    batch, time, vocab, dim = 8, 13, 12, 4
    model = keras.Sequential([
        keras.Input((time,), dtype="int32"),
        keras.layers.Embedding(vocab, dim, mask_zero=True),
        keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True), merge_mode="ave"),
        keras.layers.GRU(3),
    ])
    _, mask = padded(rng, batch, time, 1, side)
    tokens = (rng.integers(1, vocab, size=(batch, time)) * mask).astype(np.int32)
    table = np.asarray(model.layers[0].embeddings)
    x = table[tokens]                                    # padding rows look up token 0
    h = bidirectional_forward(x, **rnnbook.from_keras(model.layers[1]), cell="lstm",
                              merge_mode="ave", mask=tokens != 0)
    ours = layer_forward(h, rnnbook.from_keras(model.layers[2]), "gru", mask=tokens != 0)[:, -1]
    assert_close(ours, keras_out(model, tokens))


def test_mask_of_ones_changes_nothing(rng):
    H, D = 4, 3
    params = {"W_x": rng.normal(size=(3 * H, D)), "W_h": rng.normal(size=(3 * H, H)),
              "b_x": rng.normal(size=3 * H), "b_h": rng.normal(size=3 * H)}
    x = rng.normal(size=(3, 6, D))
    ones = np.ones((3, 6), dtype=int)                    # 0/1 integers are accepted
    for merge_mode in ("concat", "mul"):
        np.testing.assert_allclose(
            bidirectional_forward(x, params, params, "gru", merge_mode=merge_mode, mask=ones),
            bidirectional_forward(x, params, params, "gru", merge_mode=merge_mode), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# error paths


@pytest.fixture
def lstm_params(rng):
    H, D = 3, 2
    return {"W_x": rng.normal(size=(4 * H, D)), "W_h": rng.normal(size=(4 * H, H)),
            "b": rng.normal(size=4 * H)}


def test_cell_names_and_merge_modes_are_keras_s():
    assert set(CELL_PARAMS) == {"simple", "lstm", "gru"}
    assert MERGE_MODES == ("concat", "sum", "ave", "mul", None)


def test_unknown_cell_is_rejected(lstm_params):
    x = np.zeros((2, 4, 2))
    with pytest.raises(ValueError, match=r"cell must be one of .*'LSTM'"):
        bidirectional_forward(x, lstm_params, lstm_params, "LSTM")
    with pytest.raises(ValueError, match="cell must be one of"):
        layer_forward(x, lstm_params, "elman")


def test_unknown_merge_mode_is_rejected(lstm_params):
    with pytest.raises(ValueError, match=r"merge_mode must be one of .*'average'"):
        bidirectional_forward(np.zeros((2, 4, 2)), lstm_params, lstm_params, "lstm",
                              merge_mode="average")


def test_parameters_of_another_cell_are_named(lstm_params):
    x = np.zeros((2, 4, 2))
    with pytest.raises(ValueError, match=r"backward must have the keys .* of a 'gru' layer.*"
                                         r"the keys of a 'lstm' layer"):
        bidirectional_forward(x, {"W_x": 0, "W_h": 0, "b_x": 0, "b_h": 0}, lstm_params, "gru")
    with pytest.raises(ValueError, match=r"params must have the keys \['W_h', 'W_x', 'b_h'\]"):
        layer_forward(x, lstm_params, "simple")


def test_whole_bidirectional_dict_passed_as_one_argument_is_explained(lstm_params):
    both = {"forward": lstm_params, "backward": lstm_params}
    with pytest.raises(ValueError, match=r"forward must have the keys .*\['backward', 'forward'\]"):
        bidirectional_forward(np.zeros((2, 4, 2)), both, lstm_params, "lstm")


def test_parameters_must_be_a_dict(lstm_params):
    with pytest.raises(TypeError, match="forward must be a dict .* got tuple"):
        bidirectional_forward(np.zeros((2, 4, 2)), tuple(lstm_params.values()), lstm_params,
                              "lstm")


def test_bad_weight_shapes_name_the_direction(lstm_params):
    bad = dict(lstm_params, W_h=np.zeros((12, 4)))
    with pytest.raises(ValueError, match=r"^backward: .*W_h"):
        bidirectional_forward(np.zeros((2, 4, 2)), lstm_params, bad, "lstm")
    with pytest.raises(ValueError, match=r"^forward: .*x"):
        bidirectional_forward(np.zeros((2, 4, 5)), lstm_params, lstm_params, "lstm")


def test_x_must_be_three_dimensional(lstm_params):
    with pytest.raises(ValueError, match=r"x must have 3 dimensions .*got shape \(4, 2\)"):
        bidirectional_forward(np.zeros((4, 2)), lstm_params, lstm_params, "lstm")


def test_mask_shape_and_values_are_checked(lstm_params):
    x = np.zeros((2, 4, 2))
    with pytest.raises(ValueError, match=r"mask must have shape \(batch, time\) = \(2, 4\) .*"
                                         r"got mask of shape \(2, 4, 1\)"):
        bidirectional_forward(x, lstm_params, lstm_params, "lstm", mask=np.ones((2, 4, 1)))
    with pytest.raises(ValueError, match=r"mask must have shape .*got mask of shape \(4, 2\)"):
        layer_forward(x, lstm_params, "lstm", mask=np.ones((4, 2), dtype=bool))
    with pytest.raises(ValueError, match="mask must be boolean or hold only 0 and 1"):
        bidirectional_forward(x, lstm_params, lstm_params, "lstm", mask=np.full((2, 4), 0.5))


def test_elementwise_merges_need_equal_widths(rng, lstm_params):
    wider = {"W_x": rng.normal(size=(20, 2)), "W_h": rng.normal(size=(20, 5)),
             "b": rng.normal(size=20)}
    x = rng.normal(size=(2, 4, 2))
    out = bidirectional_forward(x, lstm_params, wider, "lstm")     # concat: any widths
    assert out.shape == (2, 4, 3 + 5)
    with pytest.raises(ValueError, match=r"merge_mode 'sum' needs .* same width.*"
                                         r"\(2, 4, 3\) \(forward\) and \(2, 4, 5\) \(backward\)"):
        bidirectional_forward(x, lstm_params, wider, "lstm", merge_mode="sum")
