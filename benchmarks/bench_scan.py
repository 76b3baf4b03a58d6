#!/usr/bin/env python3
"""Time of the linear recurrence h_t = a_t * h_{t-1} + b_t against T on the CPU (chapter 21).

    .venv/bin/python benchmarks/bench_scan.py            # the full sweep, 3-11 minutes
    .venv/bin/python benchmarks/bench_scan.py --quick    # a smoke run (the test suite's)
    .venv/bin/python benchmarks/bench_scan.py --out /tmp/scan.json

Contenders, all float32 at batch 16 and 64 hidden units, forward and forward + backward
(gradients of ``sum(h * dh)`` with respect to ``a`` and ``b``):

* ``lax.scan``: ``jax.lax.scan`` over time, one step per iteration, under ``jax.jit``;
* ``associative_scan``: ``jax.lax.associative_scan`` with ``rnnbook.scan.scan_combine``, jitted;
* ``rnnbook sequential`` and ``rnnbook parallel``: ``rnnbook.linear_scan`` (and
  ``linear_scan_backward``) with each method, in NumPy.

Before timing a length the script asserts that the four agree. Times are the median over
``--repeat`` repetitions of the mean per-call time of a loop sized to take ``--min-time``
seconds (``bench_rnn.measure``). JAX runs on its CPU backend with the devices XLA sees by
default; the machine's core count and load average (before and after) are stored with the
results, because a loaded machine slows every contender. The results go to
``rnnbook/stored_files/scan_timing.json`` through ``rnnbook.save_stored`` (chapter 21 reads it
with ``rnnbook.load_stored``), or to ``--out`` when given, and a table is printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rnn import measure  # noqa: E402

import rnnbook  # noqa: E402
from rnnbook.scan import scan_combine  # noqa: E402

STORED_NAME = "scan_timing.json"
BATCH, HIDDEN = 16, 64
FULL = {"time": (16, 64, 256, 1024, 4096, 16384), "repeat": 5, "min_time": 0.1, "warmup": 2}
QUICK = {"time": (16, 64), "repeat": 1, "min_time": 0.001, "warmup": 1}
CONTENDERS = ("lax.scan", "associative_scan", "rnnbook sequential", "rnnbook parallel")
PASSES = ("forward", "forward+backward")


def jax_functions(a: np.ndarray, b: np.ndarray, dh: np.ndarray) -> dict:
    """The jitted JAX contenders as ``{(name, pass): fn}``; each fn returns NumPy arrays."""
    def by_loop(a, b):
        def step(h, ab):
            h = ab[0] * h + ab[1]
            return h, h
        _, h = jax.lax.scan(step, jnp.zeros_like(b[:, 0]), (jnp.swapaxes(a, 0, 1),
                                                             jnp.swapaxes(b, 0, 1)))
        return jnp.swapaxes(h, 0, 1)

    def by_tree(a, b):
        return jax.lax.associative_scan(scan_combine, (a, b), axis=1)[1]

    a, b, dh = (jnp.asarray(x) for x in (a, b, dh))
    functions = {}
    for name, states in (("lax.scan", by_loop), ("associative_scan", by_tree)):
        forward = jax.jit(states)
        # dh is an argument, not a closed-over constant that XLA would fold into the program
        grads = jax.jit(jax.grad(lambda a, b, dh, s=states: jnp.sum(s(a, b) * dh),
                                 argnums=(0, 1)))
        functions[name, "forward"] = (
            lambda f=forward: np.asarray(f(a, b).block_until_ready()))
        functions[name, "forward+backward"] = (
            lambda g=grads: [np.asarray(x.block_until_ready()) for x in g(a, b, dh)])
    return functions


def rnnbook_functions(a: np.ndarray, b: np.ndarray, dh: np.ndarray) -> dict:
    functions = {}
    for method in rnnbook.scan.METHODS:
        name = f"rnnbook {method}"

        def forward(m=method):
            return rnnbook.linear_scan(a, b, method=m)

        def grads(m=method):
            h = rnnbook.linear_scan(a, b, method=m)
            g = rnnbook.linear_scan_backward(a, h, dh, method=m)
            return [g["a"], g["b"]]

        functions[name, "forward"], functions[name, "forward+backward"] = forward, grads
    return functions


def assert_agree(functions: dict) -> None:
    """Every contender's states and gradients equal rnnbook's loop (float32 tolerance)."""
    for kind in PASSES:
        reference = functions["rnnbook sequential", kind]()
        reference = [reference] if kind == "forward" else reference
        for name in CONTENDERS:
            got = functions[name, kind]()
            for x, y in zip([got] if kind == "forward" else got, reference, strict=True):
                assert np.max(np.abs(x - y)) <= 1e-5 * np.max(np.abs(y)), (name, kind)


def run(settings: dict) -> list[dict]:
    rng = np.random.default_rng(0)
    records = []
    for time_steps in settings["time"]:
        shape = (BATCH, time_steps, HIDDEN)
        a = rng.uniform(0.5, 1.0, size=shape).astype("float32")
        b = rng.normal(size=shape).astype("float32")
        dh = rng.normal(size=shape).astype("float32")
        functions = {**jax_functions(a, b, dh), **rnnbook_functions(a, b, dh)}
        assert_agree(functions)
        for kind in PASSES:
            timed = measure({name: functions[name, kind] for name in CONTENDERS},
                            settings["repeat"], settings["min_time"], settings["warmup"],
                            pause=0.05)
            for name, (seconds, spread) in timed.items():
                records.append({"time": time_steps, "pass": kind, "contender": name,
                                "seconds": seconds, "spread": spread})
                print(f"T={time_steps:6d} {kind:17s} {name:19s} {seconds * 1e3:10.3f} ms "
                      f"(spread {spread:.2f})", flush=True)
    return records


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--out", type=Path, help="write here instead of rnnbook's stored file")
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    load_before = os.getloadavg()
    start = time.perf_counter()
    records = run(settings)
    result = {
        "settings": {**{k: list(v) if isinstance(v, tuple) else v
                        for k, v in settings.items()},
                     "batch": BATCH, "hidden": HIDDEN, "quick": args.quick},
        "machine": {"cpu_count": os.cpu_count(), "jax_devices": [str(d) for d in jax.devices()],
                    "platform": platform.platform(), "processor": platform.processor(),
                    "load_average_before": list(load_before),
                    "load_average_after": list(os.getloadavg())},
        "versions": {"jax": jax.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "records": records,
    }
    print(f"wrote {rnnbook.save_stored(STORED_NAME, result, out=args.out)}")
    print(f"total benchmark time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
