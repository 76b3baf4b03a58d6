"""Specification of rnnbook.plots: what each diagram contains, and the arguments it refuses."""

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")  # no display: draw into memory only

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from rnnbook import plots  # noqa: E402
from rnnbook.plots import (ARCHITECTURES, draw_rnn_architecture,  # noqa: E402
                           draw_rnn_architectures, draw_unrolled_rnn, plot_hidden_heatmap)


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def boxes(ax):
    return [p for p in ax.patches if isinstance(p, FancyBboxPatch)]


def arrows(ax):
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch)]


def texts(ax):
    return [t.get_text() for t in ax.texts]


def test_importing_the_module_does_not_import_pyplot():
    code = ("import sys, rnnbook.plots; "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported at import time'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("steps", [1, 4, 7])
def test_unrolled_rnn_has_one_column_of_boxes_per_step(ax, steps):
    assert draw_unrolled_rnn(ax, steps) is ax
    assert len(boxes(ax)) == 1 + 3 * steps            # h_0, then x_t, h_t, y_t per step
    assert len(arrows(ax)) == 3 * steps               # W_x, W_h, W_y once per step
    labels = texts(ax)
    assert labels.count("$W_x$") == labels.count("$W_h$") == labels.count("$W_y$") == steps
    assert "$h_0$" in labels
    assert [f"$x_{{{t}}}$" in labels for t in range(1, steps + 1)] == [True] * steps
    assert f"$y_{{{steps}}}$" in labels
    assert any("at every step" in s for s in labels)  # the shared-weights caption


def test_every_copy_of_a_weight_has_the_same_colour(ax):
    draw_unrolled_rnn(ax, 5)
    by_label = {}
    for t in ax.texts:
        if t.get_text().startswith("$W_"):
            by_label.setdefault(t.get_text(), set()).add(t.get_color())
    assert by_label == {f"${k}$": {c} for k, c in plots.WEIGHT_COLORS.items() if k != "feedback"}


def test_unrolled_rnn_without_output(ax):
    draw_unrolled_rnn(ax, 3, show_output=False)
    assert len(boxes(ax)) == 1 + 2 * 3
    assert len(arrows(ax)) == 2 * 3
    assert not any(s.startswith("$y_") or s == "$W_y$" for s in texts(ax))


def test_unrolled_rnn_folded_adds_the_rolled_cell(ax):
    draw_unrolled_rnn(ax, 2, folded=True)
    assert len(boxes(ax)) == 3 + 1 + 3 * 2            # x_t, h_t, y_t, then the unrolled part
    assert len(arrows(ax)) == 3 + 3 * 2               # W_x, loop, W_y, then the unrolled part
    assert {"$x_t$", "$h_t$", "$y_t$", "="} <= set(texts(ax))


def test_unrolled_rnn_input_labels(ax):
    draw_unrolled_rnn(ax, 3, input_labels=["the", "film", "rocks"])
    assert "\u201cfilm\u201d" in texts(ax)


def test_unrolled_rnn_creates_a_figure_when_given_none():
    ax = draw_unrolled_rnn(None, 2)
    assert ax.figure is not None and len(boxes(ax)) == 7


@pytest.mark.parametrize("steps", [0, -1, 2.5, True, "3"])
def test_unrolled_rnn_rejects_bad_steps(ax, steps):
    with pytest.raises(ValueError, match="steps"):
        draw_unrolled_rnn(ax, steps)


def test_unrolled_rnn_rejects_wrong_number_of_input_labels(ax):
    with pytest.raises(ValueError, match="input_labels"):
        draw_unrolled_rnn(ax, 3, input_labels=["only", "two"])


def test_unrolled_rnn_rejects_a_non_axes(ax):
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        draw_unrolled_rnn("not an axes", 3)


# (boxes, arrows) each arrangement draws for `steps` time steps
EXPECTED = {
    "many-to-one": lambda n: (2 * n + 1, 2 * n),                 # n x, n h, 1 y; n-1 W_h
    "many-to-many": lambda n: (3 * n, 3 * n - 1),
    "one-to-many": lambda n: (2 * n + 1, 2 * n + (n - 1)),       # n-1 dashed feedback arrows
    # encoder: n inputs; decoder (teacher forcing): n - 1 inputs and n - 1 outputs
    "encoder-decoder": lambda n: (n + (2 * n - 1) + 2 * (n - 1),
                                  n + (2 * n - 2) + 2 * (n - 1)),
}


@pytest.mark.parametrize("kind", list(ARCHITECTURES))
@pytest.mark.parametrize("steps", [2, 4])
def test_each_architecture_draws_its_inputs_and_outputs(ax, kind, steps):
    assert draw_rnn_architecture(ax, kind, steps) is ax
    n_boxes, n_arrows = EXPECTED[kind](steps)
    assert (len(boxes(ax)), len(arrows(ax))) == (n_boxes, n_arrows)
    assert kind in ax.get_title() and ARCHITECTURES[kind] in ax.get_title()


def test_architecture_rejects_unknown_kind(ax):
    with pytest.raises(ValueError, match="kind must be one of"):
        draw_rnn_architecture(ax, "many-to-few")


def test_architecture_rejects_too_few_steps(ax):
    with pytest.raises(ValueError, match="steps"):
        draw_rnn_architecture(ax, "many-to-one", steps=1)


def test_architectures_draws_four_titled_panels():
    fig = draw_rnn_architectures(steps=3)
    titled = [a for a in fig.axes if a.get_title()]
    assert [a.get_title().split("\n")[0] for a in titled] == list(ARCHITECTURES)


def test_architectures_uses_the_axes_it_is_given():
    fig, axes = plt.subplots(2, 2)
    assert draw_rnn_architectures(axes) is fig
    assert all(len(boxes(a)) > 0 for a in axes.ravel())


def test_architectures_rejects_wrong_number_of_axes():
    _, axes = plt.subplots(1, 3)
    with pytest.raises(ValueError, match="axes must hold 4"):
        draw_rnn_architectures(axes)


def test_hidden_heatmap_shows_time_along_x(ax, rng):
    H = np.tanh(rng.normal(size=(12, 5)))
    image = plot_hidden_heatmap(ax, H)
    assert isinstance(image, AxesImage)
    np.testing.assert_array_equal(image.get_array(), H.T)  # rows: hidden units, columns: time
    assert image.get_clim() == (-1.0, 1.0)
    assert len(ax.figure.axes) == 2                         # the plot and its colour bar


def test_hidden_heatmap_symmetric_scale_from_data(ax):
    image = plot_hidden_heatmap(ax, [[0.5, -3.0], [1.0, 2.0]], vmax=None, colorbar=False)
    assert image.get_clim() == (-3.0, 3.0)
    assert len(ax.figure.axes) == 1


@pytest.mark.parametrize("H, match", [
    (np.zeros((2, 3, 4)), r"H must have 2 dimensions \(time, hidden\); got shape \(2, 3, 4\)"),
    (np.zeros((0, 3)), "at least one time step"),
    ([[1.0, np.nan]], "H contains NaN"),
])
def test_hidden_heatmap_rejects_bad_arrays(ax, H, match):
    with pytest.raises(ValueError, match=match):
        plot_hidden_heatmap(ax, H)


def test_hidden_heatmap_rejects_non_positive_vmax(ax):
    with pytest.raises(ValueError, match="vmax"):
        plot_hidden_heatmap(ax, np.zeros((3, 2)), vmax=0.0)


def test_decoder_reads_the_previous_target(ax):
    draw_rnn_architecture(ax, "encoder-decoder", 4)
    labels = texts(ax)
    # teacher forcing: the decoder's inputs are y_0 (start symbol), y_1, y_2; its outputs y_1..y_3
    assert [f"$y_{{{j}}}$" in labels for j in range(4)] == [True] * 4
    assert labels.count("$y_{1}$") == labels.count("$y_{2}$") == 2   # read once, emitted once
    assert any("teacher forcing" in s for s in labels)


def test_architecture_labels_are_large_enough_to_read():
    fig = draw_rnn_architectures(steps=4)
    sizes = [t.get_fontsize() for a in fig.axes for t in a.texts + [a.title]
             if t.get_text()]
    assert min(sizes) >= 12
    assert fig.get_figwidth() <= 9.5        # shown at about page width, so little shrinking
