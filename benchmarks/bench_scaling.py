#!/usr/bin/env python3
"""How the time of a recurrent layer grows with sequence length and hidden size (chapter 20).

    .venv/bin/python benchmarks/bench_scaling.py            # both backends, about 7 minutes
    .venv/bin/python benchmarks/bench_scaling.py --quick    # a smoke run, about 1 minute
    .venv/bin/python benchmarks/bench_scaling.py --backends jax --out /tmp/jax.json

What it measures, all in float32 on the CPU:

* **matrix products** (NumPy): the speed, in GFLOP/s, of one big square product and of the
  products a recurrent layer runs at every step, ``(B, H) @ (H, G·H)``, for each hidden size;
* **sweeps**: SimpleRNN, LSTM and GRU (Keras's default ``reset_after=True``) with
  ``return_sequences=True``, forward and forward + backward, for rnnbook and for Keras compiled
  (``tf.function`` on TensorFlow, ``jax.jit`` on JAX), over the sequence length T at H = 128 and
  over the hidden size H at T = 100 (batch 32, 32 input features);
* **unroll**: a compiled Keras LSTM's forward + backward with ``unroll=False`` and
  ``unroll=True`` for short sequences;
* **first call**: for each compiled Keras function, the time of its first call, which includes
  tracing and compiling it.

Keras picks its backend at import, so each backend runs in a child process of this script
(``--worker``); rnnbook is timed in both, interleaved with that backend's Keras, so every ratio
compares two contenders measured side by side. Forward + backward means gradients of
``sum(H * dH)`` for a fixed upstream gradient ``dH``, with respect to the weights and the input.
Before timing a shape the script asserts that rnnbook and Keras give the same outputs and
gradients. Times are the median over ``--repeat`` repetitions of the mean per-call time of a loop
sized to take ``--min-time`` seconds; Keras runs as a reader gets it (oneDNN on).

The results go to ``rnnbook/stored_files/scaling.json`` through ``rnnbook.save_stored`` (which
also records the file's checksum; chapter 20 reads it with ``rnnbook.load_stored``), or to
``--out`` when given, and a table is printed. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rnn import assert_same_gradients, rnnbook_functions, tf_functions  # noqa: E402
from bench_rnn import measure as _measure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STORED_NAME = "scaling.json"       # in rnnbook/stored_files, written by rnnbook.save_stored
LAYERS = ("SimpleRNN", "LSTM", "GRU")
BACKENDS = ("tensorflow", "jax")
BATCH, INPUTS = 32, 32
FULL = {"time": (10, 25, 50, 100, 200, 400), "hidden": (16, 32, 64, 128, 256, 512),
        "fixed_hidden": 128, "fixed_time": 100, "unroll_time": (5, 10, 20, 50),
        "repeat": 5, "min_time": 0.1, "warmup": 3}
QUICK = {"time": (10, 50), "hidden": (16, 64), "fixed_hidden": 64, "fixed_time": 50,
         "unroll_time": (5, 20), "repeat": 2, "min_time": 0.02, "warmup": 1}
UNROLL_SHAPE = {"batch": 32, "inputs": 8, "hidden": 32}


def measure(contenders: dict, repeat: int, min_time: float, warmup: int) -> dict:
    """``bench_rnn.measure`` with a short pause: no eager Keras here to let settle."""
    return _measure(contenders, repeat, min_time, warmup, pause=0.05)


def gemm_speeds(settings: dict) -> list[dict]:
    """NumPy float32 matrix-product speed: one big square product and the per-step shapes."""
    rng = np.random.default_rng(0)
    shapes = [("square", 1024, 1024, 1024)]
    for gates in (1, 3, 4):
        shapes += [("step", BATCH, h, gates * h) for h in settings["hidden"]]
    rows = []
    for kind, m, k, n in shapes:
        a = rng.normal(size=(m, k)).astype("float32")
        b = rng.normal(size=(k, n)).astype("float32")
        out = np.empty((m, n), dtype="float32")
        seconds, spread = measure({"gemm": lambda: np.matmul(a, b, out=out)},
                                  settings["repeat"], settings["min_time"],
                                  settings["warmup"])["gemm"]
        rows.append({"kind": kind, "m": m, "k": k, "n": n, "seconds": seconds,
                     "spread": spread, "gflops": 2 * m * k * n / seconds / 1e9})
    return rows


# ----------------------------------------------------------------------------- worker side

def make_case(backend: str, layer_name: str, batch: int, steps: int, inputs: int,
              hidden: int, rng: np.random.Generator, unroll: bool = False) -> dict:
    """Compiled Keras and rnnbook callables for one shape, checked to compute the same thing.

    Returns ``{"forward": {...}, "forward+backward": {...}, "first_call": {...}}``; the first
    two map contender names to argument-free callables that block until their result is ready.
    """
    import keras

    import rnnbook

    layer = getattr(keras.layers, layer_name)(hidden, return_sequences=True, unroll=unroll)
    layer.build((batch, steps, inputs))
    layer.cell.bias.assign(rng.normal(scale=0.1, size=layer.cell.bias.shape).astype("float32"))
    x = rng.normal(size=(batch, steps, inputs)).astype("float32")
    dH = rng.normal(size=(batch, steps, hidden)).astype("float32")
    p = rnnbook.from_keras(layer)

    if backend == "tensorflow":
        import tensorflow as tf

        xt, dHt = tf.constant(x), tf.constant(dH)
        forward_fn, grads_fn = tf_functions(layer)

        def keras_forward():
            return forward_fn(xt).numpy()

        def keras_grads():
            return [g.numpy() for g in grads_fn(xt, dHt)]
    else:
        import jax
        import jax.numpy as jnp

        xt, dHt = jnp.asarray(x), jnp.asarray(dH)
        trainable = [v.value for v in layer.trainable_variables]
        fixed = [v.value for v in layer.non_trainable_variables]   # a dropout seed state
        order = [next(i for i, t in enumerate(layer.trainable_variables) if t is v)
                 for v in (layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias)]
        forward_jit = jax.jit(lambda tv, x_: layer.stateless_call(tv, fixed, x_)[0])

        def loss(tv, x_, dH_):
            return jnp.sum(layer.stateless_call(tv, fixed, x_)[0] * dH_)

        grads_jit = jax.jit(jax.grad(loss, argnums=(0, 1)))

        def keras_forward():
            return np.asarray(jax.block_until_ready(forward_jit(trainable, xt)))

        def keras_grads():
            g_tv, g_x = jax.block_until_ready(grads_jit(trainable, xt, dHt))
            return [np.asarray(g_tv[i]) for i in order] + [np.asarray(g_x)]

    first_call = {}
    for name, fn in (("forward", keras_forward), ("forward+backward", keras_grads)):
        start = time.perf_counter()
        fn()
        first_call[name] = time.perf_counter() - start

    kind = {"SimpleRNN": "simple", "LSTM": "lstm", "GRU": "gru"}[layer_name]
    ours_forward, ours_grads = rnnbook_functions(kind, p, x, dH)

    # Like with like: the same numbers come out of both sides.
    np.testing.assert_allclose(ours_forward(), keras_forward(), atol=1e-4)
    assert_same_gradients(kind, ours_grads(), keras_grads())

    return {"forward": {"rnnbook": ours_forward, "keras": keras_forward},
            "forward+backward": {"rnnbook": ours_grads, "keras": keras_grads},
            "first_call": first_call}


def run_worker(backend: str, settings: dict, layers: list[str]) -> dict:
    """Everything one backend's process measures."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    timing = (settings["repeat"], settings["min_time"], settings["warmup"])
    shapes = [("time", t, settings["fixed_hidden"]) for t in settings["time"]]
    shapes += [("hidden", settings["fixed_time"], h) for h in settings["hidden"]]
    sweeps, unroll = [], []
    for layer_name in layers:
        for sweep, steps, hidden in shapes:
            case = make_case(backend, layer_name, BATCH, steps, INPUTS, hidden, rng)
            for kind in ("forward", "forward+backward"):
                for contender, (seconds, spread) in measure(case[kind], *timing).items():
                    sweeps.append({"backend": backend, "layer": layer_name, "sweep": sweep,
                                   "batch": BATCH, "time": steps, "inputs": INPUTS,
                                   "hidden": hidden, "pass": kind, "contender": contender,
                                   "seconds": seconds, "spread": spread,
                                   "first_call": (case["first_call"][kind]
                                                  if contender == "keras" else None)})
                    print(f"{backend:<10} {layer_name:<9} T={steps:<4} H={hidden:<4} "
                          f"{kind:<17} {contender:<8} {seconds * 1e3:9.3f} ms "
                          f"({spread:5.1%})", flush=True)
    for steps in settings["unroll_time"]:
        cases = {flag: make_case(backend, "LSTM", UNROLL_SHAPE["batch"], steps,
                                 UNROLL_SHAPE["inputs"], UNROLL_SHAPE["hidden"], rng,
                                 unroll=flag) for flag in (False, True)}
        results = measure({flag: case["forward+backward"]["keras"]
                           for flag, case in cases.items()}, *timing)
        for flag, (seconds, spread) in results.items():
            unroll.append({"backend": backend, "layer": "LSTM", "time": steps,
                           **UNROLL_SHAPE, "unroll": flag, "seconds": seconds,
                           "spread": spread,
                           "first_call": cases[flag]["first_call"]["forward+backward"]})
            print(f"{backend:<10} LSTM unroll={flag!s:<5} T={steps:<4} "
                  f"{seconds * 1e3:9.3f} ms", flush=True)
    versions = {"keras": keras.__version__}
    if backend == "tensorflow":
        import tensorflow as tf
        versions["tensorflow"] = tf.__version__
    else:
        import jax
        versions["jax"] = jax.__version__
    return {"sweeps": sweeps, "unroll": unroll, "versions": versions}


