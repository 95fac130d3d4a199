"""PNG figures: image grids, latent scatters, loss curves."""

import matplotlib

matplotlib.use("Agg")  # files only, no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from utils.files import replacing  # noqa: E402

DIGIT_COLORS = plt.get_cmap("tab10")


def _save(fig, path, dpi):
    try:
        with replacing(path) as temporary:
            fig.savefig(temporary, dpi=dpi)
    finally:
        plt.close(fig)


def tile(images, rows, cols, gap=2, gap_value=0.15):
    """Arrange (rows*cols, 28, 28) images into one array with a light grey gap between them."""
    images = np.asarray(images)[: rows * cols]
    h, w = images.shape[1:3]
    canvas = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), gap_value, np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = image
    return canvas


def save_image_grid(images, rows, cols, path, title=None, row_labels=None, col_labels=None):
    canvas = tile(images, rows, cols)
    scale = 0.45
    fig, ax = plt.subplots(figsize=(cols * scale + 0.6, rows * scale + (0.6 if title else 0.2)))
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    step_y, step_x = canvas.shape[0] / rows, canvas.shape[1] / cols
    ax.set_xticks(np.arange(cols) * step_x + step_x / 2 if col_labels else [])
    ax.set_yticks(np.arange(rows) * step_y + step_y / 2 if row_labels else [])
    if col_labels:
        ax.set_xticklabels(col_labels, fontsize=7)
    if row_labels:
        ax.set_yticklabels(row_labels, fontsize=7)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout(pad=0.2)
    _save(fig, path, dpi=110)


def save_code_scatter(codes, labels, path, title, background=None, heads=None, head_labels=None, axis="z"):
    """Codes' first two dimensions coloured by digit; `background` (n, 2) is drawn grey beneath, and
    `heads` (m, 2 or more) marked as black crosses, each with its entry of `head_labels`."""
    fig, ax = plt.subplots(figsize=(7.4, 5.6))
    if background is not None:
        ax.scatter(background[:, 0], background[:, 1], s=1, c="0.85", label="prior samples", rasterized=True)
    for digit in range(10):
        chosen = labels == digit
        ax.scatter(codes[chosen, 0], codes[chosen, 1], s=2, color=DIGIT_COLORS(digit), label=str(digit), rasterized=True)
    if heads is not None:
        ax.scatter(heads[:, 0], heads[:, 1], s=40, marker="x", c="black", linewidths=1.5, label="cluster heads")
        for head, text in zip(heads, head_labels or []):
            ax.annotate(text, head[:2], textcoords="offset points", xytext=(4, 4), fontsize=7)
    # Beside the axes, not on them: inside, the box hides whichever cluster lands in its corner.
    ax.legend(markerscale=5 if heads is None else 2, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1),
              borderaxespad=0)
    ax.set_xlabel(f"{axis}[0]")
    ax.set_ylabel(f"{axis}[1]")
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    _save(fig, path, dpi=110)


def _panels(history):
    """Columns to plot, grouped: every *_loss together, every per-batch *_accuracy together, any other column alone."""
    columns = [key for key in dict.fromkeys(k for row in history for k in row) if key not in ("epoch", "seconds")]
    groups = {}
    for column in columns:
        if column.endswith("_loss"):
            groups.setdefault("losses", []).append(column)
        elif column.endswith("_accuracy"):
            groups.setdefault("accuracy", []).append(column)
        else:
            groups[column] = [column]
    return groups


def save_loss_plot(history, path, title):
    """One panel per group of logged columns (see _panels), whatever the scheme logs; metrics measured
    only every few epochs are drawn with markers at those epochs."""
    groups = _panels(history)
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.4), squeeze=False)
    for ax, (group, columns) in zip(axes[0], groups.items()):
        for column in columns:
            points = [(row["epoch"], row[column]) for row in history if row.get(column) not in (None, "")]
            sparse = len(points) < len(history)
            ax.plot(*zip(*points), marker="o" if sparse else None, ms=3, label=column.replace("_", " "))
        if group == "losses":
            ax.axhline(np.log(2), color="0.6", lw=0.8, ls="--", label="log 2 (adversarial equilibrium)")
        if group == "accuracy":
            ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
            ax.set_ylim(0, 1)
        if group.endswith("mse"):
            ax.set_yscale("log")
        if len(columns) > 1 or group == "losses":
            ax.legend(fontsize=7)
        ax.set_title(group.replace("_", " "), fontsize=10)
        ax.set_xlabel("epoch")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path, dpi=100)


def save_count_matrix(counts, path, title, ylabel, xlabel, row_labels=None, col_labels=None):
    """A matrix of counts (a confusion matrix, or clusters x digits), each cell written in."""
    counts = np.asarray(counts)
    rows, cols = counts.shape
    fig, ax = plt.subplots(figsize=(0.42 * cols + 1.6, 0.36 * rows + 1.2))
    ax.imshow(counts, cmap="Blues")
    for (r, c), value in np.ndenumerate(counts):
        if value:
            ax.text(c, r, str(value), ha="center", va="center", fontsize=6,
                    color="white" if value > counts.max() / 2 else "black")
    ax.set_xticks(range(cols), col_labels or range(cols), fontsize=7)
    ax.set_yticks(range(rows), row_labels or range(rows), fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path, dpi=110)


def save_error_curve(history, columns, path, title, final=None):
    """The error per epoch (percent) of each of `columns` (one name, several, or {name: legend label}),
    and `final` {label: error} drawn as points at the last epoch."""
    columns = (columns,) if isinstance(columns, str) else columns
    labels = dict(columns) if isinstance(columns, dict) else {column: column.replace("_", " ") for column in columns}
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    for i, (column, label) in enumerate(labels.items()):
        points = [(row["epoch"], 100 * row[column]) for row in history if row.get(column) not in (None, "")]
        if points:
            ax.plot(*zip(*points), marker="o", ms=2, color=f"C{i}", label=label)
    last = history[-1]["epoch"] if history else 0
    for i, (label, value) in enumerate((final or {}).items(), start=len(columns)):
        ax.plot([last], [100 * value], marker="*", ms=10, ls="", color=f"C{i}", label=f"{label}: {100 * value:.2f}%")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")  # 2, 3, 4 rather than 2x10^0 on the log axis
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path, dpi=110)
