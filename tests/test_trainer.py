"""The shared trainer carries any set of networks and phases: a scheme with two discriminators, end to end."""

import csv
import dataclasses
import json

import numpy as np
import pytest
from keras import ops

import aae
from models import Phase, build_decoder, build_discriminator, build_encoder
from models.adversarial_autoencoder import binary_crossentropy
from tests.conftest import StopAfter, checkpoint_arrays
from utils import run, training
from utils.checkpoint import FORMAT, read_checkpoint_meta, state_variables
from utils.priors import GaussianPrior

TINY = ["--limit", "120", "--batch-size", "20", "--validation", "50", "--parzen-samples", "50", "--sample-every", "1"]


@dataclasses.dataclass
class TwoPriorsConfig(aae.Config):
    hidden_units: int = 16
    latent_dim: int = 4
    out: str = ""


class TwoPriorsAAE(aae.UnsupervisedAAE):
    """A toy scheme: the code's first half matched to N(0, 1), its second half to N(0, 5^2), each by its own discriminator."""

    name = "two_priors"

    def build_prior(self):
        return GaussianPrior(self.config.latent_dim // 2, 1.0)

    def build_networks(self):
        c, half = self.config, self.config.latent_dim // 2
        sizes = {"hidden_units": c.hidden_units, "hidden_layers": c.hidden_layers, "init_std": c.init_std}
        return {
            "encoder": build_encoder(c.latent_dim, seed=c.seed, **sizes),
            "decoder": build_decoder(c.latent_dim, seed=c.seed + 1, **sizes),
            "discriminator_narrow": build_discriminator(half, seed=c.seed + 2, name="discriminator_narrow", **sizes),
            "discriminator_wide": build_discriminator(half, seed=c.seed + 3, name="discriminator_wide", **sizes),
        }

    def build_phases(self):
        def split(networks, images):
            codes = networks["encoder"](images, training=True)
            half = codes.shape[1] // 2
            return codes[:, :half], codes[:, half:]

        def discriminator(which, prior):
            def loss(networks, inputs):
                codes = ops.stop_gradient(split(networks, inputs["images"])[which])
                samples = inputs[prior]
                predictions = networks[f"discriminator_{prior}"](ops.concatenate([samples, codes], axis=0), training=True)
                targets = ops.concatenate([ops.ones((len(samples), 1)), ops.zeros((len(codes), 1))], axis=0)
                value = binary_crossentropy(targets, predictions)
                return value, {f"discriminator_{prior}_loss": value}

            return Phase(f"discriminator_{prior}", (f"discriminator_{prior}",), loss, (f"discriminator_{prior}_loss",))

        def reconstruction(networks, inputs):
            images = inputs["images"]
            mse = ops.mean(ops.square(networks["decoder"](networks["encoder"](images, training=True), training=True) - images))
            return mse, {"reconstruction_mse": mse}

        def generator(networks, inputs):
            narrow, wide = split(networks, inputs["images"])
            total = 0.0
            for codes, prior in ((narrow, "narrow"), (wide, "wide")):
                predictions = networks[f"discriminator_{prior}"](codes, training=True)
                total = total + binary_crossentropy(ops.ones_like(predictions), predictions)
            return total, {"generator_loss": total}

        return [
            Phase("reconstruction", ("encoder", "decoder"), reconstruction, ("reconstruction_mse",)),
            discriminator(0, "narrow"),
            discriminator(1, "wide"),
            Phase("generator", ("encoder",), generator, ("generator_loss",)),
        ]

    def build_optimizers(self, steps_per_epoch):
        default = super().build_optimizers(steps_per_epoch)
        second = super().build_optimizers(steps_per_epoch)
        return {
            "reconstruction": default["reconstruction"], "generator": default["generator"],
            "discriminator_narrow": default["discriminator"], "discriminator_wide": second["discriminator"],
        }

    def epoch_inputs(self, epoch):
        inputs = super().epoch_inputs(epoch)
        rng = np.random.default_rng([self.config.seed, epoch, 1])
        steps, half = inputs["prior"].shape[:2]
        inputs["narrow"] = inputs.pop("prior")
        inputs["wide"] = GaussianPrior(self.config.latent_dim // 2, 5.0).sample(rng, steps * half).reshape(steps, half, -1)
        return inputs

    def save_samples(self, model, epoch):
        pass

    def save_figures(self, model, history):
        pass

    def generate(self, model, labels, rng):
        return self.decode(model, GaussianPrior(self.config.latent_dim, 1.0).sample(rng, len(labels)))


def train(mnist_npz, out, *flags):
    return run.main(TwoPriorsAAE, TwoPriorsConfig, ["--data", mnist_npz, "--out", str(out), *TINY, *flags])


@pytest.mark.slow
def test_every_loss_a_scheme_logs_reaches_the_csv_the_plot_and_the_metrics(mnist_npz, tmp_path):
    metrics = train(mnist_npz, tmp_path / "run", "--epochs", "2")
    rows = list(csv.DictReader(open(tmp_path / "run" / "losses.csv")))
    logged = ["reconstruction_mse", "discriminator_narrow_loss", "discriminator_wide_loss", "generator_loss"]
    assert list(rows[0])[1:5] == logged
    assert all(np.isfinite(float(row[name])) for row in rows for name in logged)
    assert all(np.isfinite(metrics[f"final_{name}"]) for name in logged)
    assert (tmp_path / "run" / "losses.png").stat().st_size > 0
    for role in ("encoder", "decoder", "discriminator_narrow", "discriminator_wide"):
        assert (tmp_path / "run" / f"{role}.keras").is_file(), role

@pytest.mark.slow

def test_checkpoint_holds_every_network_and_optimizer_by_name_and_resume_is_exact(mnist_npz, tmp_path, monkeypatch):
    # 6 steps per epoch in calls of 2: stop after the first call of epoch 2, resume, and compare
    # every array with a straight run's.
    monkeypatch.setattr(training, "STEPS_PER_CALL", 2)
    train(mnist_npz, tmp_path / "straight", "--epochs", "2")

    real = training.StopRequest
    monkeypatch.setattr(training, "StopRequest", lambda: StopAfter(4))
    with pytest.raises(SystemExit):
        train(mnist_npz, tmp_path / "resumed", "--epochs", "2")
    meta = read_checkpoint_meta(str(tmp_path / "resumed" / "checkpoint.npz"))
    assert (meta["epoch"], meta["step"], meta["format"]) == (1, 2, FORMAT)
    assert set(meta["sums"]) == {"reconstruction_mse", "discriminator_narrow_loss", "discriminator_wide_loss", "generator_loss"}
    monkeypatch.setattr(training, "StopRequest", real)
    train(mnist_npz, tmp_path / "resumed", "--resume")

    straight, resumed = (checkpoint_arrays(tmp_path / name / "checkpoint.npz") for name in ("straight", "resumed"))
    owners = {key.split("/")[1] for key in straight}
    assert owners == {"encoder", "decoder", "discriminator_narrow", "discriminator_wide",
                      "reconstruction", "generator"}
    assert {key.split("/")[0] for key in straight} == {"networks", "optimizers"}
    assert set(straight) == set(resumed)
    for key in straight:
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-4, atol=1e-6, err_msg=key)
    # The two discriminators' optimizers are there, each with its own step count.
    assert int(straight["optimizers/discriminator_wide/iteration"]) == 12

@pytest.mark.slow

def test_a_missing_extra_or_misshapen_key_is_a_one_line_error_naming_it(mnist_npz, tmp_path, capsys):
    out = tmp_path / "run"
    train(mnist_npz, out, "--epochs", "1")
    saved = dict(np.load(out / "checkpoint.npz"))
    key = "optimizers/discriminator_wide/iteration"
    cases = [
        ({k: v for k, v in saved.items() if k != key}, f"no array for {key}"),
        ({**saved, "networks/critic/dense/kernel": np.zeros(3)}, "holds networks/critic/dense/kernel, which this model does not have"),
        ({**saved, "networks/decoder/pixels/bias": np.zeros(3)}, "networks/decoder/pixels/bias has shape (3,)"),
    ]
    for arrays_, message in cases:
        np.savez(out / "checkpoint.npz", **arrays_)
        with pytest.raises(SystemExit) as stop:
            train(mnist_npz, out, "--resume")
        assert stop.value.code == 2
        error = capsys.readouterr().err.strip()
        assert message in error and len(error.splitlines()) == 1, error

@pytest.mark.slow

def test_a_positional_checkpoint_of_the_old_format_is_refused(mnist_npz, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    meta = {"epoch": 1, "step": 0, "sums": [0.0] * 4, "epoch_seconds": 0.0, "history": [], "config": {}}
    np.savez(out / "checkpoint.npz", meta=np.array(json.dumps(meta)), v0000=np.zeros(3), v0001=np.zeros(3))
    with pytest.raises(SystemExit) as stop:
        train(mnist_npz, out, "--resume")
    error = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "older version" in error and len(error.splitlines()) == 1


def test_state_keys_do_not_depend_on_how_many_models_the_process_built(tmp_path):
    from tests.conftest import tiny_data

    config = TwoPriorsConfig(batch_size=20)
    first = state_variables(TwoPriorsAAE(config, tiny_data()).build_model())
    second = state_variables(TwoPriorsAAE(config, tiny_data()).build_model())
    assert list(first) == list(second)


def test_tensorboard_flag_without_tensorboard_is_one_line(mnist_npz, tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(SystemExit) as stop:
        train(mnist_npz, tmp_path / "run", "--tensorboard", str(tmp_path / "tb"))
    error = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "pip install tensorboard" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "run").exists()

@pytest.mark.slow

def test_tensorboard_gets_every_logged_value_and_the_learning_rates(mnist_npz, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(mnist_npz, tmp_path / "run", "--epochs", "2", "--tensorboard", str(tmp_path / "tb"))
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"tensors": 0})
    events.Reload()
    tags = set(events.Tags()["tensors"])
    assert {"discriminator_wide_loss", "generator_loss", "learning_rate/discriminator_narrow"} <= tags
    assert [event.step for event in events.Tensors("generator_loss")] == [1, 2]


def test_building_a_scheme_and_its_model_does_not_load_the_classifier(mnist_npz, tmp_path, monkeypatch):
    import semi_supervised_aae as semi
    from tests.conftest import tiny_data

    monkeypatch.setattr("utils.classifier.load_or_train_classifier", lambda *a: pytest.fail("classifier loaded"))
    scheme = semi.SemiSupervisedAAE(semi.Config(labeled=100, batch_size=20), tiny_data())
    scheme.build_model()
    assert "condition" in scheme.epoch_inputs(0)
