"""rnnbook.data.load_japanese_vowels: the shipped JapaneseVowels files, read offline; and the
stored weights of chapter 14, which scripts/train_classifier.py trains.

The stored weights are checked by re-running the script's first epoch of the seed-1 unmasked
GRU and Conv1D networks; the chapter itself re-runs the masked GRU's first epoch. The
pre-padded GRU is trained by the same function as the unmasked one, on the pre-padded array
that test_prepared_arrays_are_the_chapters checks, so it is not re-run. On the machine that
trained them the rerun reproduces the stored weights to 0.0; atol 1e-5 leaves room for another
CPU's rounding over one epoch of 9 Adam steps. Each rerun costs about 1.5 s of CPU time (2.5 s
of wall time under load), nearly all of it TensorFlow tracing the training step.
"""

import gzip
import hashlib

import numpy as np
import pytest

import rnnbook
from rnnbook.data import DATA_FILES, _read_ts, load_japanese_vowels
from script_loader import load_script   # tests/script_loader.py

START_ATOL = 1e-5

#: SHA-256 of the uncompressed .ts files as shipped in the aeon 1.6.0 wheel
#: (aeon/datasets/data/JapaneseVowels/), i.e. the UEA archive's files.
ARCHIVE_SHA256 = {
    "TRAIN": "68a430eabd919cc77f40b1f5f3bc0dcafacc1486bca9260785aeb7d262cc78cd",
    "TEST": "b3d41d6a0ca3bcad3afb9ca7d4365382aa51341e2e58bae2a574babdda5b9462",
}


@pytest.mark.parametrize("split", ["TRAIN", "TEST"])
def test_shipped_files_are_the_archive_files(split):
    with gzip.open(DATA_FILES / f"JapaneseVowels_{split}.ts.gz", "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == ARCHIVE_SHA256[split]


@pytest.mark.parametrize("split, n, longest, per_class", [
    ("train", 270, 26, [30] * 9),
    ("test", 370, 29, [31, 35, 88, 44, 29, 24, 40, 50, 29]),
])
def test_official_split_shapes_and_dtypes(no_network, split, n, longest, per_class):
    sequences, labels = load_japanese_vowels(split)
    assert isinstance(sequences, list) and len(sequences) == n
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert np.bincount(labels).tolist() == per_class          # speakers 0..8
    lengths = [s.shape[0] for s in sequences]
    assert min(lengths) == 7 and max(lengths) == longest
    for s in sequences:
        assert s.dtype == np.float32 and s.ndim == 2 and s.shape[1] == 12
        assert np.all(np.isfinite(s))


def test_first_training_case_matches_the_file():
    sequences, labels = load_japanese_vowels("train")
    assert sequences[0].shape == (20, 12) and labels[0] == 0
    # the file stores channel by channel: channel 1 starts 1.860936, 1.891651; channel 2 -0.207383
    np.testing.assert_array_equal(sequences[0][:2, 0], np.float32([1.860936, 1.891651]))
    assert sequences[0][0, 1] == np.float32(-0.207383)


def test_bad_split_is_refused():
    with pytest.raises(ValueError, match="split must be 'train' or 'test'; got 'validation'"):
        load_japanese_vowels("validation")


def test_ts_parser_checks_its_lines():
    good = ["# comment", "@dimensions 2", "@data", "1,2,3:4,5,6:b", "7,8:9,10:a"]
    sequences, labels = _read_ts(good, "good.ts")
    assert [s.shape for s in sequences] == [(3, 2), (2, 2)] and labels.tolist() == ["b", "a"]
    np.testing.assert_array_equal(sequences[0], np.float32([[1, 4], [2, 5], [3, 6]]))
    with pytest.raises(ValueError, match="bad.ts, line 3: 1 channels, expected 2"):
        _read_ts(["@dimensions 2", "@data", "1,2:a"], "bad.ts")
    with pytest.raises(ValueError, match="channels of different lengths"):
        _read_ts(["@data", "1,2:3:a"], "bad.ts")
    with pytest.raises(ValueError, match="no data lines"):
        _read_ts(["# nothing"], "empty.ts")


# --- the stored weights of chapter 14 -------------------------------------------------------

def _script():
    return load_script("scripts/train_classifier.py")


def test_stored_runs_cover_every_variant_and_seed():
    script = _script()
    stored = rnnbook.load_stored(script.WEIGHTS)
    assert tuple(stored["seeds"]) == script.SEEDS and int(stored["epochs"]) == script.EPOCHS
    assert [name for name, _ in script.run_order()].count("masked") == len(script.SEEDS)
    for variant in script.VARIANTS:
        model = (script.conv_speaker_model() if variant == "conv"
                 else script.speaker_model(variant == "masked"))
        shapes = [w.shape for w in model.get_weights()]
        for seed in script.SEEDS:
            name = f"{variant}_seed{seed}"
            final = [stored[f"{name}__final__{i}"] for i in range(len(shapes))]
            assert [w.shape for w in final] == shapes, name
            assert f"{name}__final__{len(shapes)}" not in stored
            for what in ("loss", "accuracy"):
                assert stored[f"{name}__{what}"].shape == (script.EPOCHS,), name
            assert stored[f"{name}__accuracy"][-1] > 0.95, name
            assert (f"{name}__epoch1__0" in stored) == (seed == script.SEEDS[0])


def test_prepared_arrays_are_the_chapters():
    data = _script().prepare()
    assert data["x_train"].shape == data["x_pre"].shape == (270, 26, 12)
    assert data["x_train"].dtype == np.float32 and data["m_train"].dtype == bool
    lengths = data["m_train"].sum(axis=1)
    assert lengths.min() == 7 and lengths.max() == 26 and data["y_train"].shape == (270,)
    real = data["x_train"][data["m_train"]]                 # standardised real frames
    np.testing.assert_allclose(real.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(real.std(axis=0), 1, atol=1e-5)
    np.testing.assert_array_equal(data["x_pre"][:, -1], data["x_train"][np.arange(270),
                                                                        lengths - 1])


@pytest.mark.parametrize("variant", ["unmasked", "conv"])
def test_first_epoch_of_the_script_reproduces_the_stored_weights(variant):
    script = _script()
    stored = rnnbook.load_stored(script.WEIGHTS)
    start: list = []
    model = script.train_variant(variant, 1, script.prepare(), epochs=1,
                                 callbacks=[script.first_epoch_recorder(start)])
    name = f"{variant}_seed1"
    assert len(start) == len(model.get_weights()) > 0
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_array_equal(w, start[i])
        np.testing.assert_allclose(w, stored[f"{name}__epoch1__{i}"], atol=START_ATOL,
                                   err_msg=f"{name} weight {i}")
    np.testing.assert_allclose(model.history.history["loss"][0], stored[f"{name}__loss"][0],
                               rtol=1e-5)


def test_an_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="variant must be one of"):
        _script().train_variant("lstm", 1, {"x_train": None, "m_train": None,
                                            "y_train": None})
