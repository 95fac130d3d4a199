"""The training loop: epochs of compiled multi-step calls, progress, a checkpoint per epoch, Ctrl-C and NaN stops."""

import contextlib
import dataclasses
import os
import signal
import time

import keras
import numpy as np
import tensorflow as tf

from utils.checkpoint import CHECKPOINT, save_checkpoint
from utils.folder import what_is_kept
from utils.outputs import summary_line, write_history

# Steps per compiled call. Between calls the loop updates the progress bar, checks the losses are
# finite and honours a stop request, so a kill waits at most this many steps.
STEPS_PER_CALL = 20


@dataclasses.dataclass
class RunState:
    """Where a run is: epochs done, steps done in the current epoch and their summed logs, and the history rows."""

    epoch: int = 0
    step: int = 0
    sums: dict = dataclasses.field(default_factory=dict)
    epoch_seconds: float = 0.0  # training time already spent in the current epoch (before an interruption)
    history: list = dataclasses.field(default_factory=list)

    @classmethod
    def from_meta(cls, meta):
        return cls(**{field.name: meta[field.name] for field in dataclasses.fields(cls)})


class StopRequest:
    """Ctrl-C or SIGTERM asks the loop to checkpoint and stop after the current call; twice, at once.

    At once is a KeyboardInterrupt, which main() reports in one line; the last checkpoint is whole.
    """

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this call: writing a checkpoint (press Ctrl-C again to abort now)", flush=True)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def on_device(array):
    """`array` copied once to where the step runs: tf.identity runs on the GPU when there is one."""
    return tf.identity(tf.convert_to_tensor(array))


class TrainingStopped(Exception):
    """The loop stopped before its last epoch: `message` for the user, `status` for the process to end with."""

    def __init__(self, message, status):
        super().__init__(message)
        self.message, self.status = message, status


def train(model, scheme, state, meta, tensorboard=None):
    """Train from `state` to the scheme's config.epochs, writing into its config.out; `meta`
    (configuration) is stored with every checkpoint. Raises TrainingStopped on a non-finite loss or
    a stop request, after the checkpoint the stop leaves is written."""
    config = scheme.config
    out = config.out
    images = on_device(scheme.data.x_train)  # copied once; each call gathers its batches there
    run_steps = tf.function(model.train_steps, jit_compile=config.jit)
    checkpoint = os.path.join(out, CHECKPOINT)
    names = model.log_names

    def save():
        save_checkpoint(checkpoint, model, {**meta, **dataclasses.asdict(state)})

    with contextlib.suppress(FileNotFoundError):
        os.remove(checkpoint + ".tmp")  # left by a run killed mid-write; this one holds the folder's lock
    if state.epoch and not state.step:
        # A run killed between a checkpoint's rename and the outputs of its epoch lost those outputs:
        # the restored model is the one they show, so write them again.
        write_epoch_outputs(model, scheme, state)
    with StopRequest() as stop:
        while state.epoch < config.epochs:
            epoch = state.epoch
            inputs = scheme.epoch_inputs(epoch)
            steps = len(next(iter(inputs.values())))
            sums = {name: tf.constant(state.sums.get(name, 0.0), tf.float32) for name in names}
            progress = keras.utils.Progbar(steps, stateful_metrics=names)
            started = time.perf_counter() - state.epoch_seconds
            print(f"epoch {epoch + 1}/{config.epochs}")
            for start in range(state.step, steps, STEPS_PER_CALL):
                done = min(start + STEPS_PER_CALL, steps)
                called = run_steps(images, {name: value[start:done] for name, value in inputs.items()})
                sums = {name: sums[name] + called[name] for name in names}
                means = {name: float(sums[name].numpy()) / done for name in names}
                bad = [f"{name}={value}" for name, value in means.items() if not np.isfinite(value)]
                if bad:
                    print(flush=True)  # end the progress bar's line
                    raise TrainingStopped(
                        f"non-finite loss in epoch {epoch + 1} by step {done} ({', '.join(bad)}); {what_is_kept(out, hint=False)}", 1
                    )
                progress.update(done, list(means.items()))
                if stop.requested:
                    state.step, state.sums = done, {name: float(sums[name].numpy()) for name in names}
                    state.epoch_seconds = time.perf_counter() - started
                    save()
                    raise TrainingStopped(f"\ncheckpoint written at epoch {epoch + 1}, step {done}: continue with --resume --out {out}", 130)
            row = {"epoch": epoch + 1, **{name: float(sums[name].numpy()) / steps for name in names}}
            row["seconds"] = round(time.perf_counter() - started, 2)
            if config.eval_every and (epoch + 1) % config.eval_every == 0:
                row.update(scheme.progress_metrics(model))
            state.history.append(row)
            print(summary_line(row, config.epochs))
            state.epoch, state.step, state.sums, state.epoch_seconds = epoch + 1, 0, {}, 0.0
            save()
            if tensorboard:
                tensorboard.write(row, model)
            write_epoch_outputs(model, scheme, state)


def write_epoch_outputs(model, scheme, state):
    """What the end of epoch `state.epoch` writes besides the checkpoint: its sample grid if due, the loss history."""
    config = scheme.config
    if state.epoch % config.sample_every == 0 or state.epoch == config.epochs:
        scheme.save_samples(model, state.epoch)
    write_history(state.history, config.out, scheme.name)
