"""The stored output of benchmarks/bench_scaling.py, which chapter 20 (ch-speed) plots.

The chapter reads ``rnnbook/stored_files/scaling.json`` (``rnnbook.load_stored``), so the
chapter's numbers and the benchmark's are the same by construction. These tests check that the
stored file is a complete, full (not ``--quick``) run of the current script, and that the
script's own correctness check, which runs before it times a shape, works.
"""


import numpy as np
import pytest

from rnnbook import load_stored
from script_loader import load_script as _load   # tests/script_loader.py



def load_script():
    return _load("benchmarks/bench_scaling.py")


@pytest.fixture(scope="module")
def bench():
    return load_script()


@pytest.fixture(scope="module")
def stored():
    return load_stored("scaling.json")


def test_stored_results_come_from_a_full_run_of_the_current_settings(bench, stored):
    settings = {key: (list(value) if isinstance(value, tuple) else value)
                for key, value in bench.FULL.items()}
    assert stored["settings"] == {**settings, "batch": bench.BATCH, "inputs": bench.INPUTS,
                                  "quick": False}
    assert stored["backends"] == list(bench.BACKENDS)
    assert {"keras", "tensorflow", "jax"} <= set(stored["versions"])


def test_every_point_of_both_sweeps_is_stored_once(bench, stored):
    full = bench.FULL
    points = [("time", t, full["fixed_hidden"]) for t in full["time"]]
    points += [("hidden", full["fixed_time"], h) for h in full["hidden"]]
    keys = [(r["backend"], r["layer"], r["sweep"], r["time"], r["hidden"], r["pass"],
             r["contender"]) for r in stored["sweeps"]]
    expected = [(backend, layer, sweep, t, h, kind, contender)
                for backend in bench.BACKENDS for layer in bench.LAYERS
                for sweep, t, h in points for kind in ("forward", "forward+backward")
                for contender in ("rnnbook", "keras")]
    assert sorted(keys) == sorted(expected)
    for record in stored["sweeps"]:
        assert record["seconds"] > 0 and record["spread"] >= 0
        assert (record["first_call"] is None) == (record["contender"] == "rnnbook")


def test_matrix_product_speeds_cover_every_hidden_size_and_gate_count(bench, stored):
    steps = {(r["k"], r["n"] // r["k"]) for r in stored["gemm"] if r["kind"] == "step"}
    assert steps == {(h, g) for h in bench.FULL["hidden"] for g in (1, 3, 4)}
    for r in stored["gemm"]:
        assert r["gflops"] == pytest.approx(2 * r["m"] * r["k"] * r["n"] / r["seconds"] / 1e9)


def test_unroll_results_cover_both_settings_and_backends(bench, stored):
    keys = sorted((r["backend"], r["time"], r["unroll"]) for r in stored["unroll"])
    assert keys == sorted((b, t, flag) for b in bench.BACKENDS
                          for t in bench.FULL["unroll_time"] for flag in (False, True))


@pytest.mark.parametrize("layer", ["SimpleRNN", "LSTM", "GRU"])
def test_the_benchmarks_contenders_compute_the_same_thing(bench, layer):
    # make_case asserts that rnnbook and Keras agree before anything is timed; run it on a
    # tiny shape and call every contender once.
    case = bench.make_case("tensorflow", layer, 3, 4, 2, 5, np.random.default_rng(0))
    for kind in ("forward", "forward+backward"):
        assert set(case[kind]) == {"rnnbook", "keras"}
        for fn in case[kind].values():
            fn()
        assert case["first_call"][kind] > 0


def test_the_timer_interleaves_and_reports_medians(bench):
    calls = []
    result = bench.measure({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                           repeat=3, min_time=0.0, warmup=0)
    assert set(result) == {"a", "b"}
    assert calls[-6:] == ["a", "b"] * 3          # the repetitions alternate between contenders


def test_a_primed_repetition_times_a_call_that_follows_a_call_of_its_own():
    bench_rnn = _load("benchmarks/bench_rnn.py")
    calls = []
    result = bench_rnn.measure({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                               repeat=3, min_time=0.0, warmup=0, pause=0.0, prime=True)
    assert set(result) == {"a", "b"}
    assert calls[-12:] == ["a", "a", "b", "b"] * 3   # one untimed call, then the timed one
