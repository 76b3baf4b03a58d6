"""Offline datasets and toy tasks, shaped the way Keras's recurrent layers read them.

Every function here returns inputs of shape (batch, time, features) in float32 and binary labels
of shape (batch, 1) in float32, the layout of the book's running model
``Sequential([SimpleRNN(32), Dense(1, activation="sigmoid")])``. Nothing is downloaded: random
tasks are drawn from a ``np.random.Generator`` the caller passes in, and the real data ship inside
installed packages (``vega_datasets``), so every chapter runs without a network.

Two tasks of the same shape (10 time steps of 1 feature -> one binary label):

* :func:`random_binary_task`: uniform random inputs and coin-flip labels, the seed example's data.
  There is nothing to learn; any accuracy above chance on it is memorisation.
* :func:`seattle_rain_windows`: ten consecutive days of one daily weather measurement in Seattle
  (2012-2015) and the label "does it rain the next day?". Split it chronologically with
  :func:`chronological_split`, which standardises with the training period's statistics only.

One real data set of another shape, sequences of different lengths with a class label each:
:func:`load_japanese_vowels` returns a list of (T_i, 12) float32 arrays and int64 labels 0..8,
read from files that ship inside rnnbook (``rnnbook/data_files``).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._checks import as_array, check_rank
from .stored import verify_file

__all__ = [
    "random_binary_task", "adding_problem", "sliding_windows",
    "SEATTLE_FEATURES", "seattle_weather_table", "seattle_rain_windows",
    "Windows", "SplitData", "split_masks", "chronological_split",
    "MONTHS", "WEEKDAYS", "DATE_FORMATS", "DATE_SOURCE_CHARS", "DATE_TARGET_CHARS",
    "DatePairs", "date_pairs",
    "DATA_FILES", "load_japanese_vowels", "load_first_names",
]

#: Daily series :func:`seattle_rain_windows` can use as its single input feature.
#: The first four are columns of the data set; the last two are derived from them.
SEATTLE_FEATURES = ("precipitation", "temp_max", "temp_min", "wind",
                    "log_precipitation", "temp_range")


class Windows(NamedTuple):
    """Sequences, their labels and the date each label refers to.

    Attributes:
        x: inputs, shape (n, window, 1), float32.
        y: labels in {0, 1}, shape (n, 1), float32.
        dates: the day each label describes (the day after the window), shape (n,),
            dtype ``datetime64[D]``.
    """

    x: np.ndarray
    y: np.ndarray
    dates: np.ndarray


class SplitData(NamedTuple):
    """A chronological train/validation/test split (see :func:`chronological_split`).

    Attributes:
        train: :class:`Windows` of the training period (the earliest dates), in time order.
        val: :class:`Windows` of the validation period (after ``train``), in time order.
        test: :class:`Windows` of the test period (the latest dates), in time order.
        mean: the mean the inputs were standardised with, computed on the training inputs
            only (0.0 when standardisation was switched off).
        std: the standard deviation the inputs were divided by, computed on the training
            inputs only (1.0 when standardisation was switched off).
    """

    train: Windows
    val: Windows
    test: Windows
    mean: float
    std: float


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value}")
    return int(value)


def _check_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise TypeError(
        "rng must be a np.random.Generator (e.g. the one rnnbook.setup() returns) or a "
        f"non-negative integer seed; got {type(rng).__name__} {rng!r}"
    )


def random_binary_task(n: int = 1000, time: int = 10, features: int = 1, *,
                       rng: np.random.Generator | int) -> tuple[np.ndarray, np.ndarray]:
    """The seed example's data: uniform random sequences with random binary labels.

    ``x[i, t, d] ~ Uniform[0, 1)`` (like ``np.random.random``) and ``y[i] ~ Bernoulli(1/2)``,
    all independent, so the labels carry no information about the inputs.

    Args:
        n: number of sequences (the batch axis).
        time: time steps per sequence.
        features: features per time step.
        rng: a ``np.random.Generator`` (or an integer seed for a fresh one). The inputs are
            drawn first, then the labels, so the same generator state gives the same data.

    Returns:
        ``(x, y)``: ``x`` of shape (n, time, features) and ``y`` of shape (n, 1) with entries
        0.0 or 1.0, both float32.
    """
    n = _check_positive_int("n", n)
    time = _check_positive_int("time", time)
    features = _check_positive_int("features", features)
    rng = _check_rng(rng)
    x = rng.random((n, time, features)).astype(np.float32)
    y = rng.integers(0, 2, size=(n, 1)).astype(np.float32)
    return x, y


def adding_problem(n: int = 1000, time: int = 50, *,
                   rng: np.random.Generator | int) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem: remember two marked numbers and output their sum at the end.

    A long-range memory benchmark going back to Hochreiter & Schmidhuber (1997), here in the
    simpler form used by Le, Jaitly & Hinton (2015) and Arjovsky, Shah & Bengio (2016). Each
    step has two features: a value ``x[i, t, 0] ~ Uniform[0, 1)`` and a marker ``x[i, t, 1]``
    that is 0 except at two steps, ``a_i`` drawn uniformly from the first half of the sequence
    and ``b_i`` from the second half::

        0 <= a_i < time // 2 <= b_i < time,    y_i = x[i, a_i, 0] + x[i, b_i, 0].

    The first marked value lies at least ``time - time // 2`` steps before the end, so the
    distance a network must bridge grows with ``time``. Predicting the constant 1 (the mean of
    ``y``) gives a mean squared error of 1/6, the baseline any model must beat.

    Args:
        n: number of sequences (the batch axis).
        time: time steps per sequence, at least 2 (one marker in each half).
        rng: a ``np.random.Generator`` (or an integer seed for a fresh one). The values are
            drawn first, then ``a``, then ``b``, so the same generator state gives the same data.

    Returns:
        ``(x, y)``: ``x`` of shape (n, time, 2) and ``y`` of shape (n, 1), both float32; ``y``
        is computed from the float32 values, so it equals the sum of the two marked entries of
        ``x`` exactly.
    """
    n = _check_positive_int("n", n)
    time = _check_positive_int("time", time)
    if time < 2:
        raise ValueError(f"time must be at least 2 (one marker in each half); got {time}")
    rng = _check_rng(rng)
    values = rng.random((n, time)).astype(np.float32)
    half = time // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, time, size=n)
    rows = np.arange(n)
    markers = np.zeros((n, time), dtype=np.float32)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1)
    y = (values[rows, first] + values[rows, second])[:, None]
    return x, y


