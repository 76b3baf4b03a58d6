"""The package as readers get it: importable anywhere, versioned, free of import-time effects."""

import os
import subprocess
import sys

import rnnbook


def run_python(code: str, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)


def test_version_is_a_release_string():
    major, minor, patch = rnnbook.__version__.split(".")
    assert all(part.isdigit() for part in (major, minor, patch))


def test_public_names_exist():
    for name in rnnbook.__all__:
        assert hasattr(rnnbook, name), name


def test_import_from_any_directory_has_no_side_effects(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    code = (
        "import os, sys, rnnbook\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "assert 'matplotlib' not in sys.modules\n"
        "assert not any(k.startswith('TF_') for k in os.environ)\n"
        "print(rnnbook.__version__)\n"
    )
    result = run_python(code, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == rnnbook.__version__
    assert result.stderr == ""


def test_longest_first_names_only_files_that_exist():
    """tests/conftest.py's scheduling list must follow renames, or it silently stops helping."""
    from pathlib import Path

    from conftest import LONGEST_FIRST   # tests/conftest.py

    root = Path(__file__).resolve().parents[1]
    missing = [path for path in LONGEST_FIRST if not (root / path).is_file()]
    assert not missing, f"LONGEST_FIRST names files that do not exist: {missing}"
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