# ----------------------------------------------------------------------------- main side

def machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.processor(),
            "cores": os.cpu_count(),
            "usable_cores": (len(os.sched_getaffinity(0))
                             if hasattr(os, "sched_getaffinity") else None),
            "python": platform.python_version(), "numpy": np.__version__}


def print_summary(data: dict) -> None:
    import rnnbook

    print("\nNumPy float32 matrix products:")
    for row in data["gemm"]:
        print(f"  {row['kind']:<6} ({row['m']}, {row['k']}) @ ({row['k']}, {row['n']}): "
              f"{row['gflops']:7.1f} GFLOP/s")
    print("\nKeras time / rnnbook time, forward + backward (> 1: rnnbook faster); "
          "achieved GFLOP/s of the matrix products")
    rows = {}
    for r in data["sweeps"]:
        if r["pass"] == "forward+backward":
            rows.setdefault((r["layer"], r["sweep"], r["time"], r["hidden"]), {})[
                (r["backend"], r["contender"])] = r["seconds"]
    for (layer, sweep, steps, hidden), t in rows.items():
        flops = rnnbook.matmul_flops(layer, BATCH, steps, INPUTS, hidden, backward=True)
        cells = [f"{layer:<9} T={steps:<4} H={hidden:<4}"]
        for backend in data["backends"]:
            ours, theirs = t.get((backend, "rnnbook")), t.get((backend, "keras"))
            if ours and theirs:
                cells.append(f"{backend}: ratio {theirs / ours:5.2f}, rnnbook "
                             f"{flops / ours / 1e9:5.1f}, keras {flops / theirs / 1e9:5.1f}")
        print("  " + " | ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few, short timings")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--layers", nargs="+", choices=LAYERS, default=list(LAYERS))
    parser.add_argument("--out", type=Path, default=None,
                        help="write the JSON here instead of rnnbook/stored_files (the "
                             "chapter reads only that folder)")
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL

    if args.worker:                                   # child: one backend, results as JSON
        result = run_worker(args.worker, settings, args.layers)
        args.out.write_text(json.dumps(result))
        return 0

    start = time.perf_counter()
    data = {"machine": machine(), "settings": {**settings, "batch": BATCH, "inputs": INPUTS,
                                               "quick": args.quick},
            "backends": args.backends, "gemm": gemm_speeds(settings), "sweeps": [],
            "unroll": [], "versions": {}}
    for row in data["gemm"]:
        print(f"numpy gemm ({row['m']}, {row['k']}) @ ({row['k']}, {row['n']}): "
              f"{row['gflops']:.1f} GFLOP/s", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench_scaling_"))
    for backend in args.backends:
        part = scratch / f"{backend}.part"
        env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu",
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        command = [sys.executable, __file__, "--worker", backend, "--out", str(part),
                   "--layers", *args.layers] + (["--quick"] if args.quick else [])
        subprocess.run(command, env=env, check=True)
        result = json.loads(part.read_text())
        part.unlink()
        data["sweeps"] += result["sweeps"]
        data["unroll"] += result["unroll"]
        data["versions"].update(result["versions"])
    data["total_seconds"] = time.perf_counter() - start
    scratch.rmdir()
    import rnnbook.stored

    if args.out is None:                              # the file chapter 20 reads
        out = rnnbook.stored.save_stored(STORED_NAME, data)
    else:
        out = args.out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(rnnbook.stored.encode_stored(STORED_NAME, data))
    print_summary(data)
    print(f"\nwrote {out} in {data['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
