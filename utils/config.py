"""Config dataclasses turned into command-line flags, with one-line errors for impossible values."""

import argparse
import dataclasses
import sys
import typing


class UserError(Exception):
    """Something the user can fix (a path, a flag, a file): reported in one line, exit status 2."""


def reason(error):
    """The first line of an exception's message (its type's name if it has none), for a one-line error."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__


class ConfigError(UserError):
    """A flag value that cannot work."""


OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("step", "cosine")


def option(default, help, **checks):
    """A config field with its --help text and its checks (minimum=, maximum=, positive=, even=, choices=)."""
    return dataclasses.field(default=default, metadata={"help": help, **checks})


class _Required:
    def __repr__(self):
        return "REQUIRED"


REQUIRED = _Required()  # a knob the base declares without a value: each script's Config block sets it


def knob(help, **checks):
    """A hyperparameter declared with its help and checks but no value: a script that does not set
    it fails at --help and in the tests, instead of silently taking a shared default."""
    return option(REQUIRED, help, **checks)


def unset_knobs(config_class):
    return [field.name for field in dataclasses.fields(config_class) if field.default is REQUIRED]


@dataclasses.dataclass
class RunConfig:
    """What every script shares: where data and results live, seeding, resuming, evaluation."""

    data: str = option("", "MNIST .npz (Keras layout) or folder of the four IDX files; default $MNIST_PATH, else Keras's download")
    out: str = option("", "folder for grids, plots, CSV, JSON, models and the checkpoint; empty: runs/<script name>")
    seed: int = option(0, "seed of every random draw: weights, shuffling, prior samples, splits", minimum=0)
    sample_every: int = option(10, "save a sample grid every N epochs (and at the end)", minimum=1)
    eval_every: int = option(0, "compute the evaluation metrics every N epochs too (0: only at the end)", minimum=0)
    validation: int = option(10_000, "training images held out for validation (the last ones)", minimum=1)
    limit: int = option(0, "train on only the first N training images (0: all), for quick trials", minimum=0)
    # Two at least: the Frechet distance needs a covariance.
    parzen_samples: int = option(10_000, "samples decoded from the prior for the Parzen window and the Frechet distance", minimum=2)
    resume: bool = option(False, "continue the run whose checkpoint is in --out")
    eval_only: bool = option(False, "evaluate the finished run in --out again, without training")
    overwrite: bool = option(False, "replace the run in --out: delete its figures, CSV, JSON, models and checkpoint, then start afresh")
    jit: bool = option(True, "XLA-compile the training step (--no-jit to debug)")
    tensorboard: str = option("", "also write each epoch's losses, metrics and learning rates here for TensorBoard (needs: pip install tensorboard)")

    # Flags that may differ from the checkpoint's when resuming: they do not change the result.
    RESUMABLE = ("data", "out", "epochs", "sample_every", "eval_every", "resume", "eval_only", "overwrite", "jit", "tensorboard")

    def kept_on_resume(self):
        """Flags of RESUMABLE that this run, resumed, keeps all the same: {name: why}."""
        return {}

    @classmethod
    def recipe_values(cls, given):
        """The field values of the flags `given`, with those of a named recipe they select (a subclass's)."""
        return given

    def validate(self):
        for field in dataclasses.fields(self):
            value, meta = getattr(self, field.name), field_metadata(type(self), field.name)
            flag = "--" + field.name.replace("_", "-")
            if "minimum" in meta and value < meta["minimum"]:
                raise ConfigError(f"{flag} must be at least {meta['minimum']}, got {value}")
            if "maximum" in meta and value > meta["maximum"]:
                raise ConfigError(f"{flag} must be at most {meta['maximum']}, got {value}")
            if meta.get("positive") and not value > 0:
                raise ConfigError(f"{flag} must be positive, got {value}")
            if meta.get("even") and value % 2:
                raise ConfigError(f"{flag} must be even (half the batch is encoded, half drawn from the prior), got {value}")
            if "choices" in meta and value not in meta["choices"]:
                raise ConfigError(f"{flag} must be one of {', '.join(meta['choices'])}, got {value!r}")
        if self.resume and self.eval_only:
            raise ConfigError("--resume and --eval-only exclude each other")
        if self.overwrite and (self.resume or self.eval_only):
            raise ConfigError("--overwrite starts a new run: it excludes --resume and --eval-only")


@dataclasses.dataclass
class AAEConfig(RunConfig):
    """The hyperparameters of an adversarial autoencoder: their help and checks; each script's Config block sets their values."""

    latent_dim: int = knob("size of the code z", minimum=1)
    hidden_units: int = knob("units of each hidden ReLU layer of every network", minimum=1)
    hidden_layers: int = knob("hidden layers of every network", minimum=1)
    init_std: float = knob("std of the Gaussian every weight starts from", positive=True)
    epochs: int = knob("passes over the training images", minimum=1)
    batch_size: int = knob("images per step: half of them encoded for the discriminator", minimum=2, even=True)
    adversarial_optimizer: str = knob("optimizer of the adversarial phases: sgd (with the momentum flags) or adam", choices=OPTIMIZERS)
    adam_beta_1: float = knob("Adam's beta_1 in the adversarial phases", minimum=0.0)
    discriminator_lr: float = knob("learning rate of the discriminator", positive=True)
    discriminator_momentum: float = knob("SGD momentum of the discriminator", minimum=0.0)
    generator_lr: float = knob("learning rate of the encoder as generator", positive=True)
    generator_momentum: float = knob("SGD momentum of the generator", minimum=0.0)
    reconstruction_optimizer: str = knob("optimizer of the reconstruction phase: adam (beta_1 0.9) or sgd", choices=OPTIMIZERS)
    reconstruction_lr: float = knob("learning rate of encoder and decoder in the reconstruction phase", positive=True)
    reconstruction_momentum: float = knob("SGD momentum of the reconstruction phase", minimum=0.0)
    lr_decay_epoch: int = knob("after this many epochs every learning rate is multiplied by --lr-decay (0: never)", minimum=0)
    lr_decay: float = knob("factor of the learning-rate decay", positive=True)
    lr_schedule: str = knob(
        "how every learning rate falls: step (multiplied by --lr-decay once --lr-decay-epoch epochs are done) "
        "or cosine (along a half cosine, from the full rate at the first step to --lr-decay times it at the last; "
        "--lr-decay-epoch unused)", choices=LR_SCHEDULES)
    # The project's MNIST classifier reads generated digits (conditional accuracy, Frechet distance).
    classifier: str = option("", "the MNIST classifier's cache file (default ~/.cache/adversarial-autoencoders/mnist_classifier.keras)")
    classifier_epochs: int = option(6, "epochs to train the classifier when the cache file does not exist", minimum=1)

    RESUMABLE = RunConfig.RESUMABLE + ("classifier", "classifier_epochs")

    def kept_on_resume(self):
        # The cosine's length is the run's: more epochs would move the rate of every step still to come.
        return {"epochs": "with --lr-schedule cosine, its length"} if self.lr_schedule == "cosine" else {}

    def validate(self):
        super().validate()
        if self.adam_beta_1 >= 1:
            raise ConfigError(f"--adam-beta-1 must be below 1, got {self.adam_beta_1}")


def field_metadata(config_class, name):
    """Help and checks of a field, from the nearest class that declared them with option().

    A script may redeclare a field with a plain default to set its own value; the help and the
    checks still come from the base class.
    """
    for klass in config_class.__mro__:
        field = getattr(klass, "__dataclass_fields__", {}).get(name)
        if field is not None and field.metadata:
            return field.metadata
    return {}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, not argparse's usage block: the message names the offending flag.
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_config(config_class, argv=None, description=None):
    """Parse argv into `config_class`; return (config, names of the flags the user gave)."""
    unset = unset_knobs(config_class)
    if unset:  # a bug of the script, not a user error: a traceback
        raise TypeError(f"{config_class.__qualname__} gives no value to {', '.join(unset)}: set each knob in the script's Config block")
    parser = _Parser(description=description, argument_default=argparse.SUPPRESS)
    hints = typing.get_type_hints(config_class)
    defaults = config_class.recipe_values({})  # what a run given no flag takes (a recipe may set a field's value)
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        default = defaults.get(field.name, field.default)
        help_text = f"{field_metadata(config_class, field.name).get('help', '')} (default: {default!r})"
        if kind is bool:
            parser.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            parser.add_argument(flag, dest=field.name, type=kind, metavar=kind.__name__.upper(), help=help_text)
    given = vars(parser.parse_args(argv))
    config = config_class(**config_class.recipe_values(given))
    try:
        config.validate()
    except ConfigError as error:
        parser.error(str(error))
    return config, set(given)


def as_flags(values):
    """Command-line flags that give these field values ({"max_shift": 0, "jit": False} -> --max-shift 0 --no-jit)."""
    flags = []
    for name, value in values.items():
        flag = name.replace("_", "-")
        flags += [f"--{flag}" if value else f"--no-{flag}"] if isinstance(value, bool) else [f"--{flag}", str(value)]
    return flags


def fail(message, status=2):
    """Report a user error in one line and exit."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(status)
