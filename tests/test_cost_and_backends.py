"""rnnbook.cost (the matrix-product count of chapter 18) and rnnbook.backends (run_on_backend)."""

import keras
import numpy as np
import pytest

import rnnbook
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


def test_run_on_backend_reports_the_childs_error():
    with pytest.raises(RuntimeError, match=r"the numpy process failed:(.|\n)*ZeroDivisionError"):
        rnnbook.run_on_backend("numpy", "1 / 0")


@pytest.mark.parametrize("args, message", [
    (("theano", "pass"), "backend must be one of"),
    (("jax", b"pass"), "body must be a string of Python code; got bytes"),
    (("jax", "pass", [1, 2]), "inputs must be a dict of arrays; got list"),
])
def test_run_on_backend_rejects_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        rnnbook.run_on_backend(*args)
