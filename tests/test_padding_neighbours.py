"""rnnbook.padding.pad_sequences and rnnbook.neighbours (DTW distances, 1-NN)."""

import keras
import numpy as np
import pytest

from rnnbook.neighbours import dtw_distances, nearest_neighbour_predict
from rnnbook.padding import pad_sequences


def ragged(rng, n=6, features=3, shortest=1, longest=9):
    return [rng.normal(size=(int(rng.integers(shortest, longest + 1)), features))
            .astype(np.float32) for _ in range(n)]


def dtw_by_definition(a, b):
    """The recursion of the module docstring, one cell at a time, with an inf border."""
    C = np.full((len(a) + 1, len(b) + 1), np.inf)
    C[0, 0] = 0.0
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = np.sum((a[i - 1].astype(np.float64) - b[j - 1]) ** 2)
            C[i, j] = cost + min(C[i - 1, j], C[i, j - 1], C[i - 1, j - 1])
    return C[-1, -1]


# ---- pad_sequences ----------------------------------------------------------------------

@pytest.mark.parametrize("padding", ["post", "pre"])
@pytest.mark.parametrize("length", [None, 12])
def test_padding_matches_keras(rng, padding, length):
    seqs = ragged(rng)
    x, mask = pad_sequences(seqs, length, padding=padding, value=-1.5)
    expected = keras.utils.pad_sequences(seqs, maxlen=length, dtype="float32",
                                         padding=padding, value=-1.5)
    np.testing.assert_array_equal(x, expected)
    assert x.dtype == np.float32 and mask.dtype == bool
    T = length or max(len(s) for s in seqs)
    assert x.shape == (len(seqs), T, 3) and mask.shape == (len(seqs), T)
    lengths = np.array([len(s) for s in seqs])
    np.testing.assert_array_equal(mask.sum(axis=1), lengths)
    steps = np.arange(T)[None, :]
    right = steps < lengths[:, None] if padding == "post" else steps >= T - lengths[:, None]
    np.testing.assert_array_equal(mask, right)
    np.testing.assert_array_equal(x[~mask], -1.5)
    np.testing.assert_array_equal(x[mask], np.concatenate(seqs))


def test_padding_mask_equals_keras_masking_layer(rng):
    seqs = ragged(rng)
    x, mask = pad_sequences(seqs)
    np.testing.assert_array_equal(np.asarray(keras.layers.Masking(0.0).compute_mask(x)), mask)


def test_padding_keeps_real_valued_inputs():
    """keras.utils.pad_sequences's default dtype int32 truncates floats; ours does not."""
    seqs = [np.array([[0.25], [0.75]]), np.array([[1.5]])]
    x, _ = pad_sequences(seqs)
    np.testing.assert_array_equal(x[:, :, 0], np.float32([[0.25, 0.75], [1.5, 0.0]]))
    assert keras.utils.pad_sequences(seqs, padding="post")[0, :, 0].tolist() == [0, 0]


@pytest.mark.parametrize("kwargs, message", [
    ({"padding": "left"}, "padding must be 'post' or 'pre'; got 'left'"),
    ({"length": 1}, r"length=1 is shorter than sequences\[0\] of shape \(2, 2\)"),
    ({"value": np.nan}, "value must be a finite number"),
])
def test_padding_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pad_sequences([np.ones((2, 2)), np.ones((1, 2))], **kwargs)


def test_padding_refuses_bad_sequences():
    with pytest.raises(ValueError, match="non-empty list"):
        pad_sequences([])
    with pytest.raises(ValueError, match=r"sequences\[1\] must have 2 dimensions"):
        pad_sequences([np.ones((2, 2)), np.ones(3)])
    with pytest.raises(ValueError, match=r"sequences\[1\] has shape \(2, 3\).* 2 features"):
        pad_sequences([np.ones((2, 2)), np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"sequences\[0\] has no time steps"):
        pad_sequences([np.ones((0, 2))])
    with pytest.raises(ValueError, match=r"sequences\[0\] contains NaN"):
        pad_sequences([np.array([[np.nan]])])
    with pytest.raises(TypeError, match="length must be an integer"):
        pad_sequences([np.ones((2, 2))], length=2.0)


# ---- DTW and 1-NN -----------------------------------------------------------------------

def test_dtw_distances_equal_the_recursion(rng):
    queries, references = ragged(rng, n=7), ragged(rng, n=5)
    d = dtw_distances(queries, references)
    expected = [[dtw_by_definition(a, b) for b in references] for a in queries]
    assert d.shape == (7, 5) and d.dtype == np.float64
    np.testing.assert_allclose(d, expected, rtol=1e-12, atol=1e-12)


def test_dtw_properties(rng):
    seqs = ragged(rng, n=5, shortest=2)
    d = dtw_distances(seqs, seqs)
    np.testing.assert_allclose(d, d.T, rtol=1e-12)                    # symmetric
    np.testing.assert_allclose(np.diag(d), 0.0, atol=1e-12)             # zero to itself
    a = seqs[0]
    stretched = np.repeat(a, 3, axis=0)                                 # same path, slower
    np.testing.assert_allclose(dtw_distances([a], [stretched]), 0.0, atol=1e-12)
    # two one-step sequences: the squared Euclidean distance of their single steps
    np.testing.assert_allclose(dtw_distances([a[:1]], [seqs[1][:1]])[0, 0],
                               np.sum((a[0].astype(float) - seqs[1][0]) ** 2), rtol=1e-12)


def test_dtw_blocks_give_the_same_answer(rng, monkeypatch):
    import rnnbook.neighbours as nb
    queries, references = ragged(rng, n=9), ragged(rng, n=4)
    whole = dtw_distances(queries, references)
    monkeypatch.setattr(nb, "_BLOCK_ELEMENTS", 1)                       # one query per block
    np.testing.assert_allclose(dtw_distances(queries, references), whole, rtol=1e-12)


def test_dtw_argument_errors():
    with pytest.raises(ValueError, match="queries must be a non-empty list"):
        dtw_distances([], [np.ones((2, 2))])
    with pytest.raises(ValueError, match="queries have 2 features per step but references have 3"):
        dtw_distances([np.ones((2, 2))], [np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"references: sequences\[0\] must have 2 dimensions"):
        dtw_distances([np.ones((2, 2))], [np.ones(2)])


def test_nearest_neighbour_predict():
    d = np.array([[3.0, 1.0, 2.0], [0.5, 0.5, 4.0]])
    labels = np.array([7, 8, 9])
    np.testing.assert_array_equal(nearest_neighbour_predict(d, labels), [8, 7])   # tie: first
    with pytest.raises(ValueError, match=r"reference_labels has shape \(2,\) but distances"):
        nearest_neighbour_predict(d, labels[:2])
    with pytest.raises(ValueError, match="distances must have 2 dimensions"):
        nearest_neighbour_predict(d[0], labels)
    with pytest.raises(ValueError, match="distances contains NaN"):
        nearest_neighbour_predict(np.full((1, 3), np.nan), labels)


def test_one_nn_on_separable_sequences(rng):
    """Sequences near +1 or -1 of random lengths: 1-NN with DTW labels them all correctly."""
    def draw(n, sign):
        return [sign + 0.1 * s for s in ragged(rng, n=n, features=2, shortest=3)]
    train = draw(4, 1.0) + draw(4, -1.0)
    test = draw(5, 1.0) + draw(5, -1.0)
    pred = nearest_neighbour_predict(dtw_distances(test, train), np.repeat([1, 0], 4))
    np.testing.assert_array_equal(pred, np.repeat([1, 0], 5))
