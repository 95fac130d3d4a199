"""The scheme of the paper's sections 5-6, shared by classification_aae.py and clustering_aae.py.

The encoder's categorical head y is pushed onto one-hot vectors, its style head z onto a Gaussian;
the decoder draws an image from (y, z). With labels (section 5) a classification phase also fits
q(y | x) on the labeled images, and y is the class; without (section 6) y is a cluster.

As in utils/scheme.py, what loads TensorFlow is imported in the methods that use it.
"""

import contextlib
import dataclasses

import numpy as np

from utils.config import OPTIMIZERS, AAEConfig, ConfigError, knob
from utils.plots import save_image_grid
from utils.priors import CategoricalPrior, GaussianPrior
from utils.scheme import Scheme, make_optimizer

RECIPES = ("paper", "project")
# What --recipe paper turns off (the labeled_* fields and consistency_in_classification: the scripts with labels
# only; auxiliary_clusters: clustering only, in its PAPER_RECIPE); a flag that turns one on excludes it.
INGREDIENTS = ("consistency_weight", "balance_weight", "entropy_weight", "neighbour_weight", "recoverability_weight", "labeled_shift",
               "labeled_elastic", "labeled_rotation", "labeled_scale", "consistency_elastic", "consistency_rotation", "consistency_scale",
               "style_discriminator_sees_class", "class_batch_norm",
               "detach_class_from_reconstruction", "weight_average", "hidden_noise", "consistency_in_classification", "test_time_shifts",
               "auxiliary_clusters")
INGREDIENT_PHASES = ("consistency", "recoverability")
CONSISTENCY_DISTORTIONS = ("consistency_elastic", "consistency_rotation", "consistency_scale")  # of the consistency phase's x'
VAT_NEIGHBOUR = 10  # IMSAT's: each image's VAT norm follows its distance to its 10th nearest neighbour


def values_by_count(table, count):
    """A recipe's values that follow a count (labels, clusters): `table` holds (most, values) pairs from the
    smallest count up, and the first whose `most` holds `count` gives its values (none past the last)."""
    return next((values for most, values in table if count <= most), {})


