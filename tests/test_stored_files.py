"""rnnbook.stored: the stored weights and benchmark results ship inside rnnbook, checked on load.

Every test that writes uses a temporary folder through the private ``folder`` parameters of
``rnnbook.stored``; none writes into the installed package.
"""

import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnnbook
import rnnbook.data
from rnnbook import stored
from rnnbook.stored import (CHECKSUMS, STORED_FILES, _load_stored, _read_checksums,
                            _save_stored, encode_stored, load_stored, stored_path)

ROOT = Path(__file__).resolve().parents[1]
#: The files the chapters read (and the chapters that read them).
CHAPTER_FILES = {"forecasting_weights.npz": "13", "char_model_weights.npz": "15",
                 "seq2seq_weights.npz": "16", "forecasting_conv1d.npz": "13",
                 "classifier_weights.npz": "14",
                 "stateful_results.json": "17", "regularised_results.json": "18",
                 "scaling.json": "20", "scan_timing.json": "21", "min_rnns_results.json": "22"}


# --- the shipped files ---------------------------------------------------------------------

def test_every_stored_file_is_listed_and_verifies():
    listed = _read_checksums(STORED_FILES)
    present = {p.name for p in STORED_FILES.iterdir()
               if not p.name.startswith(".")} - {CHECKSUMS}     # not a save in progress
    assert present == set(listed)
    assert set(CHAPTER_FILES) <= present
    for name in sorted(listed):
        data = load_stored(name)
        assert hashlib.sha256(stored_path(name).read_bytes()).hexdigest() == listed[name]
        if name.endswith(".npz"):
            assert isinstance(data, dict) and data
            assert all(isinstance(v, np.ndarray) and not v.dtype.hasobject
                       for v in data.values())


def test_the_top_level_names_are_the_module_functions():
    assert rnnbook.load_stored is load_stored
    assert rnnbook.save_stored is stored.save_stored
    assert rnnbook.stored_path is stored_path
    assert stored_path("scaling.json") == STORED_FILES / "scaling.json"


def test_the_package_data_includes_the_stored_files():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"stored_files/*"' in text and '"data_files/SHA256SUMS"' in text


# --- checksums refuse altered files -------------------------------------------------------

@pytest.fixture
def copy_of_stored(tmp_path):
    folder = tmp_path / "stored"
    shutil.copytree(STORED_FILES, folder)
    return folder


def test_a_resaved_npz_with_one_changed_weight_is_refused(copy_of_stored):
    name = "seq2seq_weights.npz"
    arrays = load_stored(name)
    key = next(k for k, v in arrays.items() if v.dtype.kind == "f" and v.size > 1)
    arrays[key] = arrays[key].copy()
    arrays[key].flat[0] += 1e-3
    np.savez_compressed(copy_of_stored / name, **arrays)      # well-formed, loads with np.load
    expected = _read_checksums(STORED_FILES)[name]
    actual = hashlib.sha256((copy_of_stored / name).read_bytes()).hexdigest()
    with pytest.raises(ValueError) as error:
        _load_stored(name, copy_of_stored)
    message = str(error.value)
    assert name in message and expected in message and actual in message


def test_a_json_with_one_changed_number_is_refused(copy_of_stored):
    path = copy_of_stored / "scaling.json"
    data = json.loads(path.read_text())
    data["sweeps"][0]["seconds"] *= 2
    path.write_text(json.dumps(data, indent=1) + "\n")
    with pytest.raises(ValueError, match=r"scaling\.json.*SHA-256"):
        _load_stored("scaling.json", copy_of_stored)


def test_a_truncated_file_is_refused(copy_of_stored):
    path = copy_of_stored / "char_model_weights.npz"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="char_model_weights.npz is damaged or was changed"):
        _load_stored("char_model_weights.npz", copy_of_stored)


def test_an_unlisted_file_is_refused(copy_of_stored):
    _save_stored("extra.json", {"a": 1}, copy_of_stored)
    listed = _read_checksums(copy_of_stored)
    del listed["extra.json"]
    stored._write_checksums(copy_of_stored, listed)
    with pytest.raises(ValueError, match=r"extra\.json is not listed in .*SHA256SUMS"):
        _load_stored("extra.json", copy_of_stored)


def test_a_missing_file_names_the_stored_files(copy_of_stored):
    with pytest.raises(FileNotFoundError, match="no stored file 'nothing.npz'.*scaling.json"):
        _load_stored("nothing.npz", copy_of_stored)


