#!/usr/bin/env python3
"""Time rnnbook's NumPy SimpleRNN, LSTM and GRU against Keras's, forward and forward + backward.

    .venv/bin/python benchmarks/bench_rnn.py                  # all three layers (a few minutes)
    .venv/bin/python benchmarks/bench_rnn.py --layers lstm gru
    .venv/bin/python benchmarks/bench_rnn.py --quick          # fewer, shorter repetitions
    .venv/bin/python benchmarks/bench_rnn.py --repeat 15      # more repetitions per median
    .venv/bin/python benchmarks/bench_rnn.py --cold           # see "Fresh memory" below
    .venv/bin/python benchmarks/bench_rnn.py --keep-freed-memory

For each layer and shape (batch, time, input -> hidden), float32, the script builds one Keras
layer (``SimpleRNN``, ``LSTM`` or ``GRU`` with its default ``reset_after=True``, all with
``return_sequences=True``), copies its weights into the book's notation with
``rnnbook.from_keras`` and times

* forward: rnnbook's forward function against the layer called eagerly (``layer(x)``) and the
  same call compiled with ``tf.function``;
* forward + backward: rnnbook's backward function (which runs the forward pass itself; for
  SimpleRNN ``rnn_forward`` then ``rnn_backward(..., H=H)``) against a ``tf.function`` around a
  ``GradientTape`` that computes the gradients of ``sum(H * dH)`` with respect to the layer's
  weights and its input, for one fixed upstream gradient ``dH``.

Before timing a shape, the outputs are compared once (``assert_allclose``, atol 1e-4), so the
table compares computations that give the same numbers. The contenders of one comparison are
timed *interleaved*: each repetition times rnnbook and the compiled layer once each, in turn,
so that a change of machine load during the run affects both alike (the eager layer is timed on
its own, after them: its worker threads stay busy after each call and slow whatever follows).
Every timing is the median, over ``--repeat`` repetitions, of the mean time of a loop of calls
sized to take about ``--min-time`` seconds (``timeit``'s method), after warm-up calls; each
repetition starts with one untimed call (see "Fresh memory" below). The ratio column is
``Keras time / rnnbook time``: above 1 means rnnbook is faster.

Keras runs as a reader gets it by default: oneDNN stays on (``rnnbook.setup`` is *not* called,
since it turns oneDNN off for bit-identical notebooks); only TensorFlow's log level is raised.

Fresh memory, and the untimed call before each repetition. rnnbook's backward functions keep
every step's gates and states in a few large arrays (at the (256, 100, 64 -> 256) shape about
170 MB per LSTM call and 145 MB per GRU call), which the C library maps fresh from the
operating system at each call and gives back afterwards; TensorFlow's loop allocates many
small per-step tensors, which its allocator reuses without asking the system. How much the
first touch of fresh memory costs depends on the machine, and on some machines on how long
ago it was freed. On the 2-core virtual machine the book's numbers come from, the kernel hands
freed memory back to the host after a second or so (virtio free page reporting), and the host
must provide it again at the next touch: allocating and filling 200 MB took 23 ms right after
the same amount had been freed, up to 970 ms after a pause of 1 s and 970-1,470 ms after 3 s.
A training loop calls the backward pass back to back and meets this once at most. A timer
that pauses before each repetition (see ``measure``) would meet it at every repetition of a
call long enough to fill one on its own, and only there: the small shapes time hundreds of
calls per repetition. So each repetition first makes one untimed call, for every contender
alike, and times the calls that follow it: all shapes are timed in the steady state of calls
that follow calls. ``--cold`` leaves the untimed call out. The header's ``memory`` line
measures the first touch of a fresh 64 MB mapping, against a second touch, so a run says
which machine it had; ``--keep-freed-memory`` asks glibc, through ``mallopt``, to keep freed
memory in the process (no ``mmap`` for large blocks, no trimming) for *both* contenders; it
is off by default, and the header says which was used.
"""

from __future__ import annotations

import os
import sys


def _early_blas_threads(argv: list[str]) -> str | None:
    """``--blas-threads N`` must take effect before NumPy loads its BLAS, so read it first."""
    for i, arg in enumerate(argv):
        if arg == "--blas-threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--blas-threads="):
            return arg.split("=", 1)[1]
    return None


