"""main(): flags, then train (or resume, or only evaluate) a scheme and write every output.

TensorFlow loads only once the flags are parsed: --help and a bad flag answer at once.
"""

import dataclasses
import errno
import json
import logging
import os
import signal
import threading
import typing

from utils.checkpoint import CHECKPOINT, CheckpointError, read_checkpoint_meta, restore_checkpoint
from utils.config import ConfigError, UserError, fail, parse_config
from utils.data import DataError, fingerprint, load_mnist, resolve_data_path
from utils.files import replacing
from utils.folder import RunFolder, what_is_kept
from utils.outputs import TensorBoardWriter, write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the project's folder
RUNS = os.path.join(ROOT, "runs")  # where a run writes without --out: runs/<scheme name>, ignored by git
# Errors of the machine, not of the code: a full disk, a read-only or forbidden folder.
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)


class _WithoutRetracingNotes(logging.Filter):
    """Drops TensorFlow's note that predict() was traced again: the evaluation calls predict on several
    models and input sizes once each, which is what the note counts, and nothing a user can act on."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


def _import_training():
    """utils.training, which loads TensorFlow (seconds). Some code run by that import catches every
    exception, a KeyboardInterrupt too: a Ctrl-C pressed then is remembered and raised once it ends."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread has signal handlers
        from utils.training import TrainingStopped
        return TrainingStopped
    pressed = []

    def remember(signum, frame):
        pressed.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, remember)
    try:
        from utils.training import TrainingStopped
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)
    if pressed:
        raise KeyboardInterrupt
    return TrainingStopped


def main(scheme_class, config_class, argv=None):
    """Parse the flags, train (or resume, or only evaluate) and write every output; returns the metrics."""
    config, given = parse_config(config_class, argv, description=(scheme_class.__doc__ or "").strip())
    TrainingStopped = _import_training()  # TensorFlow loads here
    tensorflow_log = logging.getLogger("tensorflow")
    if not any(isinstance(f, _WithoutRetracingNotes) for f in tensorflow_log.filters):
        tensorflow_log.addFilter(_WithoutRetracingNotes())
    if "out" in given and not config.out:
        fail("--out must name a folder, got ''")
    out = os.path.abspath(config.out or os.path.join(RUNS, scheme_class.name))
    config = dataclasses.replace(config, out=out)  # the schemes write their figures to config.out
    try:
        with RunFolder(out, create=not (config.resume or config.eval_only)) as folder:
            print(f"output folder: {out}", flush=True)
            return _run(scheme_class, config_class, config, given, folder)
    except UserError as error:
        fail(str(error))
    except TrainingStopped as stop:
        if stop.status == 130:  # stopped on request, with a checkpoint to resume from: not an error
            print(stop.message)
            raise SystemExit(130) from None
        fail(stop.message, status=stop.status)
    except OSError as error:
        if error.errno not in WRITE_ERRORS:
            raise
        fail(f"cannot write {error.filename or out} ({error.strerror}); {what_is_kept(out)}")
    except KeyboardInterrupt:
        # A second Ctrl-C in training, or one during start-up or the evaluation: the last checkpoint is whole.
        fail(f"interrupted; {what_is_kept(out)}", status=130)


