"""Runs never clobber another run, never share a folder, survive kills and interrupts, and end in one line, not a traceback."""

import contextlib
import csv
import errno
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import zipfile

import numpy as np
import pytest

import aae
from tests.conftest import StopAfter, expect_exit, poison_the_losses, run_script, synthetic_mnist
from utils import checkpoint as checkpoint_module
from utils import run, training
from utils.checkpoint import read_checkpoint_meta
from utils.folder import LOCK, RUN_RECORDS

pytestmark = pytest.mark.slow  # fault injection: kills, interrupts, full disks, bad files

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--limit", "200", "--batch-size", "20", "--validation", "50", "--parzen-samples", "100", "--hidden-units", "16", "--no-jit",
        "--classifier-epochs", "1"]
RUN = ["--epochs", "3", "--sample-every", "2"]  # grids at epochs 2 and 3


def train(data, out, *flags):
    return run_script(aae.UnsupervisedAAE, aae.Config, data, out, *TINY, *flags)


def snapshot(folder):
    """Every file under `folder` with the SHA-256 of its bytes."""
    return {
        os.path.relpath(os.path.join(root, name), folder): hashlib.sha256(open(os.path.join(root, name), "rb").read()).hexdigest()
        for root, _, names in os.walk(folder) for name in names
    }


def no_data(*args, **kwargs):
    pytest.fail("the data was loaded before the output folder was checked")


# -- 1. a run never replaces another run's outputs --------------------------------------------------


def test_without_out_a_run_writes_to_the_projects_runs_and_says_where(mnist_npz, tmp_path, monkeypatch, capsys):
    assert run.RUNS == os.path.join(REPO, "runs")  # anchored to the project, wherever the script is started
    runs = tmp_path / "project" / "runs"
    monkeypatch.setattr(run, "RUNS", str(runs))
    monkeypatch.chdir(tmp_path)
    run.main(aae.UnsupervisedAAE, aae.Config, ["--data", os.path.relpath(mnist_npz), *TINY, "--epochs", "1"])
    assert f"output folder: {runs / 'aae'}" in capsys.readouterr().out
    assert (runs / "aae" / "metrics.json").is_file()
    # The data is recorded absolute: --resume or --eval-only from another folder finds it.
    assert json.load(open(runs / "aae" / "config.json"))["data"] == mnist_npz
    monkeypatch.chdir(runs)
    run.main(aae.UnsupervisedAAE, aae.Config, ["--out", str(runs / "aae"), "--eval-only"])

    class Renamed(aae.UnsupervisedAAE):
        name = "another_scheme"

    with pytest.raises(SystemExit):
        run.main(Renamed, aae.Config, ["--data", mnist_npz, "--resume"])
    assert f"--out {runs / 'another_scheme'}: no such folder" in capsys.readouterr().err


def test_the_committed_results_of_a_fresh_clone_are_never_overwritten(tmp_path, monkeypatch, capsys):
    # A clone has results/aae/ without checkpoint.npz, which git ignores.
    clone = tmp_path / "results" / "aae"
    shutil.copytree(os.path.join(REPO, "results", "aae"), clone)
    assert not (clone / "checkpoint.npz").exists()
    before = snapshot(clone)
    monkeypatch.setattr(run, "load_mnist", no_data)
    error = expect_exit(capsys, ["--out", str(clone), "--epochs", "1"])
    # A run of the version before runs recorded their files: neither --resume (no checkpoint) nor --overwrite.
    assert f"{clone} already holds a run of an older version" in error and "another --out" in error
    assert "--resume" not in error
    assert "no record of the files it wrote" in expect_exit(capsys, ["--out", str(clone), "--overwrite"])
    assert snapshot(clone) == before


