"""Stored results that ship inside rnnbook: trained weights and benchmark measurements.

Some chapters need results that take minutes to hours to compute (a character model trained for
40 epochs, timings on a quiet machine). A script under ``scripts/`` or ``benchmarks/`` computes
them once and stores them in ``rnnbook/stored_files/``; the chapter reads them with
:func:`load_stored`. Because the files are package data of rnnbook, a chapter notebook runs
wherever rnnbook is installed, also when it is downloaded alone.

Every stored file is listed in ``rnnbook/stored_files/SHA256SUMS`` with its SHA-256 checksum
(one line ``<sha256>  <name>``, the format of ``sha256sum``). :func:`load_stored` computes the
checksum of the bytes it reads and refuses a file whose checksum differs from the listed one, or
that is not listed: a damaged download or a file changed by hand gives a clear error rather than
different numbers. :func:`save_stored` writes a file and its checksum line together.

Two kinds of file, told apart by the name's suffix:

* ``.npz``: a dictionary of NumPy arrays (no pickled objects), written with fixed zip
  timestamps so that the same arrays always give the same bytes (and the same checksum);
* ``.json``: any JSON value, written with ``json.dumps(data, indent=1)`` and a final newline.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["STORED_FILES", "SUFFIXES", "stored_path", "load_stored", "save_stored",
           "encode_stored", "verify_file"]

#: The folder of the stored files, inside the installed package.
STORED_FILES = Path(__file__).resolve().parent / "stored_files"

#: The suffixes a stored file's name may end in.
SUFFIXES = (".npz", ".json")

#: The name of the checksum list in a folder of stored (or shipped) files.
CHECKSUMS = "SHA256SUMS"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)                    # the earliest time a zip file can record


def _check_name(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str such as 'seq2seq_weights.npz'; "
                        f"got {type(name).__name__} {name!r}")
    if not name.endswith(SUFFIXES) or not _NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"name must be a plain file name (letters, digits, '_', '-', '.'; no folders) "
            f"ending in {' or '.join(SUFFIXES)}; got {name!r}")
    return name


def _read_checksums(folder: Path) -> dict[str, str]:
    sums = folder / CHECKSUMS
    if not sums.exists():
        return {}
    listed = {}
    for number, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            raise ValueError(f"{sums}, line {number}: expected '<sha256>  <name>'; "
                             f"got {line!r}")
        listed[parts[1].lstrip("*")] = parts[0]
    return listed


def _write_checksums(folder: Path, listed: Mapping[str, str]) -> None:
    text = "".join(f"{listed[name]}  {name}\n" for name in sorted(listed))
    _replace_bytes(folder / CHECKSUMS, text.encode("utf-8"))


def _replace_bytes(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file, so a reader never sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def verify_file(path: Path | str) -> bytes:
    """Read a file and check its SHA-256 against the ``SHA256SUMS`` list in its folder.

    Used for every file rnnbook ships: the stored results here and the data sets of
    :mod:`rnnbook.data`.

    Args:
        path: the file; its folder holds a ``SHA256SUMS`` file listing it.

    Returns:
        The file's bytes, checked (parse these rather than reading the file again).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not listed, or its checksum is not the listed one; the
            message names the file and both checksums.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    content = path.read_bytes()
    actual = hashlib.sha256(content).hexdigest()
    listed = _read_checksums(path.parent).get(path.name)
    if listed is None:
        raise ValueError(
            f"{path.name} is not listed in {path.parent / CHECKSUMS} (its SHA-256 is "
            f"{actual}); rnnbook reads only the files it ships or that save_stored wrote")
    if actual != listed:
        raise ValueError(
            f"{path} is damaged or was changed: its SHA-256 is {actual}, but "
            f"{CHECKSUMS} lists {listed}. Reinstall rnnbook (or re-run the script that "
            f"writes {path.name}) to get the stored file back")
    return content


def stored_path(name: str) -> Path:
    """The path of the stored file ``name`` inside the installed package.

    Args:
        name: a file name such as ``"seq2seq_weights.npz"`` or ``"scaling.json"`` (no folders).

    Returns:
        ``rnnbook/stored_files/<name>``; the file need not exist (``save_stored`` creates it).
        Read it with :func:`load_stored`, which checks it.
    """
    return _stored_path(name, STORED_FILES)


def _stored_path(name, folder: Path) -> Path:
    return Path(folder) / _check_name(name)


