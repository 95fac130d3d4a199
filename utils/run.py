"""The run every script shares: model set-up, the epoch loop, checkpoints and resume, outputs."""

import csv
import dataclasses
import json
import os
import signal
import time
import zipfile

import keras
import numpy as np
import tensorflow as tf

from models import LOSS_NAMES, AdversarialAutoencoder, build_decoder, build_discriminator, build_encoder
from utils.classifier import classify, load_or_train_classifier
from utils.config import ConfigError, UserError, fail, parse_config
from utils.data import load_mnist, resolve_data_path
from utils.parzen import parzen_evaluate
from utils.plots import save_loss_plot

CHECKPOINT = "checkpoint.npz"
# Steps per compiled call. Between calls the loop updates the progress bar, checks the losses are
# finite and honours a stop request, so a kill waits at most this many steps.
STEPS_PER_CALL = 20


class Scheme:
    """What one scheme adds to the shared run. Each script subclasses it.

    A scheme picks the prior, an integer id per training image (which one-hot condition it gets
    and which prior component its matching prior sample comes from), which network sees that
    condition, and its own figures and metrics.
    """

    name = "aae"
    condition_dim = 0  # width of the one-hot condition; 0 when no network is conditioned
    condition_discriminator = False
    condition_decoder = False
    uses_classifier = False  # judge generated digits with the project's MNIST classifier

    def __init__(self, config, data):
        self.config = config
        self.data = data
        self.prior = self.build_prior()
        self.train_ids = self.image_ids()
        if self.uses_classifier:
            self.classifier, self.classifier_accuracy = load_or_train_classifier(
                data, config.classifier or None, config.classifier_epochs, config.seed
            )

    def build_prior(self):
        raise NotImplementedError

    def image_ids(self):
        """Per training image, the id behind its condition and its prior sample: the digit by default."""
        return self.data.y_train

    def condition(self, ids):
        """One-hot rows for ids, zero-width when no network is conditioned."""
        ids = np.asarray(ids)
        if not self.condition_dim:
            return np.zeros((len(ids), 0), np.float32)
        return np.eye(self.condition_dim, dtype=np.float32)[ids]

    def describe(self):
        """What config.json records beyond the flags."""
        return {"prior": self.prior.describe()}

    def save_samples(self, model, epoch):
        """Figures saved every --sample-every epochs, named by epoch."""

    def save_figures(self, model):
        """Figures saved at the end of a run (and by --eval-only)."""

    def generate(self, model, labels, rng):
        """Images decoded from prior samples drawn for `labels` (digits; the decoder sees them if conditioned)."""
        codes = self.prior.sample(rng, len(labels), labels=labels)
        condition = self.condition(labels) if self.condition_decoder else None
        return decode(model, codes, condition)

    def encode_test(self, model):
        return model.encoder.predict(self.data.x_test, batch_size=1000, verbose=0)

    def progress_metrics(self, model):
        """What --eval-every measures during training: the Parzen log-likelihood."""
        return {"parzen_ll": self.parzen(model)["parzen_ll"]}

    def parzen(self, model):
        """The paper's Parzen protocol on samples decoded from the prior, digits drawn uniformly."""
        rng = np.random.default_rng([self.config.seed, 1])
        labels = rng.integers(0, 10, self.config.parzen_samples)
        samples = self.generate(model, labels, rng)
        return parzen_evaluate(samples, self.data.x_val, self.data.x_test)

    def conditional_accuracy(self, model, per_digit=1000):
        """How often the classifier reads digit k in images generated for digit k."""
        labels = np.repeat(np.arange(10), per_digit)
        images = self.generate(model, labels, np.random.default_rng([self.config.seed, 3]))
        return float(np.mean(classify(self.classifier, images) == labels))

    def evaluate(self, model):
        """Metrics of a trained model, a dict of JSON numbers; schemes add their own."""
        codes = self.encode_test(model)
        condition = self.condition(self.data.y_test) if self.condition_decoder else None
        reconstructions = decode(model, codes, condition)
        metrics = {"test_reconstruction_mse": float(np.mean((reconstructions - self.data.x_test) ** 2))}
        metrics.update(self.parzen(model))
        # The same protocol on real training images: what the data itself scores.
        real = self.data.x_train[: self.config.parzen_samples]
        reference = parzen_evaluate(real, self.data.x_val, self.data.x_test)
        metrics.update({f"real_images_{key}": value for key, value in reference.items()})
        return metrics


def decode(model, codes, condition=None):
    inputs = codes if condition is None else [codes, condition]
    return model.decoder.predict(inputs, batch_size=1000, verbose=0)