@pytest.mark.parametrize("record", RUN_RECORDS)
def test_any_record_of_a_run_makes_the_folder_taken(tmp_path, monkeypatch, capsys, record):
    out = tmp_path / "run"
    out.mkdir()
    (out / record).write_bytes(b"an earlier run's")
    (out / "samples_epoch_080.png").write_bytes(b"an earlier run's")
    (out / ".run_files").write_text(f"{record}\nsamples_epoch_080.png\n")
    monkeypatch.setattr(run, "load_mnist", no_data)
    error = expect_exit(capsys, ["--out", str(out)])
    assert "holds a" in error and "run" in error and "--overwrite" in error
    assert ("--resume" in error) == (record == "checkpoint.npz")  # --resume only where there is a checkpoint to resume
    assert sorted(os.listdir(out)) == sorted([record, "samples_epoch_080.png", ".run_files"])


def test_overwrite_deletes_the_old_runs_files_and_nothing_else(mnist_npz, tmp_path):
    out = tmp_path / "run"
    train(mnist_npz, out, "--epochs", "2", "--sample-every", "1")
    for name in ("notes.md", "mnist_copy.npz", "settings.json", "photo.png", "mydata.csv"):  # the user's, beside the run
        (out / name).write_bytes(b"mine")
    (out / "figures").mkdir()
    (out / "figures" / "kept.png").write_bytes(b"mine")
    metrics = train(mnist_npz, out, "--epochs", "1", "--sample-every", "1", "--overwrite")
    assert metrics["epochs"] == 1 and json.load(open(out / "metrics.json"))["epochs"] == 1
    assert not (out / "samples_epoch_002.png").exists(), "a stale grid of the old run is left"
    assert (out / "samples_epoch_001.png").is_file()
    assert [row["epoch"] for row in csv.DictReader(open(out / "losses.csv"))] == ["1"]
    for name in ("notes.md", "mnist_copy.npz", "settings.json", "photo.png", "mydata.csv"):
        assert (out / name).read_bytes() == b"mine", name
    assert (out / "figures" / "kept.png").read_bytes() == b"mine"


def test_overwrite_refuses_a_folder_that_holds_no_run_or_no_record_of_its_files(mnist_npz, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    for name in ("notes.txt", "mydata.csv", "settings.json", "photo.png"):
        (out / name).write_bytes(b"mine")
    before = snapshot(out)
    error = expect_exit(capsys, ["--data", mnist_npz, "--out", str(out), *TINY, "--overwrite"])
    assert f"--overwrite: {out} holds no run to replace" in error
    assert snapshot(out) == before
    (out / "config.json").write_text("{}")  # a run of an older version, which recorded no list of its files
    before = snapshot(out)
    assert "no record of the files it wrote" in expect_exit(capsys, ["--data", mnist_npz, "--out", str(out), *TINY, "--overwrite"])
    assert snapshot(out) == before


def test_overwrite_that_cannot_start_leaves_the_old_run_whole(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "samples_epoch_010.png").write_bytes(b"png")
    (out / ".run_files").write_text("config.json\nsamples_epoch_010.png\n")
    before = snapshot(out)
    expect_exit(capsys, ["--data", str(tmp_path / "missing.npz"), "--out", str(out), "--overwrite"])
    assert snapshot(out) == before


# -- 2. one run per folder ----------------------------------------------------------------------------

HOLD_THE_FOLDER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from utils.folder import RunFolder
with RunFolder(sys.argv[2], create=True):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_busy_folder_is_refused_and_a_killed_run_does_not_keep_it(mnist_npz, tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_FOLDER, REPO, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for flags in ([], ["--resume"], ["--eval-only"], ["--overwrite"]):
            error = expect_exit(capsys, ["--data", mnist_npz, "--out", str(out), *TINY, *flags])
            assert f"--out {out} is in use by another run (process {holder.pid})" in error, error
        assert os.listdir(out) == [LOCK]
    finally:
        holder.kill()
        holder.wait()
    train(mnist_npz, out, "--epochs", "1")  # the kernel dropped the dead run's lock
    assert (out / "metrics.json").is_file()


# -- 3. kill -9 at any moment: --resume ends with what an uninterrupted run writes --------------------

# aae.py's main with kill points: SIGKILL at the n-th entry to or exit from a function that writes,
# KILL_AT="save_checkpoint:after:2"; or a pause once the n-th checkpoint's bytes are written, PAUSE_IN_SAVE="savez:after:n".
WITH_KILL_POINTS = """
import os, signal, sys, time
sys.path.insert(0, sys.argv[1])
import keras
import numpy as np
import aae
from utils import run, training

counts = {}

def point(name, when):
    key = f"{name}:{when}"
    counts[key] = counts.get(key, 0) + 1
    if f"{key}:{counts[key]}" == os.environ.get("KILL_AT"):
        os.kill(os.getpid(), signal.SIGKILL)

def watch(owner, name):
    original = getattr(owner, name)
    def watched(*args, **kwargs):
        point(name, "before")
        result = original(*args, **kwargs)
        point(name, "after")
        return result
    setattr(owner, name, watched)

for owner, name in [(training, "save_checkpoint"), (training, "write_history"), (run, "write_json"),
                    (aae.UnsupervisedAAE, "save_samples"), (aae.UnsupervisedAAE, "save_figures"), (keras.Model, "save")]:
    watch(owner, name)

savez = np.savez

def paused_savez(*args, **kwargs):
    savez(*args, **kwargs)
    point("savez", "after")
    if f"savez:after:{counts['savez:after']}" == os.environ.get("PAUSE_IN_SAVE"):
        print("saving", flush=True)
        time.sleep(120)

np.savez = paused_savez
run.main(aae.UnsupervisedAAE, aae.Config, sys.argv[2:])
"""
# Where a 3-epoch run writes, in order; a kill may come before or after any of them.
KILL_POINTS = [
    f"{name}:{when}:{n}"
    for name, count in [("save_checkpoint", 3), ("write_history", 3), ("write_json", 2), ("save_samples", 2), ("save", 3), ("save_figures", 1)]
    for n in range(1, count + 1)
    for when in ("before", "after")
]
TF_LOG = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} \d\d:\d\d:\d\d)")