def test_a_malformed_checksum_list_is_refused(copy_of_stored):
    (copy_of_stored / CHECKSUMS).write_text("not a checksum  scaling.json\n")
    with pytest.raises(ValueError, match="SHA256SUMS, line 1"):
        _load_stored("scaling.json", copy_of_stored)


@pytest.mark.parametrize("name", ["../scaling.json", "sub/x.npz", "x\\y.npz", "/tmp/x.npz",
                                  "x.npy", "x.pkl", "scaling", ".hidden.npz", "", "a..npz",
                                  "SHA256SUMS", "x .npz"])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="plain file name"):
        load_stored(name)
    with pytest.raises(ValueError, match="plain file name"):
        stored_path(name)


def test_a_name_that_is_not_a_string_is_refused():
    with pytest.raises(TypeError, match="name must be a str"):
        load_stored(Path("scaling.json"))


# --- save and load ------------------------------------------------------------------------

def test_save_then_load_round_trip(tmp_path):
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "seed": np.int64(3),
              "words": np.array(["ab", "c"]), "loss": np.array([0.5, 0.25])}
    path = _save_stored("model.npz", arrays, tmp_path)
    assert path == tmp_path / "model.npz"
    back = _load_stored("model.npz", tmp_path)
    assert list(back) == list(arrays)
    for key, value in arrays.items():
        np.testing.assert_array_equal(back[key], value)
        assert back[key].dtype == np.asarray(value).dtype
    with np.load(path) as plain:                     # an ordinary npz for np.load too
        np.testing.assert_array_equal(plain["w"], arrays["w"])
    record = {"a": [1, 2.5, None], "b": "text"}
    _save_stored("record.json", record, tmp_path)
    assert _load_stored("record.json", tmp_path) == record
    assert set(_read_checksums(tmp_path)) == {"model.npz", "record.json"}


def test_saving_again_replaces_the_file_and_its_checksum(tmp_path):
    _save_stored("r.json", [1], tmp_path)
    _save_stored("r.json", [2], tmp_path)
    assert _load_stored("r.json", tmp_path) == [2]
    lines = (tmp_path / CHECKSUMS).read_text().splitlines()
    assert len(lines) == 1 and lines[0].endswith("  r.json")


def test_the_same_arrays_give_the_same_bytes():
    arrays = {"w": np.linspace(0, 1, 50).reshape(5, 10), "n": np.int64(4)}
    first = encode_stored("x.npz", arrays)
    assert encode_stored("x.npz", {k: np.copy(v) for k, v in arrays.items()}) == first


@pytest.mark.parametrize("name, data, error, match", [
    ("x.npz", [np.zeros(2)], TypeError, "dict of arrays"),
    ("x.npz", {"a": np.array([object()])}, ValueError, "dtype object"),
    ("x.npz", {"a/b": np.zeros(2)}, ValueError, "array names"),
    ("x.json", {"a": np.zeros(2)}, ValueError, "JSON-serialisable"),
    ("x.txt", {}, ValueError, "plain file name"),
])
def test_save_refuses_bad_data(tmp_path, name, data, error, match):
    with pytest.raises(error, match=match):
        _save_stored(name, data, tmp_path)
    assert not any(tmp_path.iterdir())


def test_saves_from_several_processes_at_once_keep_every_checksum(tmp_path):
    # The training scripts may run at the same time; each must keep the others' lines.
    import concurrent.futures
    with concurrent.futures.ProcessPoolExecutor(4) as pool:
        list(pool.map(_save_stored, [f"f{i}.json" for i in range(16)],
                      [[i] * 1000 for i in range(16)], [tmp_path] * 16))
    assert set(_read_checksums(tmp_path)) == {f"f{i}.json" for i in range(16)}
    for i in range(16):
        assert _load_stored(f"f{i}.json", tmp_path) == [i] * 1000


def test_saving_into_the_package_writes_the_package_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(stored, "STORED_FILES", tmp_path)
    path = rnnbook.save_stored("a.json", {"x": 1})
    assert path == tmp_path / "a.json" and rnnbook.load_stored("a.json") == {"x": 1}


def test_saving_to_out_writes_the_same_bytes_and_leaves_the_package_alone(monkeypatch,
                                                                          tmp_path):
    package = tmp_path / "package"
    package.mkdir()
    monkeypatch.setattr(stored, "STORED_FILES", package)
    data = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    path = rnnbook.save_stored("w.npz", data, out=tmp_path / "trial.npz")
    assert path == tmp_path / "trial.npz"
    assert path.read_bytes() == stored.encode_stored("w.npz", data)
    assert list(package.iterdir()) == []                 # no file, no SHA256SUMS line


