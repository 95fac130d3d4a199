"""PNG figures: image grids, latent scatters, loss curves."""

import matplotlib

matplotlib.use("Agg")  # files only, no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DIGIT_COLORS = plt.get_cmap("tab10")


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
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_code_scatter(codes, labels, path, title, background=None):
    """Codes' first two dimensions coloured by digit; `background` (n, 2) is drawn grey beneath."""
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    if background is not None:
        ax.scatter(background[:, 0], background[:, 1], s=1, c="0.85", label="prior samples", rasterized=True)
    for digit in range(10):
        chosen = labels == digit
        ax.scatter(codes[chosen, 0], codes[chosen, 1], s=2, color=DIGIT_COLORS(digit), label=str(digit), rasterized=True)
    ax.legend(markerscale=5, fontsize=7, loc="upper right", ncol=2 if background is None else 1)
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_loss_plot(history, path, title):
    """Discriminator loss and accuracy, generator loss, reconstruction MSE (and Parzen if measured)."""
    epochs = [row["epoch"] for row in history]
    parzen = [(row["epoch"], row["parzen_ll"]) for row in history if row.get("parzen_ll") not in (None, "")]
    panels = 4 if parzen else 3
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.4))
    axes[0].plot(epochs, [r["discriminator_loss"] for r in history], label="discriminator loss")
    axes[0].plot(epochs, [r["generator_loss"] for r in history], label="generator loss")
    axes[0].axhline(np.log(2), color="0.6", lw=0.8, ls="--", label="log 2 (equilibrium)")
    axes[0].set_title("adversarial losses")
    axes[0].legend(fontsize=7)
    axes[1].plot(epochs, [r["discriminator_accuracy"] for r in history], color="C2")
    axes[1].axhline(0.5, color="0.6", lw=0.8, ls="--")
    axes[1].set_ylim(0, 1)
    axes[1].set_title("discriminator accuracy")
    axes[2].plot(epochs, [r["reconstruction_mse"] for r in history], color="C3")
    axes[2].set_yscale("log")
    axes[2].set_title("reconstruction MSE")
    if parzen:
        axes[3].plot(*zip(*parzen), marker="o", color="C4")
        axes[3].set_title("Parzen log-likelihood (test)")
    for ax in axes:
        ax.set_xlabel("epoch")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