def start(tmp_path, data, out, *flags, **env):
    script = tmp_path / "with_kill_points.py"
    script.write_text(WITH_KILL_POINTS)
    stderr = open(tmp_path / f"stderr_{time.monotonic_ns()}.txt", "w+")
    process = subprocess.Popen(
        [sys.executable, str(script), REPO, "--data", data, "--out", str(out), *TINY, *flags],
        stdout=subprocess.PIPE, stderr=stderr, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2", **env},
    )
    process.stderr_file = stderr
    return process


def wait_for(process, text):
    """Read the process's output up to a line holding `text`; False if it ended first."""
    for line in process.stdout:
        if text in line:
            return True
    return False


def finish(process, timeout=120):
    """Exit status and stderr without TensorFlow's start-up log."""
    process.stdout.read()
    process.wait(timeout)
    process.stderr_file.seek(0)
    lines = [line for line in process.stderr_file.read().splitlines() if not TF_LOG.match(line)]
    process.stderr_file.close()
    return process.returncode, lines


def assert_same_run(straight, resumed, note=""):
    """The same files, loss rows, figures, metrics and weights as the uninterrupted run."""
    assert sorted(os.listdir(resumed)) == sorted(os.listdir(straight)), note
    rows, expected = (list(csv.DictReader(open(folder / "losses.csv"))) for folder in (resumed, straight))
    assert [row["epoch"] for row in rows] == [row["epoch"] for row in expected], note
    for row, want in zip(rows, expected):
        assert set(row) == set(want), note
        for key in set(want) - {"seconds"}:
            assert float(row[key]) == pytest.approx(float(want[key]), rel=1e-3, abs=1e-5), (key, note)
    metrics, want = (json.load(open(folder / "metrics.json")) for folder in (resumed, straight))
    assert set(metrics) == set(want), note
    for key in set(want) - {"minutes"}:
        if isinstance(want[key], str):  # the judge's fingerprint
            assert metrics[key] == want[key], (key, note)
        else:
            assert metrics[key] == pytest.approx(want[key], rel=1e-3, abs=1e-4), (key, note)
    import matplotlib.image

    for name in sorted(os.listdir(straight)):
        if name.endswith(".png"):
            a, b = matplotlib.image.imread(resumed / name), matplotlib.image.imread(straight / name)
            assert a.shape == b.shape and np.abs(a - b).mean() < 0.01, (name, note)
    with np.load(resumed / "checkpoint.npz") as a, np.load(straight / "checkpoint.npz") as b:
        assert set(a.files) == set(b.files)
        for key in set(b.files) - {"meta"}:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5, err_msg=f"{key} {note}")


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    """An uninterrupted 3-epoch run on the synthetic digits: what every interrupted run must end with."""
    folder = tmp_path_factory.mktemp("straight")
    data = str(folder / "mnist.npz")
    np.savez(data, **synthetic_mnist())
    train(data, folder / "run", *RUN)
    return data, folder / "run"


