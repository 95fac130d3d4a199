"""Checkpoints: every weight and optimizer slot, keyed by owner and variable path, plus the run's state, in one .npz.

A checkpoint is written to a temporary file that is then renamed, so a kill at any moment leaves
the previous one whole. Restoring checks the keys both ways: a missing or an extra array is named.
"""

import contextlib
import json
import os
import zipfile
import zlib

import numpy as np

from utils.config import UserError, reason
from utils.data import npz_headers
from utils.files import record_written

CHECKPOINT = "checkpoint.npz"  # in --out
FORMAT = 2  # 1: arrays by position (v0000, v0001, ...), which a changed model could silently misread
META = "meta"
MAX_META_BYTES = 1 << 26  # the configuration and the history rows take kilobytes; a header claiming more is a crafted file


class CheckpointError(UserError):
    """A checkpoint that is missing, unreadable, or from another configuration."""


def state_variables(model):
    """Every variable a resumed run needs, by key: `networks/<role>/<layer>/<weight>` and `optimizers/<phase>/<slot>`.

    Keys leave out the names Keras gives the models and optimizers themselves (which it numbers
    per process: "sgd_4"), so the same model built again gets the same keys.
    """
    variables = {}
    entries = [
        (f"networks/{role}/{variable.path.removeprefix(network.name + '/')}", variable)
        for role, network in model.networks.items()
        for variable in network.weights
    ]
    entries += [
        (f"optimizers/{phase}/{variable.name}", variable)
        for phase, optimizer in model.optimizers.items()
        for variable in optimizer.variables
    ]
    for key, variable in entries:
        if key in variables:
            raise ValueError(f"two variables share the checkpoint key {key}: give the networks' layers distinct names")
        variables[key] = variable
    return variables


def save_checkpoint(path, model, meta):
    arrays = {key: np.asarray(variable) for key, variable in state_variables(model).items()}
    temporary = path + ".tmp"
    try:
        with open(temporary, "wb") as stream:
            np.savez(stream, **{META: np.array(json.dumps({"format": FORMAT, **meta}))}, **arrays)
            stream.flush()
            os.fsync(stream.fileno())
        record_written(path)
        os.replace(temporary, path)
    except BaseException as error:
        # A full disk, or a second Ctrl-C mid-write: the previous checkpoint is whole, and no
        # partial file is left behind to fill the disk.
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if isinstance(error, OSError) and not error.filename:
            error.filename = path  # a failed write() names no file
        raise


def _unreadable(path, error):
    return CheckpointError(f"{path}: unreadable checkpoint ({reason(error)})")


def _headers(path):
    """Each stored array's (shape, dtype), read before any array is, so a crafted header cannot exhaust memory."""
    try:
        return npz_headers(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise _unreadable(path, error) from None


def read_checkpoint_meta(path):
    """The run's state and configuration stored with the arrays."""
    if not os.path.isfile(path):
        raise CheckpointError(
            f"{path}: no checkpoint here (one is written at the end of each epoch); start a run without "
            "--resume/--eval-only, with --overwrite to replace what the folder holds"
        )
    header = _headers(path).get(META)
    if header is None:
        raise CheckpointError(f"{path}: unreadable checkpoint (no {META} array)")
    shape, dtype = header
    if shape != () or dtype.kind != "U" or dtype.itemsize > MAX_META_BYTES:
        raise CheckpointError(f"{path}: unreadable checkpoint ({META} is {dtype} of shape {shape}, not a JSON string)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive[META]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise _unreadable(path, error) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: written by an older version of this code (arrays stored by position), which this one "
            "cannot read safely; start a new run with another --out"
        )
    for key, kind, check in META_SCHEMA:
        value = meta.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) or not check(value):
            raise CheckpointError(f"{path}: unreadable checkpoint (its {key} is {value!r})")
    return meta


def _numbers(values):
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


# What a resumed run reads from the meta, checked before anything is written (a hand-edited meta
# whose checksum still holds would otherwise fail half-way, after config.json was rewritten).
META_SCHEMA = (
    ("config", dict, lambda value: True),
    ("epoch", int, lambda value: value >= 0),
    ("step", int, lambda value: value >= 0),
    ("sums", dict, lambda value: _numbers(value.values())),
    ("epoch_seconds", (int, float), lambda value: value >= 0),
    ("history", list, lambda value: all(
        isinstance(row, dict) and isinstance(row.get("epoch"), int) and _numbers([row.get("seconds")]) for row in value)),
)


def restore_checkpoint(path, model):
    variables = state_variables(model)
    headers = _headers(path)
    stored = set(headers) - {META}
    missing, extra = sorted(set(variables) - stored), sorted(stored - set(variables))
    if missing:
        raise CheckpointError(f"{path}: no array for {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    if extra:
        raise CheckpointError(f"{path}: holds {extra[0]}, which this model does not have" + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    for key, variable in variables.items():
        if tuple(variable.shape) != headers[key][0]:
            raise CheckpointError(f"{path}: {key} has shape {headers[key][0]}, this model's {tuple(variable.shape)}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            values = {key: archive[key] for key in variables}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise _unreadable(path, error) from None
    for key, variable in variables.items():
        variable.assign(values[key])

