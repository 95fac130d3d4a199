"""The three scripts compute what they computed before the trainer was generalised: a tiny run of each,
compared with numbers recorded from the code before that refactor (tests/golden/three_schemes.json).

    python -m tests.test_golden    # records the numbers again (only after a change meant to alter them)
"""

import csv
import json
import os

import keras
import numpy as np
import pytest

import aae
import semi_supervised_aae as semi
import supervised_aae as supervised
from utils import run

pytestmark = pytest.mark.slow  # golden numbers: a tiny run of each of three scripts

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "three_schemes.json")
TINY = ["--limit", "120", "--batch-size", "20", "--validation", "50", "--parzen-samples", "100", "--epochs", "2"]
# Recorded with the defaults of that time; the defaults changed since are given here as flags.
SCRIPTS = {
    "aae": (aae.UnsupervisedAAE, aae.Config, [
        "--discriminator-lr", "0.01", "--discriminator-momentum", "0", "--generator-lr", "0.01",
        "--generator-momentum", "0", "--reconstruction-optimizer", "adam", "--reconstruction-lr", "0.001",
        "--lr-decay-epoch", "0"]),
    "semi_supervised_aae": (semi.SemiSupervisedAAE, semi.Config, ["--labeled", "60", "--classifier-epochs", "1"]),
    "supervised_aae": (supervised.SupervisedAAE, supervised.Config, [
        "--classifier-epochs", "1", "--prior-std", "0.3", "--no-label-to-discriminator",
        "--discriminator-lr", "0.0005", "--lr-decay-epoch", "0"]),
}
LOSSES = ("discriminator_loss", "discriminator_accuracy", "reconstruction_mse", "generator_loss")


def summarize(out):
    """What the run trained to: the loss rows and, per weight of each saved network, its sum, squared norm and first values."""
    rows = list(csv.DictReader(open(os.path.join(out, "losses.csv"))))
    summary = {"losses": [{name: float(row[name]) for name in LOSSES} for row in rows], "weights": {}}
    for network in ("encoder", "decoder", "discriminator"):
        model = keras.models.load_model(os.path.join(out, f"{network}.keras"))
        for variable in model.weights:
            value = np.asarray(variable, np.float64).ravel()
            summary["weights"][f"{network}/{variable.path}"] = [value.sum(), (value**2).sum(), *value[:3]]
    return summary


def tiny_run(name, data, out, classifier):
    scheme, config, flags = SCRIPTS[name]
    extra = ["--classifier", classifier] if "--classifier-epochs" in flags else []
    run.main(scheme, config, ["--data", data, "--out", str(out), *TINY, *flags, *extra])
    return summarize(str(out))


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_a_tiny_run_matches_the_recorded_one(name, mnist_npz, tmp_path):
    with open(GOLDEN) as stream:
        expected = json.load(stream)[name]
    got = tiny_run(name, mnist_npz, tmp_path / "run", str(tmp_path / "classifier.keras"))
    for row, want in zip(got["losses"], expected["losses"], strict=True):
        for key in LOSSES:
            assert row[key] == pytest.approx(want[key], rel=2e-3, abs=1e-4), (key, row, want)
    assert set(got["weights"]) == set(expected["weights"])
    for key, want in expected["weights"].items():
        np.testing.assert_allclose(got["weights"][key], want, rtol=2e-3, atol=1e-4, err_msg=key)


if __name__ == "__main__":
    import tempfile

    from tests.conftest import synthetic_mnist

    with tempfile.TemporaryDirectory() as folder:
        data = os.path.join(folder, "mnist.npz")
        np.savez(data, **synthetic_mnist())
        golden = {name: tiny_run(name, data, os.path.join(folder, name), os.path.join(folder, "c.keras")) for name in SCRIPTS}
    os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
    with open(GOLDEN, "w") as stream:
        json.dump(golden, stream, indent=1)
    print(f"wrote {GOLDEN}")
