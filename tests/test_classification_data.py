"""rnnbook.data.load_japanese_vowels: the shipped JapaneseVowels files, read offline."""

import gzip
import hashlib

import numpy as np
import pytest

from rnnbook.data import DATA_FILES, _read_ts, load_japanese_vowels

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