def load_stored(name: str) -> Any:
    """Read a stored file, after checking its SHA-256 against ``SHA256SUMS``.

    Args:
        name: the file's name in ``rnnbook/stored_files/``, ending in ``.npz`` or ``.json``.

    Returns:
        For ``.npz``, a ``dict`` from each array's name to the array (all read into memory;
        the file is closed). For ``.json``, the parsed value.

    Raises:
        FileNotFoundError: no stored file has that name (the message lists those that exist).
        ValueError: a bad name, or the file is damaged, changed or not listed in
            ``SHA256SUMS`` (the message names the file and both checksums).
    """
    return _load_stored(name, STORED_FILES)


def _load_stored(name, folder: Path) -> Any:
    path = _stored_path(name, folder)
    if not path.is_file():
        available = sorted(_read_checksums(Path(folder)))
        raise FileNotFoundError(f"no stored file {name!r} in {folder}; the stored files are "
                                f"{', '.join(available) or 'none'}")
    content = verify_file(path)
    if name.endswith(".json"):
        return json.loads(content.decode("utf-8"))
    with np.load(io.BytesIO(content), allow_pickle=False) as arrays:
        return {key: arrays[key] for key in arrays.files}


def encode_stored(name: str, data: Any) -> bytes:
    """The bytes :func:`save_stored` writes for ``data`` (the same data give the same bytes).

    Args:
        name: the file's name; its suffix picks the format.
        data: for ``.npz``, a mapping from str keys to arrays (or anything ``np.asarray``
            turns into a non-object array); for ``.json``, a JSON-serialisable value.

    Returns:
        The file's content: for ``.npz`` a compressed zip of ``.npy`` members with fixed
        timestamps, in the mapping's order; for ``.json`` ``json.dumps(data, indent=1)``
        plus a newline, UTF-8.
    """
    name = _check_name(name)
    if name.endswith(".json"):
        try:
            return (json.dumps(data, indent=1) + "\n").encode("utf-8")
        except (TypeError, ValueError) as error:
            raise ValueError(f"data for {name} must be JSON-serialisable: {error}") from None
    if not isinstance(data, Mapping):
        raise TypeError(f"data for {name} must be a dict of arrays; "
                        f"got {type(data).__name__}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in data.items():
            if not isinstance(key, str) or not _NAME.fullmatch(key):
                raise ValueError(f"data for {name}: array names must be plain identifiers; "
                                 f"got {key!r}")
            array = np.asanyarray(value)
            if array.dtype.hasobject:
                raise ValueError(f"data for {name}: array {key!r} has dtype object, which "
                                 f"would need pickle; store numbers or strings")
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return buffer.getvalue()


#: The help text of the book's scripts' ``--out`` option, which :func:`save_stored` serves.
OUT_HELP = ("write here instead of rnnbook/stored_files (the chapters read only that folder; "
            "SHA256SUMS is then not updated)")


def save_stored(name: str, data: Any, out: Path | str | None = None) -> Path:
    """Write a stored file and its checksum line in ``SHA256SUMS`` (for the book's scripts).

    The training scripts and the benchmark call this; a chapter then reads the result with
    :func:`load_stored`. Writing the same data again gives the same bytes.

    Args:
        name: the file's name, ending in ``.npz`` (``data`` a dict of arrays) or ``.json``
            (``data`` any JSON value).
        data: what to store (see :func:`encode_stored`).
        out: None (the default) to store the file in the package; or a path to write the
            same bytes to instead, leaving the package and ``SHA256SUMS`` alone (the scripts'
            ``--out`` option: a trial run that the chapters do not read).

    Returns:
        The path written, ``rnnbook/stored_files/<name>`` or ``out``.
    """
    if out is not None:
        out = Path(out)
        out.write_bytes(encode_stored(name, data))
        return out
    return _save_stored(name, data, STORED_FILES)


def _save_stored(name, data, folder: Path) -> Path:
    content = encode_stored(name, data)
    folder = Path(folder)
    path = _stored_path(name, folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):                 # two scripts saving at once keep both checksums
        listed = _read_checksums(folder)
        _replace_bytes(path, content)
        listed[name] = hashlib.sha256(content).hexdigest()
        _write_checksums(folder, listed)
    return path


@contextmanager
def _locked(folder: Path):
    """Hold an exclusive lock on ``folder`` (POSIX ``flock``; no lock where there is none)."""
    try:
        import fcntl
    except ImportError:                   # Windows: scripts are run one at a time there
        yield
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)              # closing releases the lock
