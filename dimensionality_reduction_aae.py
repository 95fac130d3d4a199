"""Dimensionality reduction with an adversarial autoencoder: each image as the n-D point W_c y + z.

    python dimensionality_reduction_aae.py                  # 2-D, 20 clusters, no labels
    python dimensionality_reduction_aae.py --labeled 1000   # 2-D, y the digit, 1000 labels
    python dimensionality_reduction_aae.py --latent-dim 10  # n-D: 10
    python dimensionality_reduction_aae.py --recipe paper   # the paper's recipe, without this project's ingredients

y is one-hot over m clusters (or the 10 classes with labels), each with a learned cluster head (a row
of W_c); z is the style, narrow against the distance between heads. The paper's section 7.
"""

import dataclasses
import json
import os

import numpy as np

import utils.startup  # noqa: F401  (first of the project's modules: a Ctrl-C while TensorFlow loads is one line)
from utils.categorical_scheme import (
    RECIPES,
    CategoricalAAE,
    CategoricalConfig,
    balanced_labeled_indices,
    cluster_labels_by_majority,
    cluster_labels_from_top_images,
    confusion,
    per_class_error,
)
from utils.config import ConfigError, option
from utils.outputs import write_text
from utils.plots import save_code_scatter, save_count_matrix, save_error_curve
from utils.run import ROOT, main

RULES = {"": "", "_majority_vote": ", majority vote"}  # how each image's digit is read from y: suffix -> legend


