"""The trainer every scheme shares: named networks, and per batch a list of phases, each with its own optimizer."""

import dataclasses
from collections.abc import Callable

import keras
import tensorflow as tf
from keras import ops

# A step input named "<name>_indices" holds indices into the training images; the step receives
# the gathered images as "<name>" (e.g. "images_indices" -> "images").
INDICES = "_indices"


@dataclasses.dataclass(frozen=True)
class Phase:
    """One update of a training step.

    `loss(networks, inputs)` returns (the scalar to minimise, {name: scalar} to log); the phase's
    optimizer then updates the trainable variables of the networks named in `trains`, and only
    those: a network is frozen in a phase simply by not being listed. `logs` names what `loss`
    logs, in order, so the loop knows the columns before the first step.
    """

    name: str
    trains: tuple
    loss: Callable
    logs: tuple


class AdversarialAutoencoder(keras.Model):
    """Networks by role (`{"encoder": ..., "decoder": ..., "discriminator": ...}`) trained phase after phase.

    Each phase's optimizer is `optimizers[phase.name]`. A step runs the phases in order, each on
    the weights the previous one left, and returns every phase's logs as one dict of named scalars.
    """

    def __init__(self, networks, phases, optimizers, **kwargs):
        super().__init__(**kwargs)
        if set(optimizers) != {phase.name for phase in phases}:
            raise ValueError(f"one optimizer per phase: phases {[p.name for p in phases]}, optimizers {list(optimizers)}")
        self.networks = dict(networks)
        self.phases = tuple(phases)
        self.optimizers = dict(optimizers)
        self.log_names = tuple(name for phase in phases for name in phase.logs)
        if len(set(self.log_names)) != len(self.log_names):
            raise ValueError(f"two phases log the same name: {self.log_names}")
        # Create the optimizers' slots now: variables cannot be created inside an XLA-compiled step.
        for phase in self.phases:
            self.optimizers[phase.name].build(self.trained_variables(phase))

    def trained_variables(self, phase):
        return [variable for name in phase.trains for variable in self.networks[name].trainable_variables]

    def train_step(self, inputs):
        """One batch through every phase; `inputs` maps names to this step's tensors."""
        inputs = {name: ops.convert_to_tensor(value) for name, value in inputs.items()}
        logs = {}
        for phase in self.phases:
            variables = self.trained_variables(phase)
            with tf.GradientTape() as tape:
                loss, phase_logs = phase.loss(self.networks, inputs)
            # A variable the loss does not reach (the style head in a classification phase) has no
            # gradient and is left as it is.
            pairs = [(g, v) for g, v in zip(tape.gradient(loss, variables), variables) if g is not None]
            self.optimizers[phase.name].apply(*zip(*pairs))
            logs.update(phase_logs)
        return {name: logs[name] for name in self.log_names}

    def train_steps(self, images, inputs):
        """Several steps in one call; returns the sum of each logged scalar over them.

        `images` is the whole training set, already where the step runs, so each batch is gathered
        there instead of being copied in from NumPy; one call for many steps also spares the
        per-call overhead. `inputs` maps names to arrays stacked along a first axis of steps.
        """

        def step(k, sums):
            batch = {}
            for name, stacked in inputs.items():
                if name.endswith(INDICES):
                    batch[name[: -len(INDICES)]] = tf.gather(images, stacked[k])
                else:
                    batch[name] = stacked[k]
            logs = self.train_step(batch)
            return k + 1, {name: sums[name] + logs[name] for name in self.log_names}

        count = tf.shape(next(iter(inputs.values())))[0]
        sums = {name: tf.constant(0.0) for name in self.log_names}
        return tf.while_loop(lambda k, _: k < count, step, (tf.constant(0), sums))[1]


# ---------------------------------------------------------------------------------------------
# The paper's three phases (section 2), shared by the unsupervised, label-regularized and
# supervised schemes. A scheme differs by its prior (the samples come in with the batch) and by
# which network sees the batch's one-hot "condition".

CONDITION_ON = ("none", "discriminator", "decoder", "both")


def sees_condition(condition_on, network):
    """Whether `network` ("discriminator" or "decoder") gets the one-hot condition beside the code."""
    return condition_on in (network, "both")


def _with(condition_on, network, codes, condition):
    return [codes, condition] if sees_condition(condition_on, network) else codes


def binary_crossentropy(targets, predictions):
    return ops.mean(keras.losses.binary_crossentropy(targets, predictions))


def real_then_fake_loss(predictions, half):
    """A discriminator's loss and accuracy on `half` prior samples (real, 1) followed by `half` codes (fake, 0)."""
    targets = ops.concatenate([ops.ones((half, 1)), ops.zeros((half, 1))], axis=0)
    loss = binary_crossentropy(targets, predictions)
    accuracy = ops.mean(ops.cast((predictions > 0.5) == (targets > 0.5), "float32"))
    return loss, accuracy


def aae_phases(condition_on="none"):
    """Per batch of images (with "prior": half a batch of prior samples, and a "condition" if one is used):

    1. discriminator: codes of the first half of the batch labelled fake (0), as many prior
       samples labelled real (1), drawn for the labels of that half;
    2. reconstruction: encoder and decoder on the whole batch, mean squared error;
    3. generator: the encoder pushed to make the (not updated) discriminator call the codes of
       the whole batch real.
    """
    if condition_on not in CONDITION_ON:
        raise ValueError(f"condition_on must be one of {CONDITION_ON}, got {condition_on!r}")

    def discriminator_loss(networks, inputs):
        images, prior = inputs["images"], inputs["prior"]
        half = prior.shape[0]
        condition = inputs.get("condition")
        half_condition = None if condition is None else condition[:half]
        codes = ops.stop_gradient(networks["encoder"](images[:half], training=True))
        both = ops.concatenate([prior, codes], axis=0)
        both_condition = None if condition is None else ops.concatenate([half_condition, half_condition], axis=0)
        predictions = networks["discriminator"](_with(condition_on, "discriminator", both, both_condition), training=True)
        loss, accuracy = real_then_fake_loss(predictions, half)
        return loss, {"discriminator_loss": loss, "discriminator_accuracy": accuracy}

    def reconstruction_loss(networks, inputs):
        images, condition = inputs["images"], inputs.get("condition")
        codes = networks["encoder"](images, training=True)
        reconstructions = networks["decoder"](_with(condition_on, "decoder", codes, condition), training=True)
        mse = ops.mean(ops.square(images - reconstructions))
        return mse, {"reconstruction_mse": mse}

    def generator_loss(networks, inputs):
        images, condition = inputs["images"], inputs.get("condition")
        codes = networks["encoder"](images, training=True)
        predictions = networks["discriminator"](_with(condition_on, "discriminator", codes, condition), training=True)
        loss = binary_crossentropy(ops.ones_like(predictions), predictions)
        return loss, {"generator_loss": loss}

    return [
        Phase("discriminator", ("discriminator",), discriminator_loss, ("discriminator_loss", "discriminator_accuracy")),
        Phase("reconstruction", ("encoder", "decoder"), reconstruction_loss, ("reconstruction_mse",)),
        Phase("generator", ("encoder",), generator_loss, ("generator_loss",)),
    ]