def sliding_windows(series, window: int) -> np.ndarray:
    """All runs of ``window`` consecutive values of a 1-D series, one per row.

    ``out[i] = series[i : i + window]`` for ``i = 0 .. len(series) - window``.

    Args:
        series: values in time order, shape (length,).
        window: run length, ``1 <= window <= length``.

    Returns:
        A new array of shape (length - window + 1, window), dtype of ``series``.
    """
    window = _check_positive_int("window", window)
    series = as_array("series", series)
    check_rank("series", series, 1, "(length,)")
    if window > series.shape[0]:
        raise ValueError(f"window ({window}) must not exceed the length of series "
                         f"(shape {series.shape})")
    return np.lib.stride_tricks.sliding_window_view(series, window).copy()


def seattle_weather_table():
    """The daily Seattle weather table of ``vega_datasets`` (1,461 days, 2012-01-01 to 2015-12-31).

    Columns: ``date``, ``precipitation`` (mm), ``temp_max`` and ``temp_min`` (deg C), ``wind``
    (m/s) and ``weather`` (a text summary). The file ships with the package; nothing is downloaded.

    Returns:
        A ``pandas.DataFrame``, one row per day in date order.
    """
    try:
        from vega_datasets import local_data
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("seattle_weather_table needs the vega_datasets package "
                          "(pip install vega_datasets)") from exc
    return local_data.seattle_weather().sort_values("date").reset_index(drop=True)