def test_a_kill_between_the_checkpoints_rename_and_the_epochs_outputs_is_repaired(straight_run, tmp_path):
    data, straight = straight_run
    out = tmp_path / "run"
    # Epoch 2's checkpoint is in place; its grid and its loss row are not.
    status, _ = finish(start(tmp_path, data, out, *RUN, KILL_AT="save_checkpoint:after:2"))
    assert status == -signal.SIGKILL
    assert read_checkpoint_meta(str(out / "checkpoint.npz"))["epoch"] == 2
    assert len(list(csv.DictReader(open(out / "losses.csv")))) == 1 and not (out / "samples_epoch_002.png").exists()
    # Resumed, then killed again just after the last checkpoint: no row 3, no last grid, no models, no metrics.
    status, _ = finish(start(tmp_path, data, out, "--resume", KILL_AT="save_checkpoint:after:1"))
    assert status == -signal.SIGKILL
    assert (out / "samples_epoch_002.png").is_file() and len(list(csv.DictReader(open(out / "losses.csv")))) == 2
    assert not (out / "samples_epoch_003.png").exists() and not (out / "metrics.json").exists()
    train(data, out, "--resume")
    assert_same_run(straight, out)


def test_kills_at_random_moments_then_resume_end_like_an_uninterrupted_run(straight_run, tmp_path):
    data, straight = straight_run
    # The kill points and delay are drawn from a seed: AAE_TEST_SEED=<seed> replays a failure.
    seed = int(os.environ.get("AAE_TEST_SEED") or random.randrange(1_000_000))
    rng = random.Random(seed)
    out, kills = tmp_path / "run", []

    def next_flags():
        # What the last line of a killed run says: --resume if a checkpoint is kept, else --overwrite.
        return ["--resume"] if (out / "checkpoint.npz").exists() else [*RUN, "--overwrite"]

    for point in rng.sample(KILL_POINTS, 2):
        kills.append(point)
        finish(start(tmp_path, data, out, *next_flags(), KILL_AT=point))
    # And once by the clock, wherever the run is then (loading, compiling, training, writing, evaluating).
    delay = rng.uniform(0.0, 4.0)
    kills.append(f"{delay:.2f}s after the run started")
    process = start(tmp_path, data, out, *next_flags())
    if wait_for(process, "output folder:"):
        time.sleep(delay)
        process.kill()
    finish(process)
    note = f"killed at {kills}; replay with AAE_TEST_SEED={seed} python -m pytest -m slow -k kills_at_random"
    train(data, out, *next_flags())
    assert not (out / "checkpoint.npz.tmp").exists(), note
    assert_same_run(straight, out, note)


# -- 4. a bad --out is refused before anything loads ----------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp / "a_file", "not a folder"),
        (lambda tmp: tmp / "a_file" / "run", "cannot create the folder (Not a directory)"),
        (lambda tmp: "", "--out must name a folder, got ''"),
    ],
)
def test_a_bad_out_is_one_line_before_the_data_loads(tmp_path, monkeypatch, capsys, make, message):
    (tmp_path / "a_file").write_text("mine")
    monkeypatch.setattr(run, "load_mnist", no_data)
    assert message in expect_exit(capsys, ["--out", str(make(tmp_path)), "--epochs", "1"])
    assert (tmp_path / "a_file").read_text() == "mine"


# -- 5. a full disk ---------------------------------------------------------------------------------------


class FullDisk(io.RawIOBase):
    """A file that takes `room` bytes, then fails as a full disk does."""

    def __init__(self, stream, room):
        self.stream, self.room = stream, room

    def write(self, data):
        if self.stream.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.stream.write(data)

    def writable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.stream.tell()

    def seek(self, *args):
        return self.stream.seek(*args)

    def fileno(self):
        return self.stream.fileno()

    def close(self):
        self.stream.close()
        super().close()