_threads = _early_blas_threads(sys.argv[1:])
if _threads is not None:
    for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # not OMP_*: TensorFlow reads it
        os.environ[_var] = _threads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet, before TensorFlow's first import

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402

import numpy as np  # noqa: E402

import rnnbook  # noqa: E402

SHAPES = [  # (batch, time, input, hidden)
    (1000, 10, 1, 32),
    (256, 100, 64, 256),
    (32, 200, 16, 64),
]


def blas_threads() -> str:
    """NumPy's BLAS library and thread count, as far as NumPy reports it."""
    try:
        import threadpoolctl  # optional

        info = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
        if info:
            return ", ".join(f"{p['internal_api']} {p['version']} ({p['num_threads']} threads)"
                             for p in info)
    except ImportError:
        pass
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{cfg.get('name', '?')} {cfg.get('version', '')}".strip()
    except Exception:  # older NumPy
        name = "unknown BLAS"
    env = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
           if k in os.environ}  # what the library reads at start-up
    return f"{name} (threads: {env or 'library default'})"


def measure(contenders: dict, repeat: int, min_time: float, warmup: int,
            pause: float = 0.5, prime: bool = False) -> dict[str, tuple[float, float]]:
    """Median and spread (max/min - 1) of the per-call time of each ``fn()``, in seconds.

    The contenders are interleaved: repetition r times each of them once, in turn, each after a
    ``pause`` of that many seconds. With ``prime``, each repetition first makes one untimed call
    (after the pause), so that every timed call follows a call of its own contender.
    """
    timers, numbers, per_call = {}, {}, {name: [] for name in contenders}
    for name, fn in contenders.items():
        for _ in range(warmup):
            fn()
        timers[name] = timeit.Timer(fn)
        number, elapsed = 1, timers[name].timeit(1)
        while elapsed * number < min_time and number < 10_000:  # calls per repetition
            number *= 2
        numbers[name] = number
    for _ in range(repeat):
        for name, timer in timers.items():
            # OpenBLAS's and TensorFlow's worker threads spin for a while after their last job
            # before they sleep; pause so the previous contender's idle threads do not steal
            # this one's cores.
            time.sleep(pause)
            if prime:
                contenders[name]()
            per_call[name].append(timer.timeit(numbers[name]) / numbers[name])
    return {name: (statistics.median(t), max(t) / min(t) - 1.0) for name, t in per_call.items()}


LAYERS = ("simple", "lstm", "gru")


def keep_freed_memory() -> str:
    """Ask glibc to serve every allocation from the process's heap and never give freed memory
    back to the system (``mallopt(M_MMAP_MAX, 0)``, ``mallopt(M_TRIM_THRESHOLD, 2**62)``).
    Call before the first large allocation; returns what was done, for the header."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "mallopt"):
        return "not available (no glibc mallopt): default allocator"
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4                  # from glibc's <malloc.h>
    ok = libc.mallopt(M_MMAP_MAX, 0) == 1
    ok &= libc.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(2**31 - 1)) == 1
    return "glibc keeps freed memory (mallopt M_MMAP_MAX=0, M_TRIM_THRESHOLD=2**31-1)" if ok \
        else "mallopt refused: default allocator"


def fresh_memory_cost(mib: int = 64, repeat: int = 5) -> str:
    """How long touching freshly mapped memory takes here, against touching it again.

    Each repetition maps ``mib`` MiB anonymously (``mmap``, bypassing the C library's
    allocator), writes one byte per 4 KiB page, then writes them all again. Reports the medians
    in ms per 100 MB; a first touch far above ~10 ms/100 MB means the machine's memory is slow to
    hand out (see the module docstring)."""
    import mmap

    first, again = [], []
    for _ in range(repeat):
        m = mmap.mmap(-1, mib << 20)
        pages = np.frombuffer(m, dtype=np.uint8)[::4096]
        t0 = time.perf_counter()
        pages[:] = 1
        t1 = time.perf_counter()
        pages[:] = 2
        t2 = time.perf_counter()
        first.append(t1 - t0)
        again.append(t2 - t1)
        del pages
        m.close()
    per100 = 100 / (mib * 1.048576) * 1e3
    return (f"first touch {statistics.median(first) * per100:.1f} ms per 100 MB "
            f"(max {max(first) * per100:.0f}), again {statistics.median(again) * per100:.1f}")


def rnnbook_functions(kind: str, p: dict, x: np.ndarray, dH: np.ndarray):
    """rnnbook's forward and forward+backward for one layer kind, as two callables."""
    if kind == "simple":
        def forward():
            return rnnbook.rnn_forward(x, p["W_x"], p["W_h"], p["b_h"])

        def grads():
            H = rnnbook.rnn_forward(x, p["W_x"], p["W_h"], p["b_h"])
            return rnnbook.rnn_backward(x, p["W_x"], p["W_h"], p["b_h"], dH, H=H)
    elif kind == "lstm":
        def forward():
            return rnnbook.lstm_forward(x, p["W_x"], p["W_h"], p["b"])[0]

        def grads():
            return rnnbook.lstm_backward(x, p["W_x"], p["W_h"], p["b"], dH)
    else:
        def forward():
            return rnnbook.gru_forward(x, p["W_x"], p["W_h"], p["b_x"], p["b_h"])

        def grads():
            return rnnbook.gru_backward(x, p["W_x"], p["W_h"], p["b_x"], p["b_h"], dH)
    return forward, grads