def _seattle_series(table, feature: str) -> np.ndarray:
    if feature == "log_precipitation":
        return np.log1p(table["precipitation"].to_numpy(dtype=np.float64))
    if feature == "temp_range":
        return (table["temp_max"] - table["temp_min"]).to_numpy(dtype=np.float64)
    return table[feature].to_numpy(dtype=np.float64)


def seattle_rain_windows(window: int = 10, feature: str = "precipitation") -> Windows:
    """Ten (``window``) days of one weather series, labelled "does it rain the next day?".

    For days ``d = 1..N`` with measurement ``s_d`` and precipitation ``p_d``, example ``i`` is::

        x_i = (s_i, ..., s_{i+window-1}),    y_i = 1 if p_{i+window} > 0 else 0,

    so each window ends the day before the day its label describes, and consecutive windows
    overlap by ``window - 1`` days. Values are in the series' own units (not standardised):
    standardise with :func:`chronological_split`, which uses the training period only.

    Args:
        window: days per input sequence (time steps), between 1 and 1,460.
        feature: one of :data:`SEATTLE_FEATURES`: a column of the table (``precipitation`` in mm,
            ``temp_max``, ``temp_min`` in deg C, ``wind`` in m/s), ``log_precipitation``
            = ``log(1 + precipitation)``, or ``temp_range`` = ``temp_max - temp_min``.

    Returns:
        :class:`Windows` with ``x`` (n, window, 1) float32, ``y`` (n, 1) float32 and ``dates``
        (n,) ``datetime64[D]``, where ``n = 1461 - window``, in date order.
    """
    if not isinstance(feature, str) or feature not in SEATTLE_FEATURES:
        raise ValueError(f"feature must be one of {SEATTLE_FEATURES}; got {feature!r}")
    window = _check_positive_int("window", window)
    table = seattle_weather_table()
    days = len(table)
    if window >= days:
        raise ValueError(f"window ({window}) must be shorter than the {days} days of data")
    series = _seattle_series(table, feature)
    rain = table["precipitation"].to_numpy(dtype=np.float64) > 0
    x = sliding_windows(series[:-1], window)[:, :, None].astype(np.float32)
    y = rain[window:, None].astype(np.float32)
    dates = table["date"].to_numpy().astype("datetime64[D]")[window:]
    return Windows(x, y, dates)


def _check_windows(x, y, dates):
    x = as_array("x", x)
    check_rank("x", x, 3, "(batch, time, features)")
    if x.shape[1] == 0 or x.shape[2] == 0:
        raise ValueError(f"x must have at least one time step and one feature; got shape "
                         f"{x.shape}")
    y = as_array("y", y)
    if y.shape != (x.shape[0], 1):
        raise ValueError(f"y must have shape (batch, 1) = ({x.shape[0]}, 1) to match x of shape "
                         f"{x.shape}; got {y.shape}")
    dates = _check_dates(dates)
    if dates.shape != (x.shape[0],):
        raise ValueError(f"dates must have shape (batch,) = ({x.shape[0]},) to match x of shape "
                         f"{x.shape}; got {dates.shape}")
    return x, y, dates


def _check_dates(dates) -> np.ndarray:
    dates = np.asarray(dates)
    if dates.dtype.kind != "M":
        raise TypeError(f"dates must be an array of datetime64; got dtype {dates.dtype} "
                        f"with shape {dates.shape}")
    check_rank("dates", dates, 1, "(batch,)")
    if dates.shape[0] == 0:
        raise ValueError("dates is empty: there is nothing to split")
    if dates.shape[0] > 1 and not np.all(dates[1:] > dates[:-1]):
        raise ValueError("dates must be strictly increasing (one example per date, in time order)")
    return dates.astype("datetime64[D]")