def _run(scheme_class, config_class, config, given, folder):
    import keras

    from utils.training import RunState, train

    out = config.out
    checkpoint = os.path.join(out, CHECKPOINT)
    state, trained_on = RunState(), None
    if config.resume or config.eval_only:
        meta = read_checkpoint_meta(checkpoint)
        config = _resumed_config(config_class, meta["config"], config, given)
        state = RunState.from_meta(meta)
        if config.resume and config.epochs < state.epoch + bool(state.step):
            done = f"{state.epoch} epochs" + (" and part of the next" if state.step else "")
            raise ConfigError(
                f"--epochs {config.epochs} is below what the run in {out} has done ({done}): a resumed run "
                "only goes on (--eval-only evaluates it as it is)"
            )
        trained_on = meta.get("data_sha256")  # older checkpoints did not record it
    else:
        folder.check_start(config.overwrite)
    tensorboard = TensorBoardWriter(config.tensorboard) if config.tensorboard and not config.eval_only else None
    source = resolve_data_path(config.data)
    # Stored absolute: --resume from another folder finds the same file.
    config = dataclasses.replace(config, data=os.path.abspath(source) if source else "")
    full = load_mnist(source, validation=config.validation)
    data = dataclasses.replace(full, x_train=full.x_train[: config.limit or None], y_train=full.y_train[: config.limit or None])
    data_sha256 = fingerprint(data)
    if trained_on and trained_on != data_sha256:
        raise DataError(
            f"{source or 'MNIST'}: not the data the run in {out} was trained on (SHA-256 {data_sha256[:12]}..., "
            f"the checkpoint's {trained_on[:12]}...); pass the run's own --data"
        )
    if len(data.x_train) < config.batch_size:
        raise ConfigError(f"--batch-size {config.batch_size} is larger than the {len(data.x_train)} training images")
    keras.utils.set_random_seed(config.seed)
    scheme = scheme_class(config, data)
    # The judge of generated digits, checked (or trained once, on the whole training file) before
    # anything is written or trained: a bad --classifier is reported now, not after the training.
    scheme.load_judge(full)
    if config.overwrite:
        folder.clear()  # only now that the new run can start: a bad flag or file leaves the old one intact
    if not (config.resume or config.eval_only):
        folder.start_record()
    model = scheme.build_model()
    if config.resume or config.eval_only:
        restore_checkpoint(checkpoint, model)
        print(f"restored {checkpoint}: epoch {state.epoch}, step {state.step}")

    if not config.eval_only:  # an evaluation leaves the record of how the run was trained as it is
        # The folder as seen from the project (results/...), not the absolute path of the machine that made it.
        recorded = {**dataclasses.asdict(config), "out": project_relative(out)}
        write_json(os.path.join(out, "config.json"), {**recorded, **scheme.describe()})
        train(model, scheme, state, {"config": dataclasses.asdict(config), "data_sha256": data_sha256}, tensorboard)
        for role, network in model.networks.items():
            with replacing(os.path.join(out, f"{role}.keras")) as temporary:
                network.save(temporary)

    history = state.history
    scheme.save_figures(model, history)
    metrics = {
        "epochs": state.epoch,
        "minutes": round(sum(row["seconds"] for row in history) / 60, 2),
        **({f"final_{name}": history[-1][name] for name in model.log_names} if history else {}),
        **scheme.evaluate(model),
    }
    write_json(os.path.join(out, "metrics.json"), metrics)
    print(json.dumps(metrics, indent=2))
    return metrics


def project_relative(path):
    """`path` relative to the project's folder if it is inside it, else absolute."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if os.path.commonpath([path, ROOT]) == ROOT else path


def _fits(value, kind):
    """Whether a stored config value is of its field's type (an int is a float; a bool is neither)."""
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    return isinstance(value, (int, float) if kind is float else kind)


def _resumed_config(config_class, saved, config, given):
    """The checkpoint's config, with only the flags that do not change the result taken from argv."""
    kinds = typing.get_type_hints(config_class)
    for key, value in saved.items():
        kind = kinds.get(key)
        if kind and not _fits(value, kind):
            raise CheckpointError(f"{config.out}/{CHECKPOINT}: unreadable checkpoint (its config's {key} is {value!r}, not of type {kind.__name__})")
    resumed = config_class(**{key: value for key, value in saved.items() if key in kinds})
    try:
        resumed.validate()
    except ConfigError as error:
        raise CheckpointError(f"{config.out}/{CHECKPOINT}: unreadable checkpoint (its config: {error})") from None
    kept = resumed.kept_on_resume()
    resumable = set(config_class.RESUMABLE) - set(kept)
    for key in given - resumable:
        if getattr(config, key) != getattr(resumed, key):
            why = f" ({kept[key]})" if key in kept else ""
            raise ConfigError(
                f"--{key.replace('_', '-')} {getattr(config, key)} differs from the checkpoint's "
                f"{getattr(resumed, key)}; a resumed run keeps its configuration{why}"
            )
    updates = {key: getattr(config, key) for key in given & resumable}
    # The folder is where the checkpoint was found, wherever the run was started; it is not replaced.
    return dataclasses.replace(resumed, **{**updates, "out": config.out, "overwrite": False})