# --- the shipped data sets of rnnbook.data ------------------------------------------------

def test_an_altered_japanese_vowels_file_is_refused(monkeypatch, tmp_path):
    folder = tmp_path / "data_files"
    shutil.copytree(rnnbook.data.DATA_FILES, folder)
    path = folder / "JapaneseVowels_TRAIN.ts.gz"
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines(keepends=True)
    last = max(i for i, line in enumerate(lines) if line.strip().endswith(":1"))
    lines[last] = lines[last].rstrip()[:-1] + "2\n"            # one changed label
    path.write_bytes(gzip.compress("".join(lines).encode("utf-8"), mtime=0))
    monkeypatch.setattr(rnnbook.data, "DATA_FILES", folder)
    with pytest.raises(ValueError, match="JapaneseVowels_TRAIN.ts.gz is damaged or was changed"):
        rnnbook.data.load_japanese_vowels("train")
    sequences, _ = rnnbook.data.load_japanese_vowels("test")      # the other file still loads
    assert len(sequences) == 370


# --- chapters that read stored files run from an empty folder ------------------------------

BOOK = ROOT / "book"
#: A file opened by a relative path: what breaks a chapter downloaded alone.
RELATIVE_OPEN = re.compile(
    r"""\b(?:np\.load|np\.loadtxt|np\.genfromtxt|open|pd\.read_csv|pd\.read_json)\(\s*f?["']"""
    r"""|Path\(\s*f?["']\.\.?/|\.\./""")


def book_notebooks() -> list[Path]:
    return sorted(p for p in BOOK.rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts)


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


STORED_CHAPTERS = [p for p in book_notebooks()
                   if any("load_stored(" in source for source in code_cells(p))]


def test_the_chapters_that_need_stored_files_read_them_through_rnnbook():
    names = {p.name[:2] for p in STORED_CHAPTERS}
    assert set(CHAPTER_FILES.values()) <= names, (
        f"chapters {sorted(set(CHAPTER_FILES.values()) - names)} do not call load_stored")
    for path in STORED_CHAPTERS:
        text = "\n".join(code_cells(path))
        for name, chapter in CHAPTER_FILES.items():
            if path.name.startswith(chapter):
                assert f'load_stored("{name}")' in text, (path.name, name)


@pytest.mark.parametrize("path", book_notebooks(), ids=lambda p: p.stem)
def test_no_notebook_opens_a_file_by_a_relative_path(path):
    # A notebook downloaded alone has no repository around it; rnnbook is all it can rely on.
    offending = [line.strip() for source in code_cells(path) for line in source.splitlines()
                 if RELATIVE_OPEN.search(line) and not line.lstrip().startswith("#")]
    assert not offending, f"{path.name} opens files beside it: {offending}"


def stored_names(path: Path) -> list[str]:
    """The names a chapter passes to ``load_stored``; every call must name its file literally."""
    text = "\n".join(code_cells(path))
    names = re.findall(r"""load_stored\(\s*["']([^"']+)["']\s*\)""", text)
    assert len(names) == text.count("load_stored("), (
        f"{path.name}: a load_stored call does not name its file as a string literal")
    return sorted(set(names))


@pytest.mark.parametrize("path", STORED_CHAPTERS, ids=lambda p: p.stem)
def test_chapter_reads_its_stored_files_from_an_empty_folder(path, tmp_path):
    """A chapter downloaded alone finds every stored file it reads, wherever it is run.

    Issue 16 §4: a reader who downloads one chapter runs it outside the repository. A fresh
    Python whose working folder is an empty temporary folder loads (and so checksum-verifies)
    every file the chapter names in a ``load_stored`` call, and writes nothing there. Together
    with ``test_no_notebook_opens_a_file_by_a_relative_path`` (nothing else is read from disk)
    and nbval, which runs every chapter whole, this covers what a downloaded chapter needs;
    executing the chapters' cells a second time here would only repeat nbval's work.
    """
    names = stored_names(path)
    assert names
    code = ("import sys, rnnbook\n"
            "for name in sys.argv[1:]:\n"
            "    assert rnnbook.load_stored(name), name\n")
    done = subprocess.run([sys.executable, "-c", code, *names], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []                # nothing written beside the chapter