def build_model(config, scheme, steps_per_epoch):
    """The three networks and the three phases' optimizers, as `config` asks, for `scheme`'s conditioning."""
    label_dim = scheme.condition_dim

    def rate(value):
        return learning_rate(config, value, steps_per_epoch)

    return AdversarialAutoencoder(
        encoder=build_encoder(config.latent_dim, seed=config.seed),
        decoder=build_decoder(config.latent_dim, label_dim if scheme.condition_decoder else 0, seed=config.seed + 100),
        discriminator=build_discriminator(
            config.latent_dim, label_dim if scheme.condition_discriminator else 0, seed=config.seed + 200
        ),
        discriminator_optimizer=adversarial_optimizer(config, rate(config.discriminator_lr), config.discriminator_momentum),
        reconstruction_optimizer=keras.optimizers.Adam(rate(config.reconstruction_lr)),
        generator_optimizer=adversarial_optimizer(config, rate(config.generator_lr), config.generator_momentum),
        condition_discriminator=scheme.condition_discriminator,
        condition_decoder=scheme.condition_decoder,
    )


def learning_rate(config, value, steps_per_epoch):
    """`value`, multiplied by --lr-decay once --lr-decay-epoch epochs are done (0: a constant rate).

    Each phase's optimizer counts its own steps, one per batch, so the switch falls on the same
    batch for all three, and a resumed run finds it where the checkpointed step count puts it.
    """
    if not config.lr_decay_epoch:
        return value
    last_step = config.lr_decay_epoch * steps_per_epoch - 1  # the step count before an update is 0, 1, ...
    return keras.optimizers.schedules.PiecewiseConstantDecay([last_step], [value, value * config.lr_decay])


def adversarial_optimizer(config, learning_rate, momentum):
    if config.adversarial_optimizer == "adam":
        return keras.optimizers.Adam(learning_rate, beta_1=0.5)  # the usual GAN setting
    return keras.optimizers.SGD(learning_rate, momentum=momentum)


# ---------------------------------------------------------------------------------------------
# Checkpoints: every weight and optimizer slot as arrays, plus the loop's position, in one .npz
# written to a temporary file and renamed, so a kill at any moment leaves the last one whole.


class CheckpointError(UserError):
    """A checkpoint that is missing, unreadable, or from another configuration."""


def _state_variables(model):
    variables = model.encoder.weights + model.decoder.weights + model.discriminator.weights
    for optimizer in model.phase_optimizers:
        variables += optimizer.variables
    return variables


def save_checkpoint(path, model, meta):
    arrays = {f"v{i:04d}": np.asarray(v) for i, v in enumerate(_state_variables(model))}
    temporary = path + ".tmp"
    with open(temporary, "wb") as stream:
        np.savez(stream, meta=np.array(json.dumps(meta)), **arrays)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def _unreadable(path, error):
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return CheckpointError(f"{path}: unreadable checkpoint ({reason})")


