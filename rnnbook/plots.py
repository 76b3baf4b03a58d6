"""Figures the chapters share: diagrams of recurrent networks and views of their hidden states.

Every function draws on a matplotlib ``Axes`` it is given (or creates a figure when given
``None``) and returns what it drew on, so a chapter can add titles or combine panels. Matplotlib
is imported inside the functions, never when this module is imported.

* :func:`draw_unrolled_rnn`: the recurrence ``h_t = tanh(W_h h_{t-1} + W_x x_t + b_h)`` (and,
  optionally, ``y_t = W_y h_t + b_y``) unrolled through time, one column of boxes per step, with
  the same colour for every copy of a shared weight matrix.
* :func:`draw_rnn_architecture` / :func:`draw_rnn_architectures`: the many-to-one, many-to-many,
  one-to-many and encoder-decoder arrangements of inputs and outputs.
* :func:`plot_hidden_heatmap`: a (time, hidden) array of states as an image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._checks import as_array, check_rank

if TYPE_CHECKING:  # for annotations only: matplotlib is imported lazily, inside the functions
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage

__all__ = ["ARCHITECTURES", "WEIGHT_COLORS", "draw_unrolled_rnn", "draw_rnn_architecture",
           "draw_rnn_architectures", "plot_hidden_heatmap"]

#: One colour per shared weight matrix, used by every diagram in the book.
WEIGHT_COLORS = {"W_x": "#1f77b4", "W_h": "#d62728", "W_y": "#2ca02c", "feedback": "#7f7f7f"}

#: Fill colours of the boxes for inputs, hidden states, outputs and the initial state.
_FILL = {"x": "#dbe9f6", "h": "#fde0dd", "y": "#e5f5e0", "h0": "#f0f0f0", "enc": "#fde0dd",
         "dec": "#fdd0a2"}

#: The four arrangements, in the order :func:`draw_rnn_architectures` draws them, with the
#: example each panel names.
ARCHITECTURES = {
    "many-to-one": "sentiment of a review",
    "many-to-many": "a tag for every word",
    "one-to-many": "a sequence from one input",
    "encoder-decoder": "translation",
}

_BOX_W, _BOX_H = 0.62, 0.46  # box size in data units; columns are 1 unit apart


def _check_ax(ax, name: str = "ax") -> Axes:
    """Return ``ax``, or raise TypeError unless it looks like a matplotlib Axes."""
    if not all(hasattr(ax, attr) for attr in ("add_patch", "text", "set_xlim")):
        raise TypeError(f"{name} must be a matplotlib Axes (or None to create one); "
                        f"got {type(ax).__name__}")
    return ax


def _check_steps(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _box(ax, xy, text, fill, *, fontsize=11, dashed=False):
    """A rounded box centred at ``xy`` with ``text`` (math) inside."""
    from matplotlib.patches import FancyBboxPatch

    cx, cy = xy
    patch = FancyBboxPatch((cx - _BOX_W / 2, cy - _BOX_H / 2), _BOX_W, _BOX_H,
                           boxstyle="round,pad=0.02,rounding_size=0.08", facecolor=fill,
                           edgecolor="0.25", linewidth=1.2, linestyle="--" if dashed else "-",
                           zorder=2)
    ax.add_patch(patch)
    ax.text(cx, cy, text, ha="center", va="center", fontsize=fontsize, zorder=3)
    return patch


def _arrow(ax, start, end, color, *, label=None, label_side="right", connectionstyle="arc3",
           dashed=False, fontsize=9, clip=True):
    """An arrow from box centre ``start`` to box centre ``end``, clipped at the box edges.

    With ``clip=False`` the arrow runs between the two points exactly.
    """
    from matplotlib.patches import FancyArrowPatch

    (x0, y0), (x1, y1) = start, end
    dx, dy = x1 - x0, y1 - y0
    # leave the boxes: shrink along the direction of travel by half a box (plus a gap)
    if not clip:
        sx = sy = 0.0
    elif abs(dx) >= abs(dy):
        sx, sy = np.sign(dx) * (_BOX_W / 2 + 0.04), 0.0
    else:
        sx, sy = 0.0, np.sign(dy) * (_BOX_H / 2 + 0.04)
    arrow = FancyArrowPatch((x0 + sx, y0 + sy), (x1 - sx, y1 - sy), arrowstyle="-|>",
                            mutation_scale=12, color=color, linewidth=1.5,
                            linestyle="--" if dashed else "-", connectionstyle=connectionstyle,
                            zorder=1)
    ax.add_patch(arrow)
    if label is not None:
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        if abs(dx) >= abs(dy):  # horizontal arrow: label above it
            ax.text(mx, my + 0.1, label, ha="center", va="bottom", fontsize=fontsize, color=color)
        else:                   # vertical arrow: label beside it
            off = 0.06 if label_side == "right" else -0.06
            ax.text(mx + off, my, label, ha="left" if label_side == "right" else "right",
                    va="center", fontsize=fontsize, color=color)
    return arrow


def _finish(ax, xmin, xmax, ymin, ymax):
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_unrolled_rnn(ax: Axes | None = None, steps: int = 4, *, show_output: bool = True,
                      folded: bool = False, input_labels: Sequence[str] | None = None) -> Axes:
    """Draw the recurrence unrolled through time: one column of boxes per time step.

    Each step ``t = 1..steps`` gets a box for ``x_t`` (bottom), ``h_t`` (middle) and, when
    ``show_output``, ``y_t`` (top); ``h_0`` sits on the left. Arrows ``x_t -> h_t`` are labelled
    ``W_x``, ``h_{t-1} -> h_t`` ``W_h`` and ``h_t -> y_t`` ``W_y``; every copy of a matrix has the
    same colour (:data:`WEIGHT_COLORS`), which is the point of the picture: one set of weights,
    applied at every step. A caption under the diagram says so.

    With ``folded=True`` the compact, "rolled" form (one cell with a loop on itself) is drawn to
    the left, followed by an equals sign.

    Args:
        ax: the Axes to draw on, or None to create a figure sized for the diagram.
        steps: number of time steps drawn (>= 1).
        show_output: also draw ``y_t`` and the ``W_y`` arrows.
        folded: also draw the rolled form on the left.
        input_labels: optional words shown under the input boxes, one per step (for example the
            tokens of a sentence).

    Returns:
        The Axes drawn on. It holds ``1 + steps * (2 + show_output)`` boxes for the unrolled part
        (plus ``2 + show_output`` for the folded form) and one arrow per weight use.
    """
    steps = _check_steps("steps", steps, 1)
    if input_labels is not None:
        input_labels = [str(s) for s in input_labels]
        if len(input_labels) != steps:
            raise ValueError(f"input_labels must have one entry per step ({steps}); "
                             f"got {len(input_labels)}")
    if ax is None:
        import matplotlib.pyplot as plt

        width = 0.95 * (1.45 * steps + 1 + (2.95 if folded else 0))
        _, ax = plt.subplots(figsize=(width, 3.1 if show_output else 2.4))
    _check_ax(ax)

    y_x, y_h, y_y = 0.0, 1.2, 2.4
    gap = 1.45  # distance between time steps
    left = 0.0
    if folded:
        from matplotlib.patches import FancyArrowPatch

        cx = 0.0
        _box(ax, (cx, y_x), r"$x_t$", _FILL["x"])
        _box(ax, (cx, y_h), r"$h_t$", _FILL["h"])
        _arrow(ax, (cx, y_x), (cx, y_h), WEIGHT_COLORS["W_x"], label=r"$W_x$", label_side="left")
        if show_output:
            _box(ax, (cx, y_y), r"$y_t$", _FILL["y"])
            _arrow(ax, (cx, y_h), (cx, y_y), WEIGHT_COLORS["W_y"], label=r"$W_y$",
                   label_side="left")
        # the loop: out of the box's right edge and back into it, h_{t-1} feeding h_t
        edge = cx + _BOX_W / 2 + 0.02
        loop = FancyArrowPatch((edge, y_h + 0.12), (edge, y_h - 0.12), arrowstyle="-|>",
                               mutation_scale=12, color=WEIGHT_COLORS["W_h"], linewidth=1.5,
                               connectionstyle="arc,angleA=0,angleB=0,armA=28,armB=28,rad=8",
                               zorder=1)
        ax.add_patch(loop)
        ax.text(edge + 0.22, y_h - 0.22, r"$W_h$", ha="center", va="top", fontsize=9,
                color=WEIGHT_COLORS["W_h"])
        ax.text(cx + 1.45, y_h, "=", ha="center", va="center", fontsize=20)
        left = cx + 2.2

    col = [left + gap * t for t in range(steps + 1)]  # col[0] holds h_0, col[t] step t
    _box(ax, (col[0], y_h), r"$h_0$", _FILL["h0"], dashed=True)
    for t in range(1, steps + 1):
        _box(ax, (col[t], y_x), f"$x_{{{t}}}$", _FILL["x"])
        _box(ax, (col[t], y_h), f"$h_{{{t}}}$", _FILL["h"])
        _arrow(ax, (col[t], y_x), (col[t], y_h), WEIGHT_COLORS["W_x"], label=r"$W_x$")
        _arrow(ax, (col[t - 1], y_h), (col[t], y_h), WEIGHT_COLORS["W_h"], label=r"$W_h$")
        if show_output:
            _box(ax, (col[t], y_y), f"$y_{{{t}}}$", _FILL["y"])
            _arrow(ax, (col[t], y_h), (col[t], y_y), WEIGHT_COLORS["W_y"], label=r"$W_y$")
        if input_labels is not None:
            ax.text(col[t], y_x - _BOX_H / 2 - 0.12, f"\u201c{input_labels[t - 1]}\u201d",
                    ha="center", va="top", fontsize=9, style="italic")
    bottom = y_x - _BOX_H / 2 - (0.55 if input_labels is not None else 0.3)
    ax.text((col[0] + col[-1]) / 2, bottom,
            "the same $W_x$, $W_h$, $b_h$" + (", $W_y$, $b_y$" if show_output else "")
            + " at every step", ha="center", va="top", fontsize=9, color="0.3")
    top = (y_y if show_output else y_h) + _BOX_H / 2 + 0.15
    xmin = -0.75 if folded else col[0] - 0.5
    _finish(ax, xmin, col[-1] + 0.5, bottom - 0.35, top)
    return ax


def draw_rnn_architecture(ax: Axes | None, kind: str, steps: int = 4, *,
                          title: bool = True) -> Axes:
    """Draw one input/output arrangement of a recurrent network as a small box diagram.

    Inputs are drawn at the bottom, hidden states in the middle and outputs at the top; an arrow
    joins every hidden state to the next (the recurrence).

    * ``"many-to-one"``: ``steps`` inputs, one output read from the last state.
    * ``"many-to-many"``: an output at every one of the ``steps`` steps.
    * ``"one-to-many"``: one input at the first step, an output at every step; each output is
      fed back (dashed arrows) as the next step's input.
    * ``"encoder-decoder"``: an encoder reads ``steps`` inputs; its final state starts a decoder
      (a different colour, other weights) that emits ``steps - 1`` outputs. During training the
      decoder reads the previous target at each step (teacher forcing): its inputs are
      ``y_0`` (a start symbol), ``y_1``, ..., one step behind its outputs.

    Args:
        ax: the Axes to draw on, or None to create one.
        kind: one of :data:`ARCHITECTURES`.
        steps: time steps drawn (>= 2).
        title: put the arrangement's name and its example from :data:`ARCHITECTURES` above it.

    Returns:
        The Axes drawn on.
    """
    if kind not in ARCHITECTURES:
        raise ValueError(f"kind must be one of {list(ARCHITECTURES)}; got {kind!r}")
    steps = _check_steps("steps", steps, 2)
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(1.1 * steps + 0.9, 2.8))
    _check_ax(ax)

    label_size = 13  # box labels: readable when the figure is scaled to the page's width
    y_x, y_h, y_y = 0.0, 1.1, 2.2
    gap = 1.2
    fb = WEIGHT_COLORS["feedback"]
    if kind == "encoder-decoder":
        n_enc, n_dec = steps, steps - 1
        n = n_enc + n_dec
        for t in range(n):
            cx, enc = gap * t, t < n_enc
            _box(ax, (cx, y_h), "", _FILL["enc" if enc else "dec"])
            if t > 0:
                _arrow(ax, (cx - gap, y_h), (cx, y_h), WEIGHT_COLORS["W_h"])
            if enc:
                _box(ax, (cx, y_x), f"$x_{{{t + 1}}}$", _FILL["x"], fontsize=label_size)
                _arrow(ax, (cx, y_x), (cx, y_h), WEIGHT_COLORS["W_x"])
            else:
                j = t - n_enc + 1  # decoder step: reads target j - 1, emits target j
                _box(ax, (cx, y_x), f"$y_{{{j - 1}}}$", _FILL["x"], fontsize=label_size)
                _arrow(ax, (cx, y_x), (cx, y_h), WEIGHT_COLORS["W_x"])
                _box(ax, (cx, y_y), f"$y_{{{j}}}$", _FILL["y"], fontsize=label_size)
                _arrow(ax, (cx, y_h), (cx, y_y), WEIGHT_COLORS["W_y"])
        ax.text(gap * (n_enc - 1) / 2, y_h + 0.4, "encoder", ha="center", va="bottom",
                fontsize=label_size - 1)
        ax.text(gap * (n_enc + (n_dec - 1) / 2), y_y + _BOX_H / 2 + 0.08,
                "decoder (teacher forcing)", ha="center", va="bottom", fontsize=label_size - 1)
    else:
        n = steps
        for t in range(n):
            cx = gap * t
            _box(ax, (cx, y_h), "", _FILL["h"])
            if t > 0:
                _arrow(ax, (cx - gap, y_h), (cx, y_h), WEIGHT_COLORS["W_h"])
            if kind != "one-to-many" or t == 0:
                _box(ax, (cx, y_x), f"$x_{{{t + 1}}}$", _FILL["x"], fontsize=label_size)
                _arrow(ax, (cx, y_x), (cx, y_h), WEIGHT_COLORS["W_x"])
            if kind != "many-to-one" or t == n - 1:
                label = "$y$" if kind == "many-to-one" else f"$y_{{{t + 1}}}$"
                _box(ax, (cx, y_y), label, _FILL["y"], fontsize=label_size)
                _arrow(ax, (cx, y_h), (cx, y_y), WEIGHT_COLORS["W_y"])
            if kind == "one-to-many" and t < n - 1:
                # y_t becomes the input of step t+1: from y_t's right edge to the top-left of
                # the next hidden box
                _arrow(ax, (cx + _BOX_W / 2 + 0.03, y_y),
                       (cx + gap - _BOX_W / 4, y_h + _BOX_H / 2 + 0.03), fb, dashed=True,
                       clip=False, connectionstyle="arc3,rad=-0.3")
    if title:
        ax.set_title(f"{kind}\n({ARCHITECTURES[kind]})", fontsize=label_size)
    top = y_y + _BOX_H / 2 + (0.55 if kind == "encoder-decoder" else 0.1)
    _finish(ax, -0.5, gap * (n - 1) + 0.5, y_x - _BOX_H / 2 - 0.1, top)
    return ax


def draw_rnn_architectures(axes: Sequence[Axes] | None = None, steps: int = 4) -> Figure:
    """Draw the four arrangements of :data:`ARCHITECTURES` side by side.

    Args:
        axes: four Axes (any sequence or array of them, in the order of :data:`ARCHITECTURES`),
            or None to create a figure with the first three arrangements in a row and the
            wider encoder-decoder below them, sized so that its labels stay readable at the
            width of a book page.
        steps: time steps per panel (>= 2); the encoder-decoder panel uses ``2 * steps - 1``
            columns.

    Returns:
        The Figure the panels are on.
    """
    steps = _check_steps("steps", steps, 2)
    if axes is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(9.0, 5.2), layout="constrained")
        grid = fig.add_gridspec(2, 3, height_ratios=[1.0, 1.2])
        axes = [fig.add_subplot(grid[0, i]) for i in range(3)] + [fig.add_subplot(grid[1, :])]
    axes = list(np.ravel(np.asarray(axes, dtype=object)))
    if len(axes) != len(ARCHITECTURES):
        raise ValueError(f"axes must hold {len(ARCHITECTURES)} Axes, one per arrangement; "
                         f"got {len(axes)}")
    for i, (ax, kind) in enumerate(zip(axes, ARCHITECTURES)):
        _check_ax(ax, f"axes[{i}]")
        draw_rnn_architecture(ax, kind, steps)
    return axes[0].figure


def plot_hidden_heatmap(ax: Axes | None, H, *, colorbar: bool = True,
                        vmax: float | None = 1.0, cmap: str = "RdBu_r",
                        label: str = r"$h_{t,i}$") -> AxesImage:
    """Show hidden states over time as an image: time on the x axis, hidden unit on the y axis.

    Args:
        ax: the Axes to draw on, or None to create one.
        H: hidden states of one sequence, shape (time, hidden) (for example
            ``rnn_forward(...)[0]``).
        colorbar: add a colour bar labelled ``label``.
        vmax: the colour scale runs over ``[-vmax, vmax]`` (1 suits tanh states); None uses the
            largest absolute entry of ``H``.
        cmap: a diverging colour map, so that zero is neutral.
        label: the colour bar's label.

    Returns:
        The ``AxesImage`` drawn (its array is ``H.T``, shape (hidden, time)).
    """
    H = as_array("H", H)
    check_rank("H", H, 2, "(time, hidden)")
    if H.size == 0:
        raise ValueError(f"H must hold at least one time step and one unit; got shape {H.shape}")
    if vmax is None:
        vmax = float(np.max(np.abs(H))) or 1.0
    elif not vmax > 0:
        raise ValueError(f"vmax must be positive (or None); got {vmax!r}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 3))
    _check_ax(ax)
    time, hidden = H.shape
    image = ax.imshow(H.T, aspect="auto", origin="lower", cmap=cmap, vmin=-vmax, vmax=vmax,
                      interpolation="nearest", extent=(0.5, time + 0.5, -0.5, hidden - 0.5))
    ax.set_xlabel("time step $t$")
    ax.set_ylabel("hidden unit $i$")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label=label)
    return image