def split_masks(dates, val_start: str = "2014-01-01",
                test_start: str = "2015-01-01") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks of a chronological split by date.

    ``train = dates < val_start``, ``val = val_start <= dates < test_start``,
    ``test = dates >= test_start``: every example is in exactly one part, and every training
    date comes before every validation date, which comes before every test date.

    Args:
        dates: one date per example, shape (n,), datetime64, strictly increasing.
        val_start: the first day of the validation period (anything ``np.datetime64``
            accepts, e.g. ``"2014-01-01"``); earlier dates are training examples.
        test_start: the first day of the test period, after ``val_start``; dates from
            ``val_start`` up to the day before ``test_start`` are validation examples.

    Returns:
        ``(train, val, test)``, three boolean arrays of shape (n,), each with at least one True.
    """
    dates = _check_dates(dates)
    try:
        v, t = np.datetime64(val_start, "D"), np.datetime64(test_start, "D")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"val_start and test_start must be dates such as '2014-01-01'; got "
                         f"{val_start!r}, {test_start!r} ({exc})") from None
    if not v < t:
        raise ValueError(f"val_start ({v}) must come before test_start ({t})")
    train, val, test = dates < v, (dates >= v) & (dates < t), dates >= t
    for name, mask in (("training", train), ("validation", val), ("test", test)):
        if not mask.any():
            raise ValueError(f"the {name} period is empty: dates run from {dates.min()} to "
                             f"{dates.max()}, val_start={v}, test_start={t}")
    return train, val, test


def chronological_split(x, y, dates, *, val_start: str = "2014-01-01",
                        test_start: str = "2015-01-01", standardise: bool = True) -> SplitData:
    """Split windows by date into train / validation / test and standardise them.

    The split is chronological (:func:`split_masks`), never shuffled, so the model is judged on
    days after those it learned from. Standardisation uses the training inputs only::

        mean = mean(train.x),   std = std(train.x),   x' = (x - mean) / std   for every part,

    so nothing about the validation or test periods leaks into training.

    Args:
        x: inputs, shape (n, time, features) (e.g. the ``x`` of :func:`seattle_rain_windows`).
        y: labels in {0, 1}, shape (n, 1).
        dates: the date of each example, shape (n,), datetime64, strictly increasing.
        val_start: the first day of the validation period (see :func:`split_masks`).
        test_start: the first day of the test period (see :func:`split_masks`).
        standardise: if False, return the inputs unchanged (``mean = 0.0``, ``std = 1.0``).

    Returns:
        :class:`SplitData` whose ``x`` arrays are float32 and whose ``mean``/``std`` are floats.
    """
    x, y, dates = _check_windows(x, y, dates)
    masks = split_masks(dates, val_start, test_start)
    mean, std = 0.0, 1.0
    if standardise:
        train_x = x[masks[0]].astype(np.float64)
        mean, std = float(train_x.mean()), float(train_x.std())
        if std == 0.0:
            raise ValueError("x is constant over the training period (std 0); cannot standardise")
    parts = [Windows(((x[m].astype(np.float64) - mean) / std).astype(np.float32), y[m].astype(np.float32), dates[m])
             for m in masks]
    return SplitData(*parts, mean=mean, std=std)


#: Folder of the data files that ship inside rnnbook (see ``data_files/README.md`` there).
DATA_FILES = Path(__file__).resolve().parent / "data_files"


#: Month and weekday names written by :func:`date_pairs` (English, independent of the locale).
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _ordinal_suffix(day: int) -> str:
    return "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


#: The ways :func:`date_pairs` writes a date, each named by how it writes Sunday 7 March 2021.
#: Slashes put the month first (US), dots the day first (continental Europe); the two-digit
#: year of "07-MAR-21" means 1950-2049, the range :func:`date_pairs` draws from.
DATE_FORMATS = {
    "7 March 2021": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    "March 7, 2021": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    "Sunday, 7 March 2021": lambda d: (f"{WEEKDAYS[d.weekday()]}, {d.day} "
                                       f"{MONTHS[d.month - 1]} {d.year}"),
    "march 7th, 2021": lambda d: (f"{MONTHS[d.month - 1].lower()} {d.day}"
                                  f"{_ordinal_suffix(d.day)}, {d.year}"),
    "Mar 7 2021": lambda d: f"{MONTHS[d.month - 1][:3]} {d.day} {d.year}",
    "07-MAR-21": lambda d: f"{d.day:02d}-{MONTHS[d.month - 1][:3].upper()}-{d.year % 100:02d}",
    "03/07/2021": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    "7.3.2021": lambda d: f"{d.day}.{d.month}.{d.year}",
    "20210307": lambda d: f"{d.year}{d.month:02d}{d.day:02d}",
}

#: Every character a source string of :func:`date_pairs` can contain, sorted.
DATE_SOURCE_CHARS = "".join(sorted(set(
    "".join(MONTHS + WEEKDAYS).lower() + "".join(MONTHS + WEEKDAYS).upper()
    + "0123456789 ,-./")))
#: Every character of an ISO date ``YYYY-MM-DD``, the target of :func:`date_pairs`.
DATE_TARGET_CHARS = "0123456789-"


class DatePairs(NamedTuple):
    """Dates written in several formats, with their ISO 8601 form (see :func:`date_pairs`).

    Attributes:
        source: the dates as written, list of ``n`` str (at most 28 characters).
        target: the same dates as ``YYYY-MM-DD``, list of ``n`` str (10 characters each).
        format: index into ``list(DATE_FORMATS)`` of each source's format, shape (n,), int64.
    """

    source: list
    target: list
    format: np.ndarray


def date_pairs(n: int, *, rng: np.random.Generator | int, first: str = "1950-01-01",
               last: str = "2049-12-31") -> DatePairs:
    """``n`` different calendar days, each written in a random format and in ISO 8601.

    The task of the sequence-to-sequence chapter: read ``"Sunday, 7 March 2021"``,
    ``"03/07/2021"`` or ``"07-MAR-21"`` and write ``"2021-03-07"``. The days are drawn without
    replacement, uniformly from ``first`` to ``last`` inclusive, so splitting the result into
    consecutive parts gives training and held-out sets that share no day; the formats are drawn
    uniformly from :data:`DATE_FORMATS`. Names are English whatever the locale.

    Args:
        n: number of pairs, at most the number of days from ``first`` to ``last``.
        rng: a ``np.random.Generator`` (or an integer seed for a fresh one). The days are drawn
            first, then the formats.
        first, last: the range of days, ``"YYYY-MM-DD"``; the default, 1950 to 2049, is the
            range the two-digit years of ``"07-MAR-21"`` stand for.

    Returns:
        :class:`DatePairs` ``(source, target, format)``.
    """
    n = _check_positive_int("n", n)
    rng = _check_rng(rng)
    lo, hi = np.datetime64(first, "D"), np.datetime64(last, "D")
    days_in_range = int((hi - lo).astype(np.int64)) + 1
    if days_in_range < 1 or n > days_in_range:
        raise ValueError(f"n must be at most the number of days from first to last "
                         f"({first} to {last}: {max(days_in_range, 0)} days); got n = {n}")
    days = lo + rng.choice(days_in_range, size=n, replace=False)
    formats = rng.integers(0, len(DATE_FORMATS), size=n).astype(np.int64)
    writers = list(DATE_FORMATS.values())
    dates = days.astype(object)                       # datetime.date objects
    source = [writers[f](d) for d, f in zip(dates, formats)]
    target = [d.isoformat() for d in dates]
    return DatePairs(source, target, formats)


def _read_ts(lines, source: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Parse the lines of a multivariate ``.ts`` file (the UEA/UCR archive's text format).

    Header lines start with ``#`` (comments) or ``@`` (keywords); each data line holds one case
    as ``D`` comma-separated channels and its class label, separated by colons::

        x_1^(1),...,x_T^(1) : x_1^(2),...,x_T^(2) : ... : x_1^(D),...,x_T^(D) : label

    Returns the cases as float32 arrays of shape (T_i, D) (time first, as Keras reads them) and
    the labels as strings.
    """
    sequences, labels, dims = [], [], None
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if line.startswith("@dimensions"):
            dims = int(line.split()[1])
        if not line or line[0] in "#@":
            continue
        *channels, label = line.split(":")
        rows = [channel.split(",") for channel in channels]
        if dims is not None and len(rows) != dims:
            raise ValueError(f"{source}, line {number}: {len(rows)} channels, expected {dims}")
        if len({len(row) for row in rows}) != 1:
            raise ValueError(f"{source}, line {number}: channels of different lengths")
        sequences.append(np.array(rows, dtype=np.float32).T)
        labels.append(label.strip())
    if not sequences:
        raise ValueError(f"{source}: no data lines")
    return sequences, np.array(labels)


