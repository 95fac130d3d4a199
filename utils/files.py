"""Every file a run writes goes through `replacing`: written whole or not at all, and recorded as the run's.

The record (MANIFEST in the folder, one name per line) is what --overwrite deletes: the run's own
files, never a file the user keeps beside them.
"""

import contextlib
import os

MANIFEST = ".run_files"
PARTIAL = ".partial"


def _temporary(path):
    folder, name = os.path.split(path)
    stem, extension = os.path.splitext(name)
    # The extension stays last: matplotlib and Keras choose the format by it.
    return os.path.join(folder, f".{stem}{PARTIAL}{extension}")


@contextlib.contextmanager
def replacing(path):
    """Yield a temporary path beside `path` to write to; then rename it onto `path` (a reader, or a
    kill, sees the old file or the new one, never half of one) and record `path` as the run's.

    A failed write (a full disk) removes the temporary file and names `path` in the error.
    """
    temporary = _temporary(path)
    try:
        yield temporary
        record_written(path)  # before the rename: a kill between the two leaves a name with no file, harmless
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if isinstance(error, OSError) and error.filename in (None, temporary):
            error.filename = path
        raise


def start_record(folder):
    """A new run starts its record: from now on every file written in `folder` is listed.

    Without a record (a run of an older version, resumed or evaluated), nothing is listed: a partial
    list would let --overwrite leave that run's other files behind.
    """
    with open(os.path.join(folder, MANIFEST), "w"):
        pass


def record_written(path):
    folder, name = os.path.split(os.path.abspath(path))
    if not os.path.exists(os.path.join(folder, MANIFEST)) or name in run_files(folder):
        return
    with open(os.path.join(folder, MANIFEST), "a") as stream:
        stream.write(name + "\n")


def is_partial(name):
    """A temporary file of `replacing` that a kill left behind."""
    return name.startswith(".") and PARTIAL in name


def run_files(folder):
    """The names of the files runs wrote in `folder` (empty if there is no record)."""
    try:
        with open(os.path.join(folder, MANIFEST)) as stream:
            return [line.strip() for line in stream if line.strip() and os.sep not in line.strip()]
    except FileNotFoundError:
        return []


def remove_run_files(folder):
    """Delete the recorded files, the leftovers of writes a kill interrupted, and the record itself."""
    for name in run_files(folder):
        for leftover in (name, name + ".tmp"):  # the checkpoint's own temporary file too
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(folder, leftover))
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False) and is_partial(entry.name):
            os.remove(entry.path)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(folder, MANIFEST))
