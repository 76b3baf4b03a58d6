"""rnnbook.setup(): the reproducibility kit every chapter's first cell calls."""

import os
import subprocess
import sys

import numpy as np
import pytest

import rnnbook


def run_fresh(code: str, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_setup_then_keras_prints_nothing_to_stderr(tmp_path):
    code = (
        "import rnnbook\n"
        "rng = rnnbook.setup(seed=3)\n"
        "import keras, numpy as np\n"
        "layer = keras.layers.SimpleRNN(4)\n"
        "out = layer(np.ones((2, 5, 1), dtype='float32'))\n"
        "print(out.shape)\n"
    )
    result = run_fresh(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.strip() == "(2, 4)"


def test_same_seed_gives_identical_keras_weights_in_fresh_processes(tmp_path):
    code = (
        "import rnnbook\n"
        "rnnbook.setup(seed=11)\n"
        "import keras, numpy as np\n"
        "layer = keras.layers.SimpleRNN(3)\n"
        "layer.build((None, 4, 2))\n"
        "print(np.asarray(layer.cell.kernel).tobytes().hex())\n"
    )
    first, second = run_fresh(code, tmp_path), run_fresh(code, tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout


def test_setup_returns_a_seeded_generator_and_sets_environment():
    rng = rnnbook.setup(seed=5, keras=False)
    assert isinstance(rng, np.random.Generator)
    assert rng.random() == np.random.default_rng(5).random()
    for key, value in rnnbook.notebook.TF_ENVIRONMENT.items():
        assert os.environ[key] == value
    assert np.get_printoptions()["precision"] == 4


def test_setup_seeds_numpy_global_state():
    rnnbook.setup(seed=9, keras=False)
    a = np.random.random(3)
    rnnbook.setup(seed=9, keras=False)
    np.testing.assert_array_equal(a, np.random.random(3))


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_setup_rejects_bad_seed(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        rnnbook.setup(seed=seed, keras=False)


def test_setup_warns_when_tensorflow_came_first(monkeypatch):
    import tensorflow  # noqa: F401  (conftest imported it already)

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    with pytest.warns(UserWarning, match="after TensorFlow was imported"):
        rnnbook.setup(seed=0, keras=False)


@pytest.mark.parametrize("difference, expected", [
    (0, 0.0), (3.2e-7, 1e-6), (1e-6, 1e-6), (0.5, 1.0), (7, 10.0), (np.float32(2e-8), 1e-7),
])
def test_power_of_ten_above_rounds_up_to_a_power_of_ten(difference, expected):
    assert rnnbook.power_of_ten_above(difference) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("bad", [-1e-9, float("nan"), float("inf")])
def test_power_of_ten_above_rejects_negative_and_non_finite_numbers(bad):
    with pytest.raises(ValueError, match="difference must be a finite non-negative number"):
        rnnbook.power_of_ten_above(bad)