def assert_same_gradients(kind: str, ours: dict, keras_grads: list) -> None:
    """rnnbook's gradients (book layout) equal Keras's [kernel, recurrent_kernel, bias, x]."""
    g_kernel, g_rec, g_bias, g_x = keras_grads
    if kind == "gru":                                  # Keras's GRU bias is [b_x, b_h]
        bias = np.stack([ours["b_x"], ours["b_h"]])
    else:
        bias = ours["b_h" if kind == "simple" else "b"]
    for name, mine, theirs in [("W_x", ours["W_x"], g_kernel.T), ("W_h", ours["W_h"], g_rec.T),
                               ("bias", bias, g_bias), ("x", ours["x"], g_x)]:
        scale = max(1.0, float(np.max(np.abs(theirs))))  # big sums: compare relative to size
        np.testing.assert_allclose(mine / scale, theirs / scale, atol=1e-4, err_msg=name)


def tf_functions(layer):
    """``tf.function``-compiled forward and gradient functions of a built Keras layer.

    The gradient function returns the gradients of ``sum(layer(x) * dH)`` with respect to the
    kernel, the recurrent kernel, the bias and ``x``, in that order.
    """
    import tensorflow as tf

    cell = layer.cell
    weights = [cell.kernel, cell.recurrent_kernel, cell.bias]
    forward = tf.function(lambda x_: layer(x_))

    @tf.function
    def grads(x_, dH_):
        with tf.GradientTape() as tape:
            tape.watch(x_)
            loss = tf.reduce_sum(layer(x_) * dH_)
        return tape.gradient(loss, weights + [x_])

    return forward, grads


def build_case(kind, shape, rng):
    """A Keras layer, its weights in the book's notation, an input and an upstream gradient."""
    import keras
    import tensorflow as tf

    batch, steps, inputs, hidden = shape
    layer = {"simple": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM,
             "gru": keras.layers.GRU}[kind](hidden, return_sequences=True)
    layer.build((batch, steps, inputs))
    layer.cell.bias.assign(rng.normal(scale=0.1, size=layer.cell.bias.shape).astype("float32"))
    x = rng.normal(size=(batch, steps, inputs)).astype("float32")
    dH = rng.normal(size=(batch, steps, hidden)).astype("float32")
    p = rnnbook.from_keras(layer)
    xt, dHt = tf.constant(x), tf.constant(dH)
    compiled_forward, compiled_grads = tf_functions(layer)

    ours_forward, ours_grads = rnnbook_functions(kind, p, x, dH)

    # Like with like: the same numbers come out of both sides (checked once per shape).
    H_ours = ours_forward()
    assert H_ours.dtype == np.float32
    np.testing.assert_allclose(H_ours, np.asarray(layer(xt)), atol=1e-4)
    np.testing.assert_allclose(H_ours, np.asarray(compiled_forward(xt)), atol=1e-4)
    assert_same_gradients(kind, ours_grads(),
                          [np.asarray(g) for g in compiled_grads(xt, dHt)])

    return {
        "forward": {
            "rnnbook": ours_forward,
            "keras eager": lambda: layer(xt),
            "keras tf.function": lambda: compiled_forward(xt),
        },
        "forward+backward": {
            "rnnbook": ours_grads,
            "keras tf.function": lambda: compiled_grads(xt, dHt),
        },
    }


