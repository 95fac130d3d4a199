"""A run's output folder: checked before the data loads, locked for one run at a time, cleared only on purpose."""

import contextlib
import fcntl
import os

from utils.checkpoint import CHECKPOINT, CheckpointError, read_checkpoint_meta
from utils.config import UserError
from utils.files import MANIFEST, is_partial, remove_run_files, run_files, start_record

# Any of these in a folder means a run wrote there.
RUN_RECORDS = (CHECKPOINT, "config.json", "metrics.json", "losses.csv")
LOCK = ".lock"


class FolderError(UserError):
    """An --out that cannot hold a run, holds another one, or is in use."""


class RunFolder:
    """`--out`, created if `create` and locked while the run uses it.

    The lock is flock's on a file in the folder: the kernel drops it when the process ends, however
    it ends, so a killed run never leaves the folder locked. The file goes when the run ends, and so
    does a folder this run created and left empty: an error before the run starts leaves nothing.
    """

    def __init__(self, path, create):
        self.path, self.create = path, create
        self.created = False
        self._lock = None

    def __enter__(self):
        path = self.path
        if os.path.exists(path) and not os.path.isdir(path):
            raise FolderError(f"--out {path}: not a folder")
        if not os.path.isdir(path):
            if not self.create:
                raise FolderError(f"--out {path}: no such folder, so no run to continue or evaluate")
            try:
                os.makedirs(path)
            except OSError as error:
                raise FolderError(f"--out {path}: cannot create the folder ({error.strerror})") from None
            self.created = True
        self._lock = self._take_lock()
        return self

    def __exit__(self, *exc):
        # Removed while still locked: a run that opened the file meanwhile finds it gone and starts over.
        with contextlib.suppress(OSError):
            os.remove(os.path.join(self.path, LOCK))
            if self.created and not os.listdir(self.path):
                os.rmdir(self.path)
        os.close(self._lock)

    def _take_lock(self):
        lock = os.path.join(self.path, LOCK)
        while True:
            try:
                descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise FolderError(f"--out {self.path}: cannot write there ({error.strerror})") from None
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
                os.close(descriptor)
                raise FolderError(
                    f"--out {self.path} is in use by another run{f' (process {holder})' if holder else ''}: "
                    "wait for it to end, or choose another --out"
                ) from None
            # The run that held the lock removes its file on the way out: lock the file that is there now.
            with contextlib.suppress(OSError):
                if os.stat(lock).st_ino == os.fstat(descriptor).st_ino:
                    os.ftruncate(descriptor, 0)
                    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
                    return descriptor
            os.close(descriptor)

    def holds_run(self):
        return holds_run(self.path)

    def check_start(self, overwrite):
        """Refuse to start a new run here unless the folder is free, or holds a run that `overwrite` may replace."""
        # The lock, and what a killed run's interrupted writes left, are no one's files.
        path, others = self.path, [name for name in os.listdir(self.path) if name != LOCK and not is_partial(name)]
        if not overwrite:
            if not self.holds_run():
                return
            if not run_files(path) and not os.path.exists(os.path.join(path, MANIFEST)):
                raise FolderError(
                    f"{path} already holds a run of an older version, with no record of the files it wrote: "
                    "choose another --out" + (" (or --resume it)" if os.path.exists(os.path.join(path, CHECKPOINT)) else "")
                )
            if os.path.exists(os.path.join(path, CHECKPOINT)):
                raise FolderError(f"{path} already holds a run: --resume to continue it, --overwrite to replace it, or another --out")
            if os.path.exists(os.path.join(path, "metrics.json")):  # finished, its checkpoint not kept (a clone's results/)
                raise FolderError(f"{path} already holds a finished run: --overwrite to replace it, or another --out")
            raise FolderError(f"{path} holds a run stopped before its first checkpoint: --overwrite to start it afresh, or another --out")
        if others and not self.holds_run():
            raise FolderError(f"--overwrite: {path} holds no run to replace (its files are not a run's): choose another --out")
        if others and not os.path.exists(os.path.join(path, MANIFEST)):
            raise FolderError(
                f"--overwrite: {path} holds a run of an older version, with no record of the files it wrote; "
                "delete them yourself or choose another --out"
            )

    def clear(self):
        """Delete the files an earlier run wrote here (as it recorded them), so none of its figures stays beside the new run's."""
        remove_run_files(self.path)

    def start_record(self):
        start_record(self.path)


def holds_run(path):
    return any(os.path.exists(os.path.join(path, name)) for name in RUN_RECORDS)


def what_is_kept(out, hint=True):
    """For the last line of a run that stops early: the checkpoint it leaves, and (with `hint`) how to go on."""
    checkpoint = os.path.join(out, CHECKPOINT)
    if not os.path.isfile(checkpoint):
        if not holds_run(out):
            return "nothing was written"
        return f"no checkpoint was written (the first is at the end of epoch 1): start again with --overwrite --out {out}"
    try:
        meta = read_checkpoint_meta(checkpoint)
    except CheckpointError:
        return f"{checkpoint} is left as it was"
    epoch, step = meta["epoch"], meta["step"]
    where = f"at step {step} of epoch {epoch + 1}" if step else f"after epoch {epoch}"
    return f"the checkpoint {where} is kept in {checkpoint}" + (f": continue with --resume --out {out}" if hint else "")
