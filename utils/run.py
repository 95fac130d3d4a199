"""main(): flags, then train (or resume, or only evaluate) a scheme and write every output."""

import dataclasses
import json
import os

import keras

from utils.checkpoint import CheckpointError, read_checkpoint_meta, restore_checkpoint
from utils.config import ConfigError, UserError, fail, parse_config
from utils.data import load_mnist, resolve_data_path
from utils.outputs import TensorBoardWriter, write_json
from utils.training import CHECKPOINT, RunState, train


def main(scheme_class, config_class, argv=None):
    """Parse the flags, train (or resume, or only evaluate) and write every output; returns the metrics."""
    config, given = parse_config(config_class, argv, description=(scheme_class.__doc__ or "").strip())
    out = config.out
    checkpoint = os.path.join(out, CHECKPOINT)
    state = RunState()
    try:
        if config.resume or config.eval_only:
            meta = read_checkpoint_meta(checkpoint)
            config = _resumed_config(config_class, meta["config"], config, given)
            state = RunState.from_meta(meta)
        elif os.path.exists(checkpoint):
            fail(f"{out} already holds a run ({checkpoint}): pass --resume to continue it, or another --out")
        tensorboard = TensorBoardWriter(config.tensorboard) if config.tensorboard and not config.eval_only else None
        data = load_mnist(resolve_data_path(config.data), validation=config.validation)
        if config.limit:
            data.x_train, data.y_train = data.x_train[: config.limit], data.y_train[: config.limit]
        if len(data.x_train) < config.batch_size:
            raise ConfigError(f"--batch-size {config.batch_size} is larger than the {len(data.x_train)} training images")
        keras.utils.set_random_seed(config.seed)
        scheme = scheme_class(config, data)
    except UserError as error:
        fail(str(error))
    os.makedirs(out, exist_ok=True)
    model = scheme.build_model()
    if config.resume or config.eval_only:
        try:
            restore_checkpoint(checkpoint, model)
        except CheckpointError as error:
            fail(str(error))
        print(f"restored {checkpoint}: epoch {state.epoch}, step {state.step}")

    if not config.eval_only:  # an evaluation leaves the record of how the run was trained as it is
        write_json(os.path.join(out, "config.json"), {**dataclasses.asdict(config), **scheme.describe()})
        train(model, scheme, config, out, state, {"config": dataclasses.asdict(config)}, tensorboard)
        for role, network in model.networks.items():
            network.save(os.path.join(out, f"{role}.keras"))

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


def _resumed_config(config_class, saved, config, given):
    """The checkpoint's config, with only the flags that do not change the result taken from argv."""
    names = {field.name for field in dataclasses.fields(config_class)}
    resumed = config_class(**{key: value for key, value in saved.items() if key in names})
    for key in given - set(config_class.RESUMABLE):
        if getattr(config, key) != getattr(resumed, key):
            raise ConfigError(
                f"--{key.replace('_', '-')} {getattr(config, key)} differs from the checkpoint's "
                f"{getattr(resumed, key)}; a resumed run keeps its configuration"
            )
    updates = {key: getattr(config, key) for key in given & set(config_class.RESUMABLE)}
    return dataclasses.replace(resumed, **updates)