def header(allocator: str) -> str:
    import keras
    import tensorflow as tf

    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)")
    lines = [
        f"machine : {platform.machine()} {platform.processor() or ''}".rstrip()
        + f", {os.cpu_count()} logical cores"
        + (f" ({len(os.sched_getaffinity(0))} usable)" if hasattr(os, "sched_getaffinity") else ""),
        f"python  : {platform.python_version()}",
        f"numpy   : {np.__version__}, BLAS {blas_threads()}",
        f"keras   : {keras.__version__}, tensorflow {tf.__version__}, oneDNN {onednn}, "
        f"intra-op threads {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}",
        f"rnnbook : {rnnbook.__version__}",
        f"memory  : {allocator}; fresh memory: {fresh_memory_cost()}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=None,
                        help="repetitions per timing; the median is reported (default 7, quick 3)")
    parser.add_argument("--layers", nargs="+", choices=LAYERS, default=list(LAYERS),
                        help="which layers to time (default: all three)")
    parser.add_argument("--quick", action="store_true",
                        help="a fast smoke run: fewer and shorter repetitions")
    parser.add_argument("--min-time", type=float, default=None,
                        help="seconds per repetition (default 0.2, quick 0.05)")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="threads for NumPy's BLAS (sets OPENBLAS_ and MKL_NUM_THREADS before "
                             "NumPy is imported; default: the library's choice, one per core). "
                             "TensorFlow's own thread pools are not affected")
    parser.add_argument("--cold", action="store_true",
                        help="no untimed call before each repetition: a call that alone fills "
                             "--min-time is then timed right after the pause (see the module "
                             "docstring)")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="ask glibc to keep freed memory in the process, for both contenders "
                             "(see the module docstring); default: the system's allocator as is")
    args = parser.parse_args(argv)
    allocator = keep_freed_memory() if args.keep_freed_memory else "default allocator"
    repeat = args.repeat or (3 if args.quick else 7)
    min_time = args.min_time or (0.05 if args.quick else 0.2)
    warmup = 2 if args.quick else 5
    if repeat < 1 or min_time <= 0:
        parser.error("--repeat must be positive and --min-time > 0")

    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    print(header(allocator))
    protocol = "cold (no untimed call first)" if args.cold else "each after one untimed call"
    print(f"timing  : median of {repeat} repetitions of >= {min_time:g} s each, {protocol}, "
          f"after {warmup} warm-up calls; float32")
    print("ratio   : Keras time / rnnbook time (> 1 means rnnbook is faster); "
          "spread = max/min - 1 over the repetitions\n")

    cols = (f"{'layer':<10} {'shape (B, T, D -> H)':<22} {'pass':<17} {'contender':<18} {'time':>10} "
            f"{'spread':>7} {'ratio':>6}")
    print(cols)
    print("-" * len(cols))
    worst = {}
    start = time.perf_counter()
    for layer in args.layers:
        for shape in SHAPES:
            case = build_case(layer, shape, rng)
            label = f"({shape[0]}, {shape[1]}, {shape[2]} -> {shape[3]})"
            for kind, contenders in case.items():
                # rnnbook and the compiled layer are timed interleaved; eager Keras leaves its
                # threads busy for a while after each call (it slowed the NumPy code that
                # followed it by up to 60% in trials), so it is timed on its own.
                eager = {k: v for k, v in contenders.items() if k == "keras eager"}
                timing = (repeat, min_time, warmup)
                results = measure({k: v for k, v in contenders.items() if k not in eager},
                                  *timing, prime=not args.cold)
                results.update(measure(eager, *timing, prime=not args.cold) if eager else {})
                ours = results["rnnbook"][0]
                for name, (t, spread) in results.items():
                    ratio = "" if name == "rnnbook" else f"{t / ours:6.2f}"
                    if name != "rnnbook":
                        key = (layer, kind, name)
                        worst[key] = min(worst.get(key, np.inf), t / ours)
                    print(f"{layer:<10} {label:<22} {kind:<17} {name:<18} {t * 1e3:8.3f}ms "
                          f"{spread:6.1%} {ratio:>6}", flush=True)
                label = ""
            print()
    print("lowest ratio per comparison:")
    for (layer, kind, name), r in worst.items():
        print(f"  {layer:<7} {kind:<17} vs {name:<18} {r:.2f}")
    print(f"total benchmark time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
