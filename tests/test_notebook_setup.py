"""rnnbook.setup(): the reproducibility kit every chapter's first cell calls."""

import os
import subprocess
import sys

import keras   # imported before the tests, as in a chapter after setup(); some tests need it
import numpy as np
import pytest

import rnnbook


def run_fresh(code: str, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


TF_CHILD = (
    "import rnnbook\n"
    "rng = rnnbook.setup(seed=11)\n"
    "import keras, numpy as np\n"
    "layer = keras.layers.SimpleRNN(3)\n"
    "out = layer(np.ones((2, 5, 4), dtype='float32'))\n"
    "print(out.shape)\n"
    "print(np.asarray(layer.cell.kernel).tobytes().hex())\n"
)


@pytest.fixture(scope="module")
def tensorflow_child(tmp_path_factory):
    """A chapter's opening, run in a fresh process (TensorFlow loads in it)."""
    return run_fresh(TF_CHILD, tmp_path_factory.mktemp("setup"))


def test_setup_then_keras_prints_nothing_to_stderr(tensorflow_child):
    assert tensorflow_child.returncode == 0, tensorflow_child.stderr
    assert tensorflow_child.stderr == ""
    assert tensorflow_child.stdout.splitlines()[0] == "(2, 3)"


def test_same_seed_gives_identical_keras_weights_in_a_fresh_process(tensorflow_child):
    """The child's first layer has the weights that this process, with its own history of
    random draws, gives the same layer after seeding Keras with the same seed."""
    assert tensorflow_child.returncode == 0, tensorflow_child.stderr
    keras.layers.Dense(2).build((None, 3))              # draws from every random source
    np.random.random(3)
    rnnbook.notebook.seed_keras(11)                     # what setup(seed=11) does to Keras
    layer = keras.layers.SimpleRNN(3)
    layer(np.ones((2, 5, 4), dtype="float32"))
    here = np.asarray(layer.cell.kernel).tobytes().hex()
    assert tensorflow_child.stdout.splitlines()[1] == here


JAX_CHILD = """
import os, sys
import rnnbook
rnnbook.setup(seed=4)
import keras, numpy as np
assert keras.backend.backend() == "jax"
print("tensorflow imported:", "tensorflow" in sys.modules)
from keras.src.utils.rng_utils import get_random_seed
print("keras seed:", get_random_seed())

def draws():
    normal = keras.ops.convert_to_numpy(keras.random.normal((3,)))
    kernel = keras.ops.convert_to_numpy(keras.initializers.GlorotUniform()((2, 3)))
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    return np.concatenate([normal.ravel(), kernel.ravel(),
                           np.asarray(layer.kernel).ravel(), np.random.random(2)])

first = draws()
rnnbook.setup(seed=4)
again = draws()
keras.utils.set_random_seed(4)            # Keras's own seeding (it imports TensorFlow)
reference = draws()
rnnbook.setup(seed=5)
other = draws()
print("repeats:", np.array_equal(first, again))
print("as set_random_seed:", np.array_equal(first, reference))
print("seed 5 differs:", not np.allclose(first, other))
"""


def test_setup_on_jax_does_not_import_tensorflow_and_seeds_like_keras(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", JAX_CHILD], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "tensorflow imported: False", "keras seed: 4", "repeats: True",
        "as set_random_seed: True", "seed 5 differs: True"], result.stdout + result.stderr


@pytest.mark.parametrize("content, expected", [
    (None, "tensorflow"), ('{"backend": "jax"}', "jax"), ('{"floatx": "float32"}', "tensorflow"),
    ("not json", "tensorflow"),
])
def test_keras_backend_follows_keras_rules_without_importing_it(monkeypatch, tmp_path,
                                                                  content, expected):
    from rnnbook.notebook import _keras_backend

    monkeypatch.delitem(sys.modules, "keras")            # as before Keras's first import
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    if content is not None:
        (tmp_path / "keras.json").write_text(content)
    assert _keras_backend() == expected
    monkeypatch.setenv("KERAS_BACKEND", "torch")         # the variable wins over the file
    assert _keras_backend() == "torch"
    monkeypatch.setenv("KERAS_BACKEND", "")              # ... unless it is empty
    assert _keras_backend() == expected


def test_keras_backend_asks_keras_once_it_is_imported(monkeypatch):
    from rnnbook.notebook import _keras_backend

    monkeypatch.setenv("KERAS_BACKEND", "jax")           # too late: Keras runs on TensorFlow
    assert _keras_backend() == "tensorflow"


def test_seed_keras_rejects_a_non_integer_seed():
    with pytest.raises(ValueError):
        rnnbook.notebook.seed_keras(1.5)


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
    import tensorflow  # noqa: F401  (Keras, imported above, imported it already)

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
