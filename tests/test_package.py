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