@dataclasses.dataclass
class CategoricalConfig(AAEConfig):
    """The categorical AAE's knobs beyond AAEConfig's (there, latent_dim is the style z's size)."""

    prior_std: float = knob("std of the Gaussian prior N(0, std^2 I) on the style z", positive=True)
    noise_std: float = knob("std of the Gaussian noise added to the encoder's input images in training", minimum=0.0)
    input_dropout: float = knob("fraction of the encoder's input pixels zeroed in training", minimum=0.0)
    batch_norm: bool = knob("batch-normalise the encoder's layers, its two heads included")
    class_batch_norm: bool = knob(
        "with --batch-norm, y's logits are batch-normalised too (the paper's appendix); --no-class-batch-norm: every layer "
        "but y's logits (IMSAT's encoder)")
    style_discriminator_sees_class: bool = knob(
        "the discriminator on z also sees the encoder's y (not in the paper): z pushed to one Gaussian whatever y is"
    )
    class_discriminator_lr: float = knob("learning rate of the discriminator on y", positive=True)
    # Beyond the paper (models/categorical_aae.py says where each comes from); 0 turns one off.
    recipe: str = knob(
        "paper: the paper's appendix (every ingredient below off, the paper recipe's schedule) for each flag not given; "
        "project: the defaults shown", choices=RECIPES)
    consistency_weight: float = knob("weight of KL(q(y|x) || q(y|x shifted)), a phase on the encoder (IMSAT, VAT)", minimum=0.0)
    max_shift: int = knob("the consistency phase moves each image by up to this many pixels in each direction (0: no shift)", minimum=0)
    consistency_elastic: float = knob(
        "and distorts it elastically, displacements of this scale alpha (0: none; Simard et al. 2003's: 34)", minimum=0.0)
    consistency_rotation: float = knob(
        "and turns it by a random angle of up to this many degrees (0: none; Cireşan et al. 2010's: 15)", minimum=0.0, maximum=180.0)
    consistency_scale: float = knob(
        "and scales its height and its width by random factors 1 / f, f within 1 +- this (0: none; Cireşan et al.: 0.15)",
        minimum=0.0, maximum=0.5)
    elastic_sigma: float = knob("std in pixels of the Gaussian that smooths the elastic displacements (Simard et al.: 4)", positive=True)
    vat_epsilon: float = knob("and adds VAT's adversarial perturbation of this L2 norm (0: none)", minimum=0.0)
    vat_epsilon_per_image: bool = knob(
        "each image's VAT norm is --vat-epsilon times its distance to its 10th nearest training image over the median "
        "such distance (IMSAT's rule, at the same median)")
    vat_xi: float = knob(
        "norm of VAT's random probe, whose gradient gives the perturbation's direction (VAT's: 1e-6; IMSAT's code: 10 on "
        "images in [-1, 1], 5 on these in [0, 1])", positive=True)
    consistency_shared_noise: bool = knob(
        "the consistency phase's two passes share one draw of the input noise and dropout (VAT, IMSAT: no input noise)"
    )
    balance_weight: float = knob("weight of log K - the entropy of the batch-mean q(y|x) (IMSAT's marginal term)", minimum=0.0)
    entropy_weight: float = knob(
        "weight of the mean entropy of q(y|x) on the unlabeled batch, in the consistency phase (entropy minimisation: VAT + EntMin)",
        minimum=0.0)
    neighbour_weight: float = knob(
        "weight of -log <q(y|x), q(y|x')>, x' one of x's nearest training images in pixels, in the consistency phase (SCAN)",
        minimum=0.0)
    neighbours: int = knob("x' is drawn, each step, from this many nearest training images of x", minimum=1)
    recoverability_weight: float = knob("weight of the cross-entropy of q(y | decoded prior sample) to its y (ClusterGAN)", minimum=0.0)
    detach_class_from_reconstruction: bool = knob(
        "the reconstruction's gradient stops at y: y is shaped by its discriminator and the terms above alone (as IMSAT's)")
    weight_average: float = knob(
        "decay per step of an exponential moving average of the encoder's weights, which every evaluation reads "
        "(0: none; the Mean Teacher's 0.999)", minimum=0.0)
    hidden_noise: float = knob(
        "std of the multiplicative Gaussian noise on each of the encoder's hidden units in training, 1 + N(0, std^2) "
        "(0: none; Gaussian dropout, Srivastava et al. 2014: 1 is dropout's p = 0.5)", minimum=0.0)
    test_time_shifts: int = knob(
        "the evaluation classifies each image by the mean q(y|x) over it moved by every whole-pixel offset of up to this "
        "many pixels in each direction ((2R+1)^2 views; 0: the image alone)", minimum=0)
    ingredient_optimizer: str = knob(
        "optimizer of the consistency and recoverability phases: sgd (with --ingredient-momentum) or adam (beta_1 0.9; "
        "VAT's own)", choices=OPTIMIZERS)
    ingredient_lr: float = knob("learning rate of the consistency and recoverability phases", positive=True)
    ingredient_momentum: float = knob("SGD momentum of the consistency and recoverability phases", minimum=0.0)

    RESUMABLE = AAEConfig.RESUMABLE + ("test_time_shifts",)  # read at the evaluation only: --eval-only can change it

    # The values --recipe paper gives every flag not given (the paper's appendix, as the committed paper-recipe
    # runs recorded it); a script whose own defaults differ elsewhere (a schedule) adds those fields.
    PAPER_RECIPE = {
        "consistency_weight": 0.0, "max_shift": 2, "vat_epsilon": 0.0, "vat_epsilon_per_image": False, "vat_xi": 1e-6, "consistency_shared_noise": False,
        "balance_weight": 0.0, "entropy_weight": 0.0, "neighbour_weight": 0.0, "neighbours": 5, "recoverability_weight": 0.0, "labeled_shift": 0, "style_discriminator_sees_class": False,
        "detach_class_from_reconstruction": False, "labeled_elastic": 0.0, "labeled_rotation": 0.0, "labeled_scale": 0.0,
        "consistency_elastic": 0.0, "consistency_rotation": 0.0, "consistency_scale": 0.0, "elastic_sigma": 4.0,
        "weight_average": 0.0, "hidden_noise": 0.0, "consistency_in_classification": False, "ingredient_optimizer": "sgd",
        "test_time_shifts": 0, "class_batch_norm": True, "lr_schedule": "step",
    }

    @classmethod
    def project_values(cls, given):
        """What this project's recipe gives the flags not given that depends on those given (a script's: its labels)."""
        return {}

    @classmethod
    def recipe_values(cls, given):
        """The flags `given`, over the values of the recipe they name (--recipe paper: PAPER_RECIPE)."""
        if given.get("recipe") != "paper":
            return {**cls.project_values(given), **given}
        names = {field.name for field in dataclasses.fields(cls)}
        return {**{name: value for name, value in cls.PAPER_RECIPE.items() if name in names}, **given}

    @classmethod
    def paper_values(cls):
        """The paper recipe's value of every field PAPER_RECIPE sets, under --recipe project: flags that
        give the paper's recipe and still take an ingredient flag after them."""
        return {**cls.recipe_values({"recipe": "paper"}), "recipe": "project"}

    @property
    def vat_runs(self):
        """Whether the consistency phase perturbs by VAT (what --vat-xi and the per-image norms act on)."""
        return bool(self.consistency_weight and self.vat_epsilon)

    def validate(self):
        super().validate()
        if not self.input_dropout < 1:
            raise ConfigError(f"--input-dropout must be below 1, got {self.input_dropout}")
        distortions = [name for name in CONSISTENCY_DISTORTIONS if getattr(self, name)]
        if self.consistency_weight and not (self.max_shift or self.vat_epsilon or distortions):
            raise ConfigError("--consistency-weight needs a perturbation: --max-shift, --vat-epsilon, --consistency-elastic, "
                              "--consistency-rotation or --consistency-scale above 0")
        if not self.weight_average < 1:
            raise ConfigError(f"--weight-average is a decay per step, below 1, got {self.weight_average}")
        if self.weight_average and self.batch_norm:
            raise ConfigError("--weight-average averages the trainable weights, not batch normalisation's statistics: "
                              "it needs --no-batch-norm")
        if not (self.class_batch_norm or self.batch_norm):
            raise ConfigError("--no-class-batch-norm leaves y's logits out of the batch normalisation: it needs --batch-norm")
        if self.vat_epsilon_per_image and self.consistency_weight and not self.vat_epsilon:  # moot without the phase
            raise ConfigError("--vat-epsilon-per-image scales VAT's perturbation: it needs --vat-epsilon above 0")
        if self.vat_xi != self.PAPER_RECIPE["vat_xi"] and not self.vat_runs:
            raise ConfigError("--vat-xi is VAT's probe: it needs --consistency-weight and --vat-epsilon above 0")
        if self.recipe == "paper":
            for name in (name for name in INGREDIENTS if hasattr(self, name)):
                if getattr(self, name) != self.PAPER_RECIPE[name]:
                    flag = "--" + name.replace("_", "-")
                    raise ConfigError(f"--recipe paper turns every ingredient beyond the paper off: it excludes {flag} {getattr(self, name)}")
        if distortions and not self.consistency_weight:
            flag = "--" + distortions[0].replace("_", "-")
            raise ConfigError(f"{flag} distorts the consistency phase's moved image: it needs --consistency-weight above 0")
        terms = self.consistency_weight or self.balance_weight or self.entropy_weight or self.neighbour_weight
        if getattr(self, "consistency_in_classification", False) and not terms:
            raise ConfigError("--consistency-in-classification adds the consistency phase's terms to the classification "
                              "loss: it needs one (--consistency-weight, --balance-weight, --entropy-weight or --neighbour-weight)")