def read_checkpoint_meta(path):
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no checkpoint here (run without --resume/--eval-only first)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return json.loads(str(archive["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise _unreadable(path, error) from None


def restore_checkpoint(path, model):
    variables = _state_variables(model)
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = sorted(name for name in archive.files if name.startswith("v"))
            if len(names) != len(variables):
                raise CheckpointError(f"{path}: holds {len(names)} arrays, this model has {len(variables)} variables")
            values = [archive[name] for name in names]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise _unreadable(path, error) from None
    for variable, value in zip(variables, values):
        if tuple(variable.shape) != value.shape:
            raise CheckpointError(f"{path}: {variable.path} has shape {tuple(variable.shape)}, checkpoint {value.shape}")
    for variable, value in zip(variables, values):
        variable.assign(value)


# ---------------------------------------------------------------------------------------------


class _StopRequest:
    """Ctrl-C or SIGTERM asks the loop to checkpoint and stop after the current step; twice, at once."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step: writing a checkpoint (press Ctrl-C again to abort now)", flush=True)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def epoch_inputs(scheme, config, epoch, count):
    """Order, conditions and prior samples of one epoch, drawn from a generator seeded by (seed, epoch).

    Deriving every epoch's randomness from (seed, epoch) is what lets --resume continue mid-epoch
    exactly where an uninterrupted run would be.
    """
    rng = np.random.default_rng([config.seed, epoch])
    batch, half = config.batch_size, config.batch_size // 2
    steps = count // batch  # fixed-shape batches: the XLA step is compiled once
    order = rng.permutation(count)[: steps * batch].reshape(steps, batch)
    ids = scheme.train_ids[order]
    prior = scheme.prior.sample(rng, steps * half, labels=ids[:, :half].reshape(-1))
    condition = scheme.condition(ids.reshape(-1)).reshape(steps, batch, -1)
    return order, condition, prior.reshape(steps, half, -1)


def on_device(array):
    """`array` copied once to where the step runs: tf.identity runs on the GPU when there is one."""
    return tf.identity(tf.convert_to_tensor(array))


def train(model, scheme, config, out, meta):
    images = on_device(scheme.data.x_train)  # copied once; each call gathers its batches there
    run_steps = tf.function(model.train_steps, jit_compile=config.jit)
    checkpoint = os.path.join(out, CHECKPOINT)
    history = meta["history"]
    with _StopRequest() as stop:
        while meta["epoch"] < config.epochs:
            epoch = meta["epoch"]
            order, condition, prior = epoch_inputs(scheme, config, epoch, len(scheme.data.x_train))
            steps = len(order)
            sums = tf.constant(meta["sums"], tf.float32)
            progress = keras.utils.Progbar(steps, stateful_metrics=LOSS_NAMES)
            started = time.perf_counter() - meta["epoch_seconds"]
            print(f"epoch {epoch + 1}/{config.epochs}")
            for start in range(meta["step"], steps, STEPS_PER_CALL):
                done = min(start + STEPS_PER_CALL, steps)
                sums = sums + run_steps(images, order[start:done], condition[start:done], prior[start:done])
                means = sums.numpy() / done
                if not np.all(np.isfinite(means)):
                    bad = ", ".join(f"{n}={m}" for n, m in zip(LOSS_NAMES, means) if not np.isfinite(m))
                    fail(
                        f"non-finite loss in epoch {epoch + 1} by step {done} ({bad}); "
                        f"the last good checkpoint (epoch {epoch}, step {meta['step']}) is kept in {checkpoint}",
                        status=1,
                    )
                progress.update(done, list(zip(LOSS_NAMES, means)))
                if stop.requested:
                    meta.update(step=done, sums=sums.numpy().tolist(), epoch_seconds=time.perf_counter() - started)
                    save_checkpoint(checkpoint, model, meta)
                    print(f"checkpoint written at epoch {epoch + 1}, step {done}: continue with --resume --out {out}")
                    raise SystemExit(130)
            row = dict(zip(LOSS_NAMES, (sums.numpy() / steps).tolist()))
            row = {"epoch": epoch + 1, **row, "seconds": round(time.perf_counter() - started, 2)}
            if config.eval_every and (epoch + 1) % config.eval_every == 0:
                row.update(scheme.progress_metrics(model))
            history.append(row)
            print(summary_line(row, config.epochs))
            meta.update(epoch=epoch + 1, step=0, sums=[0.0] * len(LOSS_NAMES), epoch_seconds=0.0)
            save_checkpoint(checkpoint, model, meta)
            if (epoch + 1) % config.sample_every == 0 or epoch + 1 == config.epochs:
                scheme.save_samples(model, epoch + 1)
            write_history(history, out, scheme.name)


def summary_line(row, epochs):
    parts = [f"epoch {row['epoch']}/{epochs}"]
    parts += [f"{name} {row[name]:.4f}" for name in LOSS_NAMES]
    parts += [f"{key} {row[key]:.2f}" for key in row if key.startswith("parzen_ll") or key.endswith("accuracy_eval")]
    parts.append(f"{row['seconds']:.1f}s")
    return "  ".join(parts)


def write_history(history, out, title):
    columns = list(dict.fromkeys(key for row in history for key in row))
    with open(os.path.join(out, "losses.csv"), "w", newline="") as stream:
        writer = csv.DictWriter(stream, columns, restval="")
        writer.writeheader()
        writer.writerows(history)
    save_loss_plot(history, os.path.join(out, "losses.png"), title)


def write_json(path, payload):
    with open(path, "w") as stream:
        json.dump(payload, stream, indent=2)
        stream.write("\n")


def main(scheme_class, config_class, argv=None):
    """Parse the flags, train (or resume, or only evaluate) and write every output."""
    config, given = parse_config(config_class, argv, description=(scheme_class.__doc__ or "").strip())
    out = config.out
    checkpoint = os.path.join(out, CHECKPOINT)
    meta = {"epoch": 0, "step": 0, "sums": [0.0] * len(LOSS_NAMES), "epoch_seconds": 0.0, "history": []}
    try:
        if config.resume or config.eval_only:
            meta = read_checkpoint_meta(checkpoint)
            config = _resumed_config(config_class, meta["config"], config, given)
        elif os.path.exists(checkpoint):
            fail(f"{out} already holds a run ({checkpoint}): pass --resume to continue it, or another --out")
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
    model = build_model(config, scheme, steps_per_epoch=len(data.x_train) // config.batch_size)
    run_config = {**dataclasses.asdict(config), **scheme.describe()}
    meta["config"] = dataclasses.asdict(config)
    if config.resume or config.eval_only:
        try:
            restore_checkpoint(checkpoint, model)
        except CheckpointError as error:
            fail(str(error))
        print(f"restored {checkpoint}: epoch {meta['epoch']}, step {meta['step']}")
    if not config.eval_only:  # an evaluation leaves the record of how the run was trained as it is
        write_json(os.path.join(out, "config.json"), run_config)

    if not config.eval_only:
        train(model, scheme, config, out, meta)
        for network in (model.encoder, model.decoder, model.discriminator):
            network.save(os.path.join(out, f"{network.name}.keras"))

    scheme.save_figures(model)
    history = meta["history"]
    metrics = {
        "epochs": meta["epoch"],
        "minutes": round(sum(row["seconds"] for row in history) / 60, 2),
        **({f"final_{name}": history[-1][name] for name in LOSS_NAMES} if history else {}),
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
