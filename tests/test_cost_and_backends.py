"""rnnbook.cost (the matrix-product count of chapter 20) and rnnbook.backends (run_on_backend)."""

import os
import signal
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import rnnbook
import rnnbook.backends
from rnnbook.cost import GATE_BLOCKS, matmul_flops

SHAPES = [(1, 1, 1, 1), (32, 10, 1, 32), (7, 13, 5, 3), (256, 100, 64, 256)]
LAYERS = [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {"reset_after": True}),
          ("GRU", {"reset_after": False})]


@pytest.mark.parametrize("name, options", LAYERS)
@pytest.mark.parametrize("batch, time, inputs, hidden", SHAPES)
def test_flops_are_two_per_weight_matrix_entry_per_sequence_step(name, options, batch, time,
                                                                 inputs, hidden):
    # Every entry of Keras's kernel and recurrent kernel is used in one multiply and one add
    # per sequence and step; biases are not counted.
    layer = getattr(keras.layers, name)(hidden, **options)
    layer.build((None, None, inputs))
    entries = layer.cell.kernel.shape[0] * layer.cell.kernel.shape[1] \
        + layer.cell.recurrent_kernel.shape[0] * layer.cell.recurrent_kernel.shape[1]
    assert matmul_flops(name, batch, time, inputs, hidden) == 2 * batch * time * entries


@pytest.mark.parametrize("name", sorted(GATE_BLOCKS))
def test_backward_pass_triples_the_count(name):
    forward = matmul_flops(name, 8, 20, 3, 16)
    assert matmul_flops(name, 8, 20, 3, 16, backward=True) == 3 * forward


@pytest.mark.parametrize("bad, message", [
    ({"layer": "RNN"}, "layer must be one of"),
    ({"batch": 0}, "batch must be a positive integer; got 0"),
    ({"time": 2.5}, "time must be a positive integer; got 2.5"),
    ({"inputs": True}, "inputs must be a positive integer; got True"),
    ({"hidden": -3}, "hidden must be a positive integer; got -3"),
])
def test_flops_reject_bad_arguments(bad, message):
    arguments = {"layer": "LSTM", "batch": 2, "time": 3, "inputs": 4, "hidden": 5, **bad}
    with pytest.raises(ValueError, match=message):
        matmul_flops(**arguments)


def test_run_on_backend_returns_the_childs_arrays():
    # The numpy backend starts fastest; the mechanism is the same for every backend.
    out = rnnbook.run_on_backend("numpy", """
result["twice"] = 2 * data["x"]
result["env"] = np.array(__import__("os").environ["RNNBOOK_TEST"])
""", {"x": np.arange(3.0)}, env={"RNNBOOK_TEST": "seen"})
    assert str(out["backend"]) == "numpy"
    np.testing.assert_array_equal(out["twice"], [0.0, 2.0, 4.0])
    assert str(out["env"]) == "seen"


def test_run_on_backend_reports_the_childs_error(light_child):
    with pytest.raises(RuntimeError, match=r"the numpy process failed \(exit code 1\):(.|\n)*ZeroDivisionError"):
        rnnbook.run_on_backend("numpy", "1 / 0")


@pytest.mark.parametrize("args, message", [
    (("theano", "pass"), "backend must be one of"),
    (("jax", b"pass"), "body must be a string of Python code; got bytes"),
    (("jax", "pass", [1, 2]), "inputs must be a dict of arrays; got list"),
])
def test_run_on_backend_rejects_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        rnnbook.run_on_backend(*args)


@pytest.mark.parametrize("integer", [np.int64, np.int32, np.int16, np.int8, np.uint8])
def test_flops_are_exact_for_numpy_integers(integer):
    # NumPy integers wrap around silently (int64 for 10**6 four times, int8 for 100 four times);
    # the count must be the exact Python int whatever integer type the sizes come in.
    size = 100 if np.iinfo(integer).max < 10**6 else 10**6
    count = matmul_flops("LSTM", *(integer(size) for _ in range(4)), backward=True)
    assert type(count) is int
    assert count == 3 * 2 * size * size * 4 * size * (size + size)


@pytest.mark.parametrize("value", [np.bool_(True), np.float64(3.0), 3.0, "3", None])
def test_flops_reject_sizes_that_are_not_integers(value):
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        matmul_flops("GRU", 2, 3, 4, value)


# The process-handling tests replace the child's preamble with one that does not import Keras
# (which takes seconds): what they test is how run_on_backend starts, waits for and reports on
# the child process, the same for any preamble.
LIGHT_PREAMBLE = """
import sys
import numpy as np
data = dict(np.load(sys.argv[1]))
result = {}
"""


@pytest.fixture
def light_child(monkeypatch):
    monkeypatch.setattr(rnnbook.backends, "_PREAMBLE", LIGHT_PREAMBLE)


def test_run_on_backend_light_child_works(light_child):
    out = rnnbook.run_on_backend("numpy", "result['y'] = data['x'] + 1", {"x": np.ones(2)})
    np.testing.assert_array_equal(out["y"], [2.0, 2.0])


def test_run_on_backend_reports_the_exit_code(light_child):
    with pytest.raises(RuntimeError, match=r"the numpy process failed \(exit code 3\)"):
        rnnbook.run_on_backend("numpy", "import os; os._exit(3)")


def test_run_on_backend_reports_the_signal(light_child):
    body = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    with pytest.raises(RuntimeError, match=r"the numpy process failed \(killed by signal "
                                           r"SIGKILL\)"):
        rnnbook.run_on_backend("numpy", body)


def test_run_on_backend_reports_a_child_that_stored_no_results(light_child):
    with pytest.raises(RuntimeError, match="the numpy process exited normally but "
                                           "returned no results"):
        rnnbook.run_on_backend("numpy", "import sys; sys.exit(0)")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find the grandchild")
def test_run_on_backend_timeout_ends_the_childs_children_too(light_child, tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    body = f"""
import subprocess, time
sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open({str(pid_file)!r}, "w").write(str(sleeper.pid))
time.sleep(120)
"""
    # 3 s: time enough for the light child to start its sleeper, even on a busy machine
    with pytest.raises(TimeoutError, match="the numpy process did not finish within 3 s"):
        rnnbook.run_on_backend("numpy", body, timeout=3)
    grandchild = int(pid_file.read_text())
    for _ in range(50):                      # the kill is sent; give the kernel a moment
        if not _alive(grandchild):
            break
        time.sleep(0.1)
    else:
        os.kill(grandchild, signal.SIGKILL)  # do not leave it behind even when failing
        pytest.fail(f"the grandchild {grandchild} survived the timeout")