def balanced_labeled_indices(labels, count, seed, classes=10):
    """`count` indices of labeled images, as many of each class as possible (count // classes, the
    remainder to classes drawn with the seed), drawn with the seed; all of them if count is the total."""
    labels = np.asarray(labels)
    if count < classes:
        raise ConfigError(f"--labeled {count} is below the {classes} classes: at least one label per class")
    if count > len(labels):
        raise ConfigError(f"--labeled {count} exceeds the {len(labels)} training images")
    if count == len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng([seed, 11])
    per_class = np.full(classes, count // classes)
    per_class[rng.permutation(classes)[: count % classes]] += 1
    chosen = []
    for digit, wanted in enumerate(per_class):
        pool = np.flatnonzero(labels == digit)
        if len(pool) < wanted:
            raise ConfigError(f"--labeled {count}: only {len(pool)} training images of digit {digit}, {wanted} needed")
        chosen.append(rng.choice(pool, wanted, replace=False))
    return np.sort(np.concatenate(chosen))


def _squared_distances(images, block):
    """By blocks of `block` images: (rows, their squared Euclidean distances to every image), each
    image's distance to itself +inf."""
    flat = np.asarray(images, np.float32).reshape(len(images), -1)
    squares = np.sum(flat**2, axis=1)
    for start in range(0, len(flat), block):
        rows = slice(start, min(start + block, len(flat)))
        squared = squares[rows, None] + squares[None, :] - 2 * flat[rows] @ flat.T
        squared[np.arange(len(squared)), np.arange(start, start + len(squared))] = np.inf  # never its own neighbour
        yield rows, squared


def neighbour_distances(images, k, block=1000):
    """Each image's Euclidean distance to its k-th nearest other image (pixels as given)."""
    distances = np.empty(len(images), np.float32)
    for rows, squared in _squared_distances(images, block):
        distances[rows] = np.sqrt(np.maximum(np.partition(squared, k - 1, axis=1)[:, k - 1], 0))
    return distances


def nearest_neighbours(images, k, block=1000):
    """Each image's k nearest other images (pixels as given), as indices, nearest first."""
    found = np.empty((len(images), k), np.int64)
    for rows, squared in _squared_distances(images, block):
        nearest = np.argpartition(squared, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(squared, nearest, axis=1), axis=1, kind="stable")
        found[rows] = np.take_along_axis(nearest, order, axis=1)
    return found


def cluster_labels_from_top_images(log_probabilities, labels):
    """The paper's rule: cluster i takes the label of the image with the highest q(y = i | x) (pass log q:
    probabilities near 1 tie in float32)."""
    return np.asarray(labels)[np.argmax(log_probabilities, axis=0)]


def cluster_labels_by_majority(clusters, labels, num_clusters):
    """Each cluster takes the most common label of the images assigned to it (-1 for an empty cluster)."""
    result = np.full(num_clusters, -1)
    for cluster in range(num_clusters):
        members = np.asarray(labels)[np.asarray(clusters) == cluster]
        if len(members):
            result[cluster] = np.bincount(members).argmax()
    return result


def log_softmax(logits):
    """log softmax of each row, exact for the most probable class even when the others' share is
    below float64's epsilon: log q = -log1p(sum of the others' exp(logit - max))."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    others = np.exp(shifted)
    others[np.arange(len(shifted)), np.argmax(shifted, axis=1)] = 0.0
    return shifted - np.log1p(others.sum(axis=1, keepdims=True))


def per_class_error(predicted, truth, classes=10):
    return [float(np.mean(predicted[truth == digit] != digit)) if np.any(truth == digit) else None for digit in range(classes)]


class CategoricalAAE(Scheme):
    """Adversarial autoencoder with a categorical code y and a style code z (Makhzani et al. 2015, sections 5-6)."""

    num_classes = 10  # the width of y; clustering sets it from --clusters
    labeled = None  # indices of the labeled training images, or None without labels
    evaluated = "encoder"  # the network every evaluation encodes with (with --weight-average, its average)
    _partial_encoders = None  # per (encoder, layer), the encoder up to that layer (encoder_up_to)
    _vat_scales = None  # with --vat-epsilon-per-image: per training image, its VAT norm over --vat-epsilon
    _neighbours = None  # with --neighbour-weight: per training image, its --neighbours nearest training images

    def __init__(self, config, data):
        super().__init__(config, data)
        if config.weight_average:
            self.evaluated = "encoder_average"
        if config.neighbour_weight and config.neighbours >= len(data.x_train):
            raise ConfigError(f"--neighbours {config.neighbours} needs more training images than that, got {len(data.x_train)}")

    def build_prior(self):
        self.style_prior = GaussianPrior(self.config.latent_dim, self.config.prior_std)
        return CategoricalPrior(self.num_classes)

    def describe(self):
        return {"prior": {"class": self.prior.describe(), "style": self.style_prior.describe()}}

    def build_networks(self):
        from models import build_discriminator, build_two_headed_encoder

        c, k = self.config, self.num_classes
        sizes = {"hidden_units": c.hidden_units, "hidden_layers": c.hidden_layers, "init_std": c.init_std}
        networks = {
            "encoder": build_two_headed_encoder(k, c.latent_dim, seed=c.seed, batch_norm=c.batch_norm, class_norm=c.class_batch_norm, **sizes),
            "decoder": self.build_decoder(sizes),
            "discriminator_class": build_discriminator(k, seed=c.seed + 200, name="discriminator_class", **sizes),
            "discriminator_style": build_discriminator(
                c.latent_dim, k if c.style_discriminator_sees_class else 0, seed=c.seed + 300, name="discriminator_style", **sizes
            ),
        }
        if c.weight_average:  # the average starts at the encoder's first weights
            average = build_two_headed_encoder(k, c.latent_dim, seed=c.seed, batch_norm=c.batch_norm, class_norm=c.class_batch_norm,
                                               name="encoder_average", **sizes)
            average.set_weights(networks["encoder"].get_weights())
            networks["encoder_average"] = average
        return networks

    def build_decoder(self, sizes):
        """p(x | y, z): the decoder of [y, z]."""
        from models import build_decoder

        return build_decoder(self.config.latent_dim, self.num_classes, seed=self.config.seed + 100, label_first=True, **sizes)

    def phase_arguments(self):
        """categorical_aae_phases()'s keyword arguments from the config (the labeled_* ones with labels only: without,
        the phases' defaults, which are off)."""
        c = self.config
        with_labels = {} if self.labeled is None else dict(
            labeled_shift=c.labeled_shift, labeled_elastic=c.labeled_elastic, labeled_rotation=c.labeled_rotation,
            labeled_scale=c.labeled_scale, consistency_in_classification=c.consistency_in_classification,
        )
        return dict(
            noise_std=c.noise_std, dropout=c.input_dropout, classification=self.labeled is not None,
            style_sees_class=c.style_discriminator_sees_class, consistency_weight=c.consistency_weight,
            balance_weight=c.balance_weight, max_shift=c.max_shift, vat_epsilon=c.vat_epsilon, vat_per_image=c.vat_epsilon_per_image,
            vat_xi=c.vat_xi, shared_noise=c.consistency_shared_noise, entropy_weight=c.entropy_weight, detach_class=c.detach_class_from_reconstruction,
            recoverability_weight=c.recoverability_weight, neighbour_weight=c.neighbour_weight,
            consistency_elastic=c.consistency_elastic, consistency_rotation=c.consistency_rotation,
            consistency_scale=c.consistency_scale, elastic_sigma=c.elastic_sigma, weight_average=c.weight_average,
            hidden_noise=c.hidden_noise, **with_labels,
        )

    def build_phases(self):
        from models.categorical_aae import categorical_aae_phases

        return categorical_aae_phases(**self.phase_arguments())

    def vat_scales(self):
        """Each training image's 10th-nearest-neighbour distance over the median one (computed once)."""
        if self._vat_scales is None:
            distances = neighbour_distances(self.data.x_train, VAT_NEIGHBOUR)
            self._vat_scales = (distances / np.median(distances)).astype(np.float32)
        return self._vat_scales

    def neighbour_indices(self):
        """Each training image's --neighbours nearest training images (computed once; no labels used)."""
        if self._neighbours is None:
            self._neighbours = nearest_neighbours(self.data.x_train, self.config.neighbours)
        return self._neighbours

    def build_optimizers(self, steps_per_epoch):
        c, steps = self.config, steps_per_epoch
        optimizers = {
            "reconstruction": self.optimizer(c.reconstruction_optimizer, c.reconstruction_lr, c.reconstruction_momentum, steps),
            "discriminator_class": self.adversarial_optimizer(c.class_discriminator_lr, c.discriminator_momentum, steps),
            "discriminator_style": self.adversarial_optimizer(c.discriminator_lr, c.discriminator_momentum, steps),
            "generator": self.adversarial_optimizer(c.generator_lr, c.generator_momentum, steps),
        }
        if self.labeled is not None:
            optimizers["classification"] = self.optimizer(c.classification_optimizer, c.classification_lr, c.classification_momentum, steps)
        for phase in self.build_phases():
            if phase.name in INGREDIENT_PHASES:
                optimizers[phase.name] = self.optimizer(c.ingredient_optimizer, c.ingredient_lr, c.ingredient_momentum, steps)
        if c.weight_average:  # rate 1, never decayed: its step is the moving average's update (models/categorical_aae.py)
            optimizers["weight_average"] = make_optimizer("sgd", 1.0)
        return optimizers

    def epoch_inputs(self, epoch):
        """Per step: a batch of all training images (the unlabeled pass), prior samples for both
        heads, a seed for the input noise and, with labels, a batch of labeled images and their labels."""
        rng = np.random.default_rng([self.config.seed, epoch])
        batch, half = self.config.batch_size, self.config.batch_size // 2
        steps = self.steps_per_epoch()
        inputs = {
            "images_indices": rng.permutation(len(self.data.x_train))[: steps * batch].reshape(steps, batch),
            "class_prior": self.prior.sample(rng, steps * half).reshape(steps, half, -1),
            "style_prior": self.style_prior.sample(rng, steps * half).reshape(steps, half, -1),
            "noise_seed": rng.integers(0, 2**31 - 1, (steps, 2), dtype=np.int32),
        }
        if self.labeled is not None:
            # The labeled images in a fresh order each pass, as many passes as the epoch's steps need.
            passes = -(-steps * batch // len(self.labeled))
            order = np.concatenate([rng.permutation(self.labeled) for _ in range(passes)])[: steps * batch]
            inputs["labeled_images_indices"] = order.reshape(steps, batch)
            inputs["labels"] = np.eye(self.num_classes, dtype=np.float32)[self.data.y_train[order]].reshape(steps, batch, -1)
        if self.config.vat_epsilon_per_image and self.config.vat_runs:
            inputs["vat_scale"] = self.vat_scales()[inputs["images_indices"]]
        if self.config.neighbour_weight:
            # Its own generator, so the draws above are the same with and without the ingredient.
            pick = np.random.default_rng([self.config.seed, epoch, 13]).integers(0, self.config.neighbours, (steps, batch))
            inputs["neighbour_images_indices"] = np.take_along_axis(
                self.neighbour_indices()[inputs["images_indices"]], pick[..., None], axis=2)[..., 0]
        return inputs

    # -- using a trained model ----------------------------------------------------------------

    @contextlib.contextmanager
    def evaluating(self, network):
        """Every evaluation inside reads `network` (e.g. the live "encoder" beside its average)."""
        saved, self.evaluated = self.evaluated, network
        try:
            yield
        finally:
            self.evaluated = saved

    def encode(self, model, images):
        return model.networks[self.evaluated].predict(images, batch_size=1000, verbose=0)

    def views(self, images):
        """What the evaluation reads each image by: the image, or with --test-time-shifts R the image moved
        by each whole-pixel offset of up to R pixels in each direction (the unmoved one among them)."""
        reach = self.config.test_time_shifts
        if not reach:
            return [images]
        from models.categorical_aae import shift_images

        offsets = [(rows, columns) for rows in range(-reach, reach + 1) for columns in range(-reach, reach + 1)]
        return [shift_images(images, np.tile(np.int32(offset), (len(images), 1))).numpy() for offset in offsets]

    def class_probabilities(self, model, images):
        """q(y | x), averaged over the image's views."""
        return np.mean([self.encode(model, view)[0] for view in self.views(images)], axis=0)

    def encoder_up_to(self, model, layer):
        """The evaluated encoder up to the input of its layer `layer` (its logits: "class_probabilities"; its last
        hidden layer: "class"), built once per encoder and layer: a new model would retrace predict."""
        import keras

        encoder = model.networks[self.evaluated]
        if self._partial_encoders is None:
            self._partial_encoders = {}
        key = (id(encoder), layer)
        if key not in self._partial_encoders:  # the encoder is kept beside its part, so its id stays its own
            self._partial_encoders[key] = (encoder, keras.Model(encoder.inputs, encoder.get_layer(layer).input))
        return self._partial_encoders[key][1]

    def class_log_probabilities(self, model, images):
        """log q(y | x), from the encoder's logits (float64): a confident softmax rounds to exactly
        1 - 6e-8 in float32 for hundreds of images, which would tie them when ranking images by q(y = i | x)."""
        logits_model = self.encoder_up_to(model, "class_probabilities")
        views = [log_softmax(logits_model.predict(view, batch_size=1000, verbose=0).astype(np.float64)) for view in self.views(images)]
        if len(views) == 1:
            return views[0]
        top = np.max(views, axis=0)  # the log of the views' mean q(y | x), without underflow
        return top + np.log(np.mean(np.exp(np.array(views) - top), axis=0))

    def styles_grid(self, model, rows):
        """Row r: the one-hot y of `rows[r]`; column j: style z_j from the prior, the same down the column."""
        styles = self.style_prior.sample(np.random.default_rng([self.config.seed, 2]), 10)
        y = np.eye(self.num_classes, dtype=np.float32)[np.repeat(rows, 10)]
        return self.decode(model, [y, np.tile(styles, (len(rows), 1))])

    def save_samples(self, model, epoch):
        rows = np.arange(self.num_classes)
        save_image_grid(
            self.styles_grid(model, rows), len(rows), 10, f"{self.config.out}/styles_epoch_{epoch:03d}.png",
            title=f"row: one-hot y; column: one style z from the prior; epoch {epoch}", row_labels=[str(r) for r in rows],
        )

    def progress_metrics(self, model):
        metrics = self.validation_metrics(model)
        if self.config.weight_average:  # the encoder being averaged, at the same step: what the average adds
            with self.evaluating("encoder"):
                metrics.update({f"live_{name}": value for name, value in self.validation_metrics(model).items()})
        return metrics

    def validation_metrics(self, model):
        """What is measured on the validation images after every --eval-every epochs."""
        return {"validation_error_eval": self.validation_error(model)}

    def final_errors(self, model):
        """The test and validation errors a run reports (metrics.json); a script defines them."""
        raise NotImplementedError

    def evaluate(self, model):
        metrics = super().evaluate(model)
        if self.config.weight_average:  # the errors of the encoder that was averaged, on the same run
            with self.evaluating("encoder"):
                metrics["live_encoder"] = self.final_errors(model)
        return metrics

    def curves(self, columns):
        """The columns of losses.csv an error plot draws, {column: legend label}: `columns`, and with
        --weight-average the live encoder's beside them, each label naming the encoder it reads."""
        labels = {column: column.replace("_", " ") for column in columns}
        if not self.config.weight_average:
            return labels
        return {**{column: f"{label} (averaged encoder)" for column, label in labels.items()},
                **{f"live_{column}": f"{label} (live encoder)" for column, label in labels.items()}}

    def validation_error(self, model):
        raise NotImplementedError

    def class_digits(self, model):
        """The digit each value of y stands for: its class (classification) or its cluster's label."""
        return np.arange(self.num_classes)

    def content_measures(self, model, digits, used=None):
        """Whether y carries the digit and z the style, read by the project's MNIST classifier.

        - head_accuracy: the share of heads (each y one-hot with z = 0, decoded) read as their
          digit, over the values of y in `used` (default: all);
        - prior_sample_accuracy: the same for 10,000 samples from both priors (random y, z);
        - style_knn_digit_accuracy: a 5-nearest-neighbour vote over the validation images' z reads
          the digit of each test image from its z (chance 10%; low is what the scheme wants).
        A decoder that ignored y would fail the first two, whatever the error of q(y | x).
        """
        from utils.classifier import classify
        from utils.metrics import knn_accuracy

        k, latent = self.num_classes, self.config.latent_dim
        used = np.arange(k) if used is None else np.asarray(used)
        heads = classify(self.classifier, self.decode(model, [np.eye(k, dtype=np.float32), np.zeros((k, latent), np.float32)]))
        rng = np.random.default_rng([self.config.seed, 5])
        y, z = self.prior.sample(rng, 10_000), self.style_prior.sample(rng, 10_000)
        read = classify(self.classifier, self.decode(model, [y, z]))
        knn = knn_accuracy(self.encode(model, self.data.x_val)[1], self.data.y_val,
                           self.encode(model, self.data.x_test)[1], self.data.y_test)
        return {
            "head_accuracy": float(np.mean(heads[used] == digits[used])),
            "head_digits_read": heads.tolist(),
            "prior_sample_accuracy": float(np.mean(read == digits[np.argmax(y, axis=1)])),
            "style_knn_digit_accuracy": knn,
        }

    def generate(self, model, labels, rng):
        """Images decoded from both priors: y one-hot of a uniformly drawn class or cluster, z from the
        style prior. Only the count of `labels` is used (a cluster is not a digit)."""
        return self.decode(model, [self.prior.sample(rng, len(labels)), self.style_prior.sample(rng, len(labels))])


def confusion(truth, predicted, rows, cols):
    counts = np.zeros((rows, cols), int)
    np.add.at(counts, (np.asarray(truth), np.asarray(predicted)), 1)
    return counts