@dataclasses.dataclass
class Config(CategoricalConfig):
    labeled: int = option(0, "training images that keep their label, class-balanced (y is then the digit); 0: none, y is a cluster", minimum=0)
    clusters: int = option(0, "clusters m without labels, the width of y (0: 20, the paper's; with --labeled y is the 10 digits)",
                           minimum=0, maximum=100)
    # The representation's size n: the style z's and each cluster head's.
    latent_dim: int = 2
    eta: float = option(3.0, "two cluster heads closer than this are pushed apart (the cost grows linearly as they approach)", positive=True)
    fixed_heads: float = option(
        0.0, "fix W_c to this multiple of the identity, the heads a simplex's corners (the paper's 10-D model: "
        "--latent-dim 10, labels or --clusters 10); 0: learn the heads", minimum=0.0)
    head_init_std: float = option(1.0, "std of the Gaussian the cluster heads start from", positive=True)
    head_lr: float = option(0.01, "learning rate of the cluster-head phase (SGD)", positive=True)
    head_momentum: float = option(0.9, "SGD momentum of the cluster-head phase", minimum=0.0)
    baseline: str = option(
        "results/aae/latent_dim_2", "an aae.py --latent-dim 2 run (folder, relative to the project or absolute): "
        "its codes' 5-NN digit accuracy is reported beside this run's"
    )
    # Networks: the categorical scheme's 1000-1000 ReLU MLPs, its clustering encoder (batch
    # normalisation, heads included), weights from N(0, 0.01^2).
    hidden_units: int = 1000
    hidden_layers: int = 2
    init_std: float = 0.01
    batch_norm: bool = True
    class_batch_norm: bool = True
    # Priors: y one-hot of a uniform cluster or class; z ~ N(0, prior_std^2 I), narrow against eta.
    prior_std: float = 0.3
    noise_std: float = 0.0
    input_dropout: float = 0.2
    style_discriminator_sees_class: bool = True  # not in the paper: the z discriminator also sees y
    # Training: the categorical scheme's appendix SGD (see clustering_aae.py).
    epochs: int = 40
    batch_size: int = 100
    adversarial_optimizer: str = "sgd"
    adam_beta_1: float = 0.5  # used only with adversarial_optimizer "adam"
    discriminator_lr: float = 0.1  # the discriminator on z
    class_discriminator_lr: float = 0.1  # the discriminator on y
    discriminator_momentum: float = 0.1
    generator_lr: float = 0.1
    generator_momentum: float = 0.1
    reconstruction_optimizer: str = "sgd"
    reconstruction_lr: float = 3.92
    reconstruction_momentum: float = 0.9
    # With labels: the classification phase of classification_aae.py.
    classification_optimizer: str = option("sgd", "optimizer of the classification phase (with --labeled): sgd or adam", choices=("sgd", "adam"))
    classification_lr: float = option(0.1, "learning rate of the classification phase", positive=True)
    classification_momentum: float = option(0.9, "SGD momentum of the classification phase", minimum=0.0)
    labeled_shift: int = option(0, "move each labeled image by up to this many pixels in the classification phase (0: the paper)", minimum=0)
    labeled_elastic: float = option(
        0.0, "and distort it elastically, displacements of this scale alpha (0: none; Simard et al. 2003's: 34)", minimum=0.0)
    labeled_rotation: float = option(
        0.0, "and turn it by a random angle of up to this many degrees (0: none)", minimum=0.0, maximum=180.0)
    labeled_scale: float = option(
        0.0, "and scale its rows and its columns by random factors within 1 +- this (0: none)", minimum=0.0, maximum=0.5)
    consistency_in_classification: bool = option(
        False, "with --labeled, add the consistency phase's terms to the classification loss (one phase, one optimizer)")
    lr_decay_epoch: int = 30
    lr_decay: float = 0.1
    lr_schedule: str = "step"
    # Beyond the paper (models/categorical_aae.py gives the sources); --recipe paper turns them all off.
    # This project's recipe (docs/beyond_the_paper.md): without labels the clustering scheme's as it was
    # before it took IMSAT's settings (VAT at IMSAT's scale, cluster balance, the z discriminator seeing y,
    # set above), the recipe the committed 2-D runs used; with --labeled the classification scheme's
    # instead, LABELED_RECIPE below, for each of its flags not given.
    recipe: str = option("project", "paper: the paper's recipe (every ingredient below off, the encoder's input as the paper's) "
                         "for each flag not given; project: the defaults shown, and with --labeled the classification "
                         "scheme's input and ingredients (no batch normalisation, input noise 0.3 and no dropout, the "
                         "labeled images shifted by up to 2 pixels, VAT at 1 on one noise draw, no balance term)",
                         choices=RECIPES)
    consistency_weight: float = 1.0
    max_shift: int = 0
    consistency_elastic: float = 0.0
    consistency_rotation: float = 0.0
    consistency_scale: float = 0.0
    elastic_sigma: float = 4.0
    vat_epsilon: float = 2.0
    vat_epsilon_per_image: bool = False
    vat_xi: float = 1e-6  # VAT's probe norm (VAT's own)
    consistency_shared_noise: bool = False
    balance_weight: float = 1.0
    entropy_weight: float = 0.0
    neighbour_weight: float = 0.0
    neighbours: int = 5
    recoverability_weight: float = 0.0
    detach_class_from_reconstruction: bool = False  # the reconstruction's gradient reaches y
    weight_average: float = 0.0
    hidden_noise: float = 0.0
    test_time_shifts: int = 0  # the evaluation reads each image alone
    ingredient_optimizer: str = "sgd"
    ingredient_lr: float = 0.1
    ingredient_momentum: float = 0.9
    eval_every: int = 1
    sample_every: int = 10

    RESUMABLE = CategoricalConfig.RESUMABLE + ("baseline",)  # read at the evaluation only
    # With --labeled, this project's recipe is the classification scheme's (classification_aae.py), without the
    # batch normalisation that scheme adds from 101 to 1000 labels and the elastic distortion it adds with 1000 or fewer
    # (the distortion tried here on the 10-D setting: lower error on three seeds, docs/dimensionality_reduction_aae.md;
    # left out until the 2-D settings are run with it).
    LABELED_RECIPE = {"batch_norm": False, "noise_std": 0.3, "input_dropout": 0.0, "labeled_shift": 2, "vat_epsilon": 1.0,
                      "consistency_shared_noise": True, "balance_weight": 0.0}
    # The paper's recipe: the encoder's input as the paper's clustering model has it, every ingredient off.
    PAPER_RECIPE = {**CategoricalConfig.PAPER_RECIPE, "batch_norm": True, "noise_std": 0.0, "input_dropout": 0.2}

    @classmethod
    def project_values(cls, given):
        return cls.LABELED_RECIPE if given.get("labeled") else {}

    def validate(self):
        super().validate()
        if 0 < self.labeled < 10:
            raise ConfigError(f"--labeled {self.labeled} is below the 10 classes: at least one label per class (0: no labels)")
        if self.clusters == 1:
            raise ConfigError("--clusters must be at least 2, got 1 (0: the paper's 20)")
        if self.labeled and self.clusters not in (0, 10):
            raise ConfigError(f"--clusters {self.clusters} with --labeled: with labels y is the digit (10 classes)")
        if self.fixed_heads:
            if self.latent_dim != self.width():
                raise ConfigError(f"--fixed-heads needs --latent-dim equal to the width of y ({self.width()}), got {self.latent_dim}")
            for name in ("eta", "head_init_std", "head_lr", "head_momentum"):
                if getattr(self, name) != getattr(Config, name):
                    raise ConfigError(f"--fixed-heads fixes W_c: --{name.replace('_', '-')} would have no effect")

    def width(self):
        """m, the width of y: the 10 digits with labels, else --clusters (0: 20)."""
        return 10 if self.labeled else self.clusters or 20