def load_japanese_vowels(split: str = "train") -> tuple[list[np.ndarray], np.ndarray]:
    """The JapaneseVowels data set, with its official train/test split (read from rnnbook).

    Nine male speakers each uttered the Japanese vowels /ae/ in succession; every utterance
    was cut into frames (25.6 ms long, every 6.4 ms, sampled at 10 kHz) and each frame was
    described by the 12 coefficients of a 12th-order linear-prediction (LPC) cepstrum
    (Kudo, Toyama & Shimbo, 1999). One utterance is a sequence of T_i = 7 to 29 frames of
    D = 12 features; the task is to name the speaker. The split is the original one: 270
    training utterances (30 per speaker) and 370 test utterances recorded on other occasions
    (24 to 88 per speaker). The data are the UEA multivariate archive's files (Bagnall et al.,
    2018), shipped gzipped in ``rnnbook/data_files``; nothing is downloaded. The files'
    SHA-256 checksums are checked against ``data_files/SHA256SUMS`` on every load, so an
    altered file raises ``ValueError`` instead of loading different data.

    Args:
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(sequences, labels)``: a list of N float32 arrays of shapes (T_i, 12), and the
        speakers as int64 labels 0..8 (the archive's classes 1..9 minus one), shape (N,).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    path = DATA_FILES / f"JapaneseVowels_{split.upper()}.ts.gz"
    content = verify_file(path)                       # SHA-256 against data_files/SHA256SUMS
    lines = io.StringIO(gzip.decompress(content).decode("utf-8"))
    sequences, labels = _read_ts(lines, path.name)
    return sequences, labels.astype(np.int64) - 1


def load_first_names(sex: str = "both") -> np.ndarray:
    """First names from the 1990 US Census, as the ``names`` package ships them (offline).

    The US Census Bureau published the first names given to at least 0.001% of the people
    counted in 1990 (with their frequencies), 4,275 female and 1,219 male names; the ``names``
    package (Trey Hunner, version 0.3.0, MIT licence) ships both lists as text files. This
    function reads them from the installed package (nothing is downloaded) and returns each
    distinct name once, in lower case.

    Args:
        sex: ``"female"``, ``"male"`` or ``"both"`` (the union: 5,163 names).

    Returns:
        The names, sorted alphabetically, as a 1-D array of str (dtype ``<U11``); letters
        ``a`` to ``z`` only.
    """
    from importlib import resources

    files = {"female": ["dist.female.first"], "male": ["dist.male.first"],
             "both": ["dist.female.first", "dist.male.first"]}
    if sex not in files:
        raise ValueError(f"sex must be 'female', 'male' or 'both'; got {sex!r}")
    try:
        package = resources.files("names")
    except ModuleNotFoundError:
        raise ModuleNotFoundError("load_first_names needs the `names` package "
                                  "(pip install names==0.3.0, pinned in requirements.txt)")
    found = set()
    for name in files[sex]:
        for line in package.joinpath(name).read_text(encoding="ascii").splitlines():
            if line.strip():
                found.add(line.split()[0].lower())
    return np.array(sorted(found))