@pytest.mark.parametrize("disk", ["tmpfs", "failing file"])
def test_a_full_disk_keeps_the_last_checkpoint_and_removes_the_partial_one(mnist_npz, tmp_path, monkeypatch, capsys, disk):
    # A tmpfs with room for epoch 1's files and half a checkpoint more (where the machine lets the
    # tests mount one), and a file object that fails as a full disk does after a few kilobytes.
    folder, mounted = tmp_path / "disk", False
    folder.mkdir()
    if disk == "tmpfs":
        mounted = not subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], capture_output=True).returncode
        if not mounted:
            pytest.skip("this machine does not let the tests mount a tmpfs")
    try:
        out = folder / "run"
        train(mnist_npz, out, "--epochs", "1")
        good = hashlib.sha256((out / "checkpoint.npz").read_bytes()).hexdigest()
        if mounted:
            stats = os.statvfs(folder)
            room = (stats.f_blocks - stats.f_bfree) * stats.f_frsize + (out / "checkpoint.npz").stat().st_size // 2
            subprocess.run(["mount", "-o", f"remount,size={room}", str(folder)], check=True)
        else:
            monkeypatch.setattr(checkpoint_module, "open", lambda path, mode: FullDisk(open(path, mode), room=5000), raising=False)
        error = expect_exit(capsys, ["--data", mnist_npz, "--out", str(out), "--resume", "--epochs", "2"])
        assert "No space left on device" in error and "the checkpoint after epoch 1 is kept" in error, error
        assert not (out / "checkpoint.npz.tmp").exists(), "a partial checkpoint is left filling the disk"
        assert hashlib.sha256((out / "checkpoint.npz").read_bytes()).hexdigest() == good
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=True)


# -- 6. offline without a local MNIST ------------------------------------------------------------------


def test_a_failed_download_says_how_to_use_a_local_copy(tmp_path, monkeypatch, capsys):
    import keras.src.backend.config
    import keras.src.utils.file_utils

    def offline(*args, **kwargs):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    (tmp_path / "keras").mkdir()
    monkeypatch.setattr(keras.src.backend.config, "_KERAS_DIR", str(tmp_path / "keras"))  # no cached copy
    monkeypatch.setattr(keras.src.utils.file_utils, "urlretrieve", offline)
    monkeypatch.delenv("MNIST_PATH", raising=False)
    error = expect_exit(capsys, ["--out", str(tmp_path / "run"), *TINY])
    assert "could not download MNIST" in error and "Temporary failure in name resolution" in error
    assert "--data" in error and "$MNIST_PATH" in error
    assert not (tmp_path / "run").exists()


# -- 7. a non-finite loss in the first epoch ----------------------------------------------------------------