class DimensionalityReductionAAE(CategoricalAAE):
    """Dimensionality reduction with an adversarial autoencoder (Makhzani et al. 2015, section 7)."""

    name = "dimensionality_reduction_aae"

    def __init__(self, config, data):
        if config.labeled:
            self.labeled = balanced_labeled_indices(data.y_train, config.labeled, config.seed)
        self.num_classes = config.width()
        super().__init__(config, data)

    def describe(self):
        described = {**super().describe(), "representation": "W_c y + z", "dimensions": self.config.latent_dim,
                     "width_of_y": self.num_classes}
        if self.labeled is not None:
            described.update({"labeled_images": len(self.labeled), "labeled_indices": "labeled_indices.txt"})
        return described

    def build_networks(self):
        from models.dimensionality_reduction import build_cluster_heads

        c = self.config
        return {**super().build_networks(), "cluster_heads": build_cluster_heads(
            self.num_classes, c.latent_dim, init_std=c.head_init_std, seed=c.seed + 400, fixed=c.fixed_heads)}

    def build_decoder(self, sizes):
        """The decoder draws from the n-D representation W_c y + z alone."""
        from models import build_decoder

        return build_decoder(self.config.latent_dim, seed=self.config.seed + 100, **sizes)

    def build_phases(self):
        from models.dimensionality_reduction import dimensionality_reduction_phases

        c = self.config
        return dimensionality_reduction_phases(c.eta, fixed_heads=bool(c.fixed_heads), **self.phase_arguments())

    def build_optimizers(self, steps_per_epoch):
        c, optimizers = self.config, super().build_optimizers(steps_per_epoch)
        if not c.fixed_heads:
            optimizers["cluster_heads"] = self.optimizer("sgd", c.head_lr, c.head_momentum, steps_per_epoch)
        return optimizers

    # -- using a trained model ----------------------------------------------------------------

    def heads(self, model):
        """W_c (m, n): row i is the cluster head of y = i."""
        return model.networks["cluster_heads"].get_layer("heads").get_weights()[0]

    def represent(self, model, images):
        """The n-D representation W_c y + z of each image, with y the encoder's q(y | x)."""
        y, z = self.encode(model, images)
        return y @ self.heads(model) + z

    def decode(self, model, codes, labels=None):
        """Images drawn from codes [y, z], through their representation W_c y + z."""
        y, z = codes
        return model.networks["decoder"].predict(y @ self.heads(model) + z, batch_size=1000, verbose=0)

    def predicted_digits(self, model, images):
        """Each image's digit: its class with labels; without, its cluster's digit by the paper's rule and by majority vote."""
        log_probabilities = self.class_log_probabilities(model, images)
        chosen = np.argmax(log_probabilities, axis=1)
        if self.labeled is not None:
            return {"": chosen}
        top, majority = self.cluster_digits(model)
        return {"": top[chosen], "_majority_vote": majority[chosen]}

    def cluster_digits(self, model):
        """Each cluster's digit, labelled on the validation images: the paper's rule and majority vote."""
        log_probabilities = self.class_log_probabilities(model, self.data.x_val)
        return (cluster_labels_from_top_images(log_probabilities, self.data.y_val),
                cluster_labels_by_majority(np.argmax(log_probabilities, axis=1), self.data.y_val, self.num_classes))

    def errors(self, model, images, labels):
        return {rule: float(np.mean(predicted != labels)) for rule, predicted in self.predicted_digits(model, images).items()}

    def validation_metrics(self, model):
        return {f"validation_error{rule}_eval": value for rule, value in self.errors(model, self.data.x_val, self.data.y_val).items()}

    def class_digits(self, model):
        return np.arange(10) if self.labeled is not None else self.cluster_digits(model)[0]

    def representation_knn(self, model):
        """5-NN digit accuracy in the representation: the validation images vote for each test image."""
        from utils.metrics import knn_accuracy

        return knn_accuracy(self.represent(model, self.data.x_val), self.data.y_val,
                            self.represent(model, self.data.x_test), self.data.y_test)

    def baseline(self):
        """What the plain AAE with a 2-D code scores, from its run's metrics.json: None (and a warning)
        if there is no such run, or if it is not a 2-D run on the same split (its 5-NN vote would
        not be comparable)."""
        folder = os.path.join(ROOT, self.config.baseline)
        accuracy, problem = None, None
        try:
            with open(os.path.join(folder, "config.json")) as stream:
                config = json.load(stream)
            with open(os.path.join(folder, "metrics.json")) as stream:
                metrics = json.load(stream)
        except (OSError, ValueError) as error:
            problem = f"no readable config.json and metrics.json ({type(error).__name__})"
        else:
            if not (isinstance(config, dict) and isinstance(metrics, dict)):
                problem = "its config.json or metrics.json is not a JSON object"
            elif config.get("latent_dim") != 2:
                problem = f"its code has {config.get('latent_dim')} dimensions, not 2"
            elif (config.get("validation"), config.get("limit")) != (self.config.validation, self.config.limit):
                problem = "it was trained on another split (--validation, --limit)"
            elif not isinstance(metrics.get("code_knn_digit_accuracy"), float):
                problem = "its metrics.json has no code_knn_digit_accuracy"
            else:
                accuracy = metrics["code_knn_digit_accuracy"]
        if problem:
            print(f"warning: baseline {folder}: {problem}; not reported (python aae.py --latent-dim 2 --out that folder)")
        return {"baseline_aae_2d_knn_digit_accuracy": accuracy, "baseline_run": self.config.baseline}

    def validation_clusters(self, model):
        return np.argmax(self.class_log_probabilities(model, self.data.x_val), axis=1)

    def save_figures(self, model, history):
        out, k, n = self.config.out, self.num_classes, self.config.latent_dim
        labeled = self.labeled is not None
        if labeled:
            write_text(f"{out}/labeled_indices.txt", self.labeled)
        predicted = self.predicted_digits(model, self.data.x_test)
        digits = self.class_digits(model)
        heads, test = self.heads(model), self.represent(model, self.data.x_test)
        if n == 1:  # drawn on a line
            heads, test = np.pad(heads, ((0, 0), (0, 1))), np.pad(test, ((0, 0), (0, 1)))
        kind = f"{len(self.labeled)} labels" if labeled else f"{k} clusters"
        head_labels = [str(d) if labeled else f"{i}:{d}" for i, d in enumerate(digits)]
        save_code_scatter(
            test, self.data.y_test, f"{out}/embedding.png",
            title=f"{n}-D representation W_c y + z of the test images ({kind})" + (", first two coordinates" if n > 2 else ""),
            heads=heads, head_labels=head_labels, axis="r",
        )
        if n > 2:  # the plane where the test images' representations spread most
            from utils.metrics import principal_plane

            mean, directions = principal_plane(test)
            save_code_scatter(
                (test - mean) @ directions.T, self.data.y_test, f"{out}/embedding_principal_plane.png",
                title=f"{n}-D representation W_c y + z of the test images ({kind}), its principal plane",
                heads=(heads - mean) @ directions.T, head_labels=head_labels, axis="pc",
            )
        chosen = np.argmax(self.class_log_probabilities(model, self.data.x_test), axis=1)
        if labeled:  # as classification_aae.py draws it
            save_count_matrix(
                confusion(self.data.y_test, chosen, 10, 10), f"{out}/confusion.png",
                title=f"test set, {len(self.labeled)} labels: {100 * np.mean(chosen != self.data.y_test):.2f}% error",
                ylabel="digit", xlabel="predicted class",
            )
        else:  # as clustering_aae.py draws it
            save_count_matrix(
                confusion(chosen, self.data.y_test, k, 10), f"{out}/confusion.png",
                title="test images: cluster (row, its digit) x true digit", ylabel="cluster", xlabel="digit",
                row_labels=[f"{i} ({digits[i]})" for i in range(k)],
            )
        save_error_curve(
            history, self.curves(tuple(f"validation_error{rule}_eval" for rule in predicted)), f"{out}/error.png",
            title=f"{kind}: validation error per epoch",
            final={f"test error{RULES[rule]}": float(np.mean(p != self.data.y_test)) for rule, p in predicted.items()},
        )
        super().save_figures(model, history)

    def final_errors(self, model):
        test = self.errors(model, self.data.x_test, self.data.y_test)
        validation = self.errors(model, self.data.x_val, self.data.y_val)
        return {**{f"test_error{rule}": value for rule, value in test.items()},
                **{f"validation_error{rule}": value for rule, value in validation.items()}}

    def evaluate(self, model):
        heads = self.heads(model)
        distances = np.sqrt(((heads[:, None] - heads[None]) ** 2).sum(-1))[np.triu_indices(len(heads), 1)]
        chosen = np.argmax(self.class_log_probabilities(model, self.data.x_test), axis=1)
        if self.labeled is not None:
            setting, used = {"labeled_images": len(self.labeled)}, None
        else:  # named as clustering_aae.py names them; the heads of the clusters the validation images use
            top, majority = self.cluster_digits(model)
            setting = {"clusters": self.num_classes, "cluster_labels": top.tolist(), "cluster_labels_majority_vote": majority.tolist()}
            used = np.unique(self.validation_clusters(model))
        return {
            "dimensions": self.config.latent_dim,
            **setting,
            **self.final_errors(model),
            "per_class_test_error": per_class_error(self.predicted_digits(model, self.data.x_test)[""], self.data.y_test),
            "cluster_sizes_test": np.bincount(chosen, minlength=self.num_classes).tolist(),
            "cluster_heads": heads.tolist(),
            "cluster_head_min_distance": float(distances.min()) if len(distances) else None,
            "representation_knn_digit_accuracy": self.representation_knn(model),
            **self.baseline(),
            **self.content_measures(model, self.class_digits(model), used=used),
            **super().evaluate(model),
        }


if __name__ == "__main__":
    main(DimensionalityReductionAAE, Config)
