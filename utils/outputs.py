"""What a run writes besides checkpoints: the loss history (CSV and plot), JSON files, TensorBoard summaries."""

import csv
import importlib.util
import json
import os

from utils.config import ConfigError
from utils.files import replacing
from utils.plots import save_loss_plot


def write_json(path, payload):
    with replacing(path) as temporary, open(temporary, "w") as stream:
        json.dump(payload, stream, indent=2)
        stream.write("\n")


def write_text(path, lines):
    """One line per item (the labeled images' indices, ...)."""
    with replacing(path) as temporary, open(temporary, "w") as stream:
        stream.writelines(f"{line}\n" for line in lines)


def write_history(history, out, title):
    """losses.csv (every column any row has, in order of first appearance) and losses.png."""
    columns = list(dict.fromkeys(key for row in history for key in row))
    with replacing(os.path.join(out, "losses.csv")) as temporary, open(temporary, "w", newline="") as stream:
        writer = csv.DictWriter(stream, columns, restval="")
        writer.writeheader()
        writer.writerows(history)
    save_loss_plot(history, os.path.join(out, "losses.png"), title)


def summary_line(row, epochs):
    """One line per epoch: every logged loss and metric of the row, then the epoch's seconds."""
    parts = [f"epoch {row['epoch']}/{epochs}"]
    parts += [f"{key} {value:.4f}" for key, value in row.items() if key not in ("epoch", "seconds") and isinstance(value, float)]
    parts.append(f"{row['seconds']:.1f}s")
    return "  ".join(parts)


class TensorBoardWriter:
    """Each epoch's row (losses, metrics) and every phase's learning rate as tf.summary scalars."""

    def __init__(self, folder):
        if importlib.util.find_spec("tensorboard") is None:
            raise ConfigError(f"--tensorboard {folder}: TensorBoard is not installed (pip install tensorboard)")
        import tensorflow as tf

        self._tf = tf
        self._writer = tf.summary.create_file_writer(folder)

    def write(self, row, model):
        tf = self._tf
        with self._writer.as_default(step=row["epoch"]):
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    tf.summary.scalar(key, value)
            for phase, optimizer in model.optimizers.items():
                tf.summary.scalar(f"learning_rate/{phase}", float(optimizer.learning_rate))
        self._writer.flush()