def test_a_non_finite_first_epoch_says_no_checkpoint_is_kept(mnist_npz, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    poison_the_losses(monkeypatch)
    error = expect_exit(capsys, ["--data", mnist_npz, "--out", str(out), *TINY, "--epochs", "1"], status=1)
    assert "non-finite loss in epoch 1" in error and "no checkpoint was written" in error, error
    assert f"start again with --overwrite --out {out}" in error and "kept" not in error
    assert not (out / "checkpoint.npz").exists()


# -- 8. headers that claim huge arrays -------------------------------------------------------------------


def npz_with_headers(path, headers):
    """An .npz whose members carry these .npy headers (shape, dtype string) and only a few bytes of data."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, (shape, descr) in headers.items():
            member = io.BytesIO()
            np.lib.format.write_array_header_1_0(member, {"descr": descr, "fortran_order": False, "shape": shape})
            archive.writestr(f"{name}.npy", member.getvalue() + b"\0" * 64)


def test_an_npz_claiming_huge_arrays_is_refused_before_reading(tmp_path, capsys):
    path = tmp_path / "crafted.npz"
    npz_with_headers(path, {
        "x_train": ((10**9, 28, 28), "|u1"), "y_train": ((10**9,), "|u1"),
        "x_test": ((100, 28, 28), "|u1"), "y_test": ((100,), "|u1"),
    })
    error = expect_exit(capsys, ["--data", str(path), "--out", str(tmp_path / "run")])
    assert "x_train claims 1000000000 entries; MNIST's train split has 60000" in error


def test_a_checkpoint_claiming_a_huge_meta_is_refused_before_reading(mnist_npz, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    npz_with_headers(out / "checkpoint.npz", {"meta": ((), "<U100000000")})  # 400 MB of text
    error = expect_exit(capsys, ["--data", mnist_npz, "--out", str(out), "--resume"])
    assert "unreadable checkpoint (meta is <U100000000 of shape ()" in error


# -- 9. a resume on other data ----------------------------------------------------------------------------


def test_a_resume_or_evaluation_on_other_data_is_refused(mnist_npz, tmp_path, capsys):
    out = tmp_path / "run"
    train(mnist_npz, out, "--epochs", "1")
    meta = read_checkpoint_meta(str(out / "checkpoint.npz"))
    assert re.fullmatch(r"[0-9a-f]{64}", meta["data_sha256"])
    before = snapshot(out)
    other = tmp_path / "other.npz"
    np.savez(other, **synthetic_mnist(seed=1))
    for flags in (["--resume", "--epochs", "2"], ["--eval-only"]):
        error = expect_exit(capsys, ["--data", str(other), "--out", str(out), *flags])
        assert f"{other}: not the data the run in {out} was trained on" in error
    assert snapshot(out) == before
    # The same data under another name is the same data.
    moved = tmp_path / "moved.npz"
    shutil.copy(mnist_npz, moved)
    run.main(aae.UnsupervisedAAE, aae.Config, ["--data", str(moved), "--out", str(out), "--eval-only"])
    # A checkpoint written before fingerprints existed is taken on trust.
    with np.load(out / "checkpoint.npz") as archive:
        arrays = dict(archive)
    meta.pop("data_sha256")
    np.savez(out / "checkpoint.npz", **{**arrays, "meta": np.array(json.dumps(meta))})
    run.main(aae.UnsupervisedAAE, aae.Config, ["--data", str(other), "--out", str(out), "--eval-only"])


# -- 10. Ctrl-C, and messages that used to mislead ---------------------------------------------------------


def test_ctrl_c_while_the_script_starts_is_one_line(mnist_npz, tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, os.path.join(REPO, "aae.py"), "--data", mnist_npz, "--out", str(out), *TINY],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    # While TensorFlow loads: once its library is mapped into the process (a fixed sleep missed that
    # moment on a loaded machine), and well before the import ends. Some library code run by that
    # import swallows a KeyboardInterrupt (a bare except); main() remembers the Ctrl-C and raises it
    # once the import ends. Press again, as a user would, until the process ends, as long as it has
    # not started the run.
    maps, deadline = f"/proc/{process.pid}/maps", time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), open(maps) as stream:
            if "libtensorflow" in stream.read():
                break
        time.sleep(0.05)
    while process.poll() is None and not out.exists() and time.monotonic() < deadline:
        process.send_signal(signal.SIGINT)
        time.sleep(0.5)
    _, stderr = process.communicate(timeout=120)
    lines = [line for line in stderr.splitlines() if not TF_LOG.match(line)]
    assert process.returncode in (130, -signal.SIGINT) and lines == ["error: interrupted"], stderr
    assert not out.exists()


class _SwallowingImport:
    """A finder for utils.training whose import, like TensorFlow's, catches a Ctrl-C pressed during it."""

    def find_spec(self, name, path=None, target=None):
        import importlib.util

        return importlib.util.spec_from_loader(name, self) if name == "utils.training" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs here
        except BaseException:  # noqa: BLE001 (the library code this stands for)
            pass
        module.TrainingStopped = training.TrainingStopped


def test_a_ctrl_c_swallowed_by_the_tensorflow_import_still_interrupts(monkeypatch):
    import utils

    monkeypatch.setattr(utils, "training", training)  # the import below rebinds it: restored at the end
    monkeypatch.delitem(sys.modules, "utils.training")
    monkeypatch.setattr(sys, "meta_path", [_SwallowingImport(), *sys.meta_path])
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        run._import_training()
    assert signal.getsignal(signal.SIGINT) is handler
    monkeypatch.setitem(sys.modules, "utils.training", training)
    assert run._import_training() is training.TrainingStopped  # no Ctrl-C: the import as it was


def test_ctrl_c_in_main_before_training_is_one_line(mnist_npz, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "load_mnist", interrupted)
    error = expect_exit(capsys, ["--data", mnist_npz, "--out", str(tmp_path / "run")], status=130)
    assert error == "error: interrupted; nothing was written"
    assert not (tmp_path / "run").exists()


def test_ctrl_c_in_the_final_evaluation_is_one_line_and_resume_finishes(mnist_npz, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(aae.UnsupervisedAAE, "evaluate", interrupted)
    error = expect_exit(capsys, ["--data", mnist_npz, "--out", str(out), *TINY, "--epochs", "1"], status=130)
    assert f"interrupted; the checkpoint after epoch 1 is kept in {out / 'checkpoint.npz'}: continue with --resume --out {out}" in error
    assert (out / "decoder.keras").is_file() and not (out / "metrics.json").exists()
    monkeypatch.undo()
    assert train(mnist_npz, out, "--resume")["epochs"] == 1
    assert (out / "metrics.json").is_file()


def test_a_second_ctrl_c_while_the_checkpoint_is_written_is_one_line(mnist_npz, tmp_path):
    out = tmp_path / "run"
    process = start(tmp_path, mnist_npz, out, *RUN, PAUSE_IN_SAVE="savez:after:2")  # epoch 2's checkpoint, not yet renamed
    assert wait_for(process, "saving")
    process.send_signal(signal.SIGINT)
    assert wait_for(process, "stopping after this call")
    process.send_signal(signal.SIGINT)
    status, lines = finish(process)
    assert status == 130 and lines == [
        f"error: interrupted; the checkpoint after epoch 1 is kept in {out / 'checkpoint.npz'}: continue with --resume --out {out}"
    ], lines
    assert not (out / "checkpoint.npz.tmp").exists()
    assert read_checkpoint_meta(str(out / "checkpoint.npz"))["epoch"] == 1


def test_the_checkpoint_line_starts_a_line_of_its_own(mnist_npz, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(training, "STEPS_PER_CALL", 4)
    monkeypatch.setattr(training, "StopRequest", lambda: StopAfter(1))
    with pytest.raises(SystemExit) as stop:
        train(mnist_npz, tmp_path / "run", "--epochs", "1")
    assert stop.value.code == 130
    assert re.search(r"\ncheckpoint written at epoch 1, step 4: continue with --resume", capsys.readouterr().out)


def not_mnist(folder, kind):
    if kind == "text":
        (folder / "mnist.npz").write_text("x_train,y_train\n1,2\n")
        return str(folder / "mnist.npz")
    if kind == "npy":
        np.save(folder / "mnist.npy", np.zeros(3))
        return str(folder / "mnist.npy")
    return "/dev/null"


@pytest.mark.parametrize(
    "kind, message",
    [("text", "mnist.npz: not a readable .npz file (not a zip archive"), ("npy", "a single .npy array"), ("device", "/dev/null: not a regular file or a folder")],
)
def test_data_that_is_not_mnist_is_named_for_what_it_is(tmp_path, capsys, kind, message):
    error = expect_exit(capsys, ["--data", not_mnist(tmp_path, kind), "--out", str(tmp_path / "run")])
    assert message in error and "pickle" not in error and "no such file" not in error


# -- 11. flags and records that cannot work are refused before anything is written -------------------------


def test_too_few_samples_for_the_frechet_distance_are_refused_up_front(mnist_npz, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        train(mnist_npz, out, "--parzen-samples", "1")
    error = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(error.splitlines()) == 1
    assert "--parzen-samples must be at least 2, got 1" in error
    assert not out.exists()


def test_a_shorter_epochs_on_resume_is_refused_and_the_records_stay(mnist_npz, tmp_path, capsys):
    out = tmp_path / "run"
    train(mnist_npz, out, "--epochs", "2")
    before = snapshot(out)
    error = expect_exit(capsys, ["--out", str(out), "--resume", "--epochs", "1"])
    assert "--epochs 1 is below what the run" in error and "(2 epochs)" in error
    assert snapshot(out) == before and json.load(open(out / "config.json"))["epochs"] == 2



def test_a_cosine_run_keeps_its_length_on_resume_and_a_step_run_may_grow(mnist_npz, tmp_path, capsys):
    out = tmp_path / "cosine"
    train(mnist_npz, out, "--epochs", "1", "--lr-schedule", "cosine")
    before = snapshot(out)
    error = expect_exit(capsys, ["--out", str(out), "--resume", "--epochs", "2"])
    assert "--epochs 2 differs from the checkpoint's 1" in error and "cosine" in error
    assert snapshot(out) == before
    train(mnist_npz, tmp_path / "step", "--epochs", "1")
    assert train(mnist_npz, tmp_path / "step", "--epochs", "2", "--resume")["epochs"] == 2


@pytest.mark.parametrize("edit, message", [
    (lambda meta: meta.pop("history"), "its history is None"),
    (lambda meta: meta.update(epoch="four"), "its epoch is 'four'"),
    (lambda meta: meta.update(step=-3), "its step is -3"),
    (lambda meta: meta["config"].update(latent_dim="eight"), "its config's latent_dim is 'eight', not of type int"),
])
def test_a_hand_edited_checkpoint_meta_is_one_line_and_nothing_is_rewritten(mnist_npz, tmp_path, capsys, edit, message):
    out = tmp_path / "run"
    train(mnist_npz, out, "--epochs", "1")
    with np.load(out / "checkpoint.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    meta = json.loads(str(arrays["meta"]))
    edit(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(out / "checkpoint.npz", **arrays)  # a valid archive: only its content is wrong
    before = snapshot(out)
    for flags in (["--resume", "--epochs", "2"], ["--eval-only"]):
        error = expect_exit(capsys, ["--out", str(out), *flags])
        assert "unreadable checkpoint" in error and message in error, error
    assert snapshot(out) == before


def test_a_write_that_fails_names_the_file_and_leaves_the_old_one_whole(tmp_path):
    from utils.files import replacing, run_files, start_record

    start_record(str(tmp_path))
    path = tmp_path / "losses.png"
    path.write_bytes(b"the old figure")
    with pytest.raises(OSError) as error, replacing(str(path)) as temporary:
        with open(temporary, "wb") as stream:
            stream.write(b"half a fig")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert error.value.filename == str(path)
    assert path.read_bytes() == b"the old figure" and sorted(os.listdir(tmp_path)) == [".run_files", "losses.png"]
    assert run_files(str(tmp_path)) == []  # a failed write is not the run's
    with replacing(str(path)) as temporary, open(temporary, "wb") as stream:
        stream.write(b"the new figure")
    assert path.read_bytes() == b"the new figure" and run_files(str(tmp_path)) == ["losses.png"]


def test_an_evaluation_of_an_older_run_starts_no_partial_record(mnist_npz, tmp_path, capsys):
    out = tmp_path / "run"
    train(mnist_npz, out, "--epochs", "1", "--sample-every", "1")
    os.remove(out / ".run_files")  # as a run of the version before the record left its folder
    train(mnist_npz, out, "--eval-only")
    assert not (out / ".run_files").exists()  # a list of only the re-written files would let --overwrite leave the grids
    assert "no record of the files it wrote" in expect_exit(capsys, ["--data", mnist_npz, "--out", str(out), *TINY, "--overwrite"])
    assert (out / "samples_epoch_001.png").is_file()


def test_overwrite_removes_a_checkpoint_a_kill_left_half_written(mnist_npz, tmp_path):
    out = tmp_path / "run"
    train(mnist_npz, out, "--epochs", "1")
    (out / "checkpoint.npz.tmp").write_bytes(b"half a checkpoint")
    train(mnist_npz, out, "--epochs", "1", "--overwrite")
    assert not (out / "checkpoint.npz.tmp").exists()
