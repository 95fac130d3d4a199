"""The categorical scheme's ablation: each setting on seeds 0-2 at one short budget, validation error only.

    python -m benchmarks.ablation --data PATH                     # every setting not yet in results/ablation/
    python -m benchmarks.ablation --data PATH --only clustering_consistency --seeds 0
    python -m benchmarks.ablation --table                         # the README's table from what has landed
    python -m benchmarks.ablation --adopt FOLDER --only NAME --seeds 0   # keep a trial run by hand

Each run trains in a temporary folder; what is kept under results/ablation/<setting>/seed_N/ is its
config.json, losses.csv and trial.json (the validation error at the last epoch and its mean over the
last three, and whether the decoder draws the digit from y: the accuracy of the heads and of samples
from both priors). The test set is not looked at: settings are chosen on the validation images.
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

import classification_aae
import clustering_aae
from utils.config import as_flags
from utils.outputs import write_json
from utils.seeds import mean_and_std

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "results", "ablation")
EPOCHS = 15
SEEDS = (0, 1, 2)
# Trials keep the final evaluation short; the number compared is the validation error per epoch.
SHORT = ["--epochs", str(EPOCHS), "--parzen-samples", "1000", "--sample-every", str(EPOCHS)]

# name: (script, flags), the flags over the paper's recipe (BASE), whatever the script's defaults. The paper's
# recipe's errors at this budget are read from the committed 60-epoch runs (identical up to epoch 50, where
# their rates are divided); only its content measures need a run.
CB = ["--consistency-weight", "1", "--balance-weight", "1"]
VAT_0_3 = ["--consistency-weight", "1", "--max-shift", "0", "--vat-epsilon", "0.3"]  # VAT alone, at its authors' MNIST epsilon
# The classification scheme's default (this project's recipe) as flags over the paper's.
CHOICE = ["--labeled-shift", "2", "--style-discriminator-sees-class", "--consistency-weight", "1", "--max-shift", "0",
          "--vat-epsilon", "1", "--consistency-shared-noise"]
AFFINE_100 = ["--labeled-elastic", "34", "--labeled-rotation", "15", "--labeled-scale", "0.15"]  # the 100-label default's distortions
ADAM_CLASSIFICATION = ["--classification-optimizer", "adam", "--classification-lr", "0.001"]
ADAM = [*ADAM_CLASSIFICATION, "--ingredient-optimizer", "adam", "--ingredient-lr", "0.001"]
# A consistency phase as IMSAT trains its clustering head (weihua916/imsat), the z discriminator seeing y; each setting
# sets the weights of the balance and entropy terms (IMSAT's: 0.4 and 0.1).
IMSAT = ["--consistency-weight", "1", "--max-shift", "0", "--vat-epsilon", "1.3", "--vat-epsilon-per-image",
         "--consistency-shared-noise", "--input-dropout", "0", "--ingredient-optimizer", "adam", "--ingredient-lr", "0.002",
         "--no-class-batch-norm", "--style-discriminator-sees-class"]
SETTINGS = {
    "clustering_consistency": ("clustering_aae.py", ["--consistency-weight", "1"]),
    "clustering_balance": ("clustering_aae.py", ["--balance-weight", "1"]),
    "clustering_recoverability": ("clustering_aae.py", ["--recoverability-weight", "1"]),
    "clustering_consistency_balance": ("clustering_aae.py", CB),
    "clustering_consistency_balance_recoverability": ("clustering_aae.py", [*CB, "--recoverability-weight", "1"]),
    "clustering_consistency_balance_style_sees_class": ("clustering_aae.py", [*CB, "--style-discriminator-sees-class"]),
    "clustering_consistency_5_balance": ("clustering_aae.py", ["--consistency-weight", "5", "--balance-weight", "1"]),
    "clustering_consistency_vat_balance": ("clustering_aae.py", [*CB, "--vat-epsilon", "2"]),
    "clustering_consistency_vat_balance_style_sees_class": (
        "clustering_aae.py", [*CB, "--vat-epsilon", "2", "--style-discriminator-sees-class"]),
    # VAT alone, as IMSAT and VAT use it: no whole-pixel shift, which an MLP with few labels must otherwise learn to ignore.
    "clustering_vat_balance_style_sees_class": (
        "clustering_aae.py", [*CB, "--max-shift", "0", "--vat-epsilon", "2", "--style-discriminator-sees-class"]),
    # The same with both consistency passes on one draw of the 20% pixel dropout, so they differ by VAT's
    # perturbation alone (two independent draws differ by far more than its norm of 2).
    "clustering_vat_balance_style_sees_class_shared_noise": (
        "clustering_aae.py", [*CB, "--max-shift", "0", "--vat-epsilon", "2", "--style-discriminator-sees-class",
                              "--consistency-shared-noise"]),
    # The same with IMSAT's per-image norm: each image's ε follows its distance to its 10th nearest training
    # image, at the same median, so images in dense regions (4s beside 9s) are perturbed less.
    "clustering_vat_per_image_balance_style_sees_class": (
        "clustering_aae.py", [*CB, "--max-shift", "0", "--vat-epsilon", "2", "--vat-epsilon-per-image", "--style-discriminator-sees-class"]),
    # The default with IMSAT's weights: its marginal entropy at 0.4 and its conditional entropy at 0.1 against
    # VAT's 1 (weihua916/imsat: lam 0.1, mu 4), where the default weighs the marginal 1 and the conditional 0.
    "clustering_vat_imsat_weights_style_sees_class": (
        "clustering_aae.py", ["--consistency-weight", "1", "--balance-weight", "0.4", "--entropy-weight", "0.1",
                              "--max-shift", "0", "--vat-epsilon", "2", "--style-discriminator-sees-class"]),
    # The default without the balance term: with 16 clusters and 10 digits of about equal size, clusters used
    # alike cannot all be pure, so the term may itself ask for mixed clusters (the y discriminator still
    # pushes the clusters' use toward the uniform prior).
    "clustering_vat_style_sees_class": (
        "clustering_aae.py", ["--consistency-weight", "1", "--max-shift", "0", "--vat-epsilon", "2", "--style-discriminator-sees-class"]),
    # The default with a larger VAT norm: IMSAT's per-image rule, which gives the 1s less than half the median norm,
    # was worse than one norm for all, so a larger one may be better still.
    "clustering_vat_3_balance_style_sees_class": (
        "clustering_aae.py", [*CB, "--max-shift", "0", "--vat-epsilon", "3", "--style-discriminator-sees-class"]),
    # The default with the reconstruction's gradient stopped at y: y shaped by VAT, balance and its discriminator
    # alone (IMSAT's objective with the AAE's one-hot prior), so the reconstruction cannot split 4s and 9s by style.
    "clustering_vat_balance_style_sees_class_detached": (
        "clustering_aae.py", [*CB, "--max-shift", "0", "--vat-epsilon", "2", "--style-discriminator-sees-class",
                              "--detach-class-from-reconstruction"]),
    # The default with the consistency phase's moved image also distorted elastically (Simard et al. 2003's alpha 34,
    # sigma 4): a change of handwriting that keeps the digit, which y must then ignore, as the augmentations of the
    # consistency methods since (UDA, Xie et al. 2020; IIC, Ji et al. 2019) ask of it.
    "clustering_vat_elastic_balance_style_sees_class": (
        "clustering_aae.py", [*CB, "--max-shift", "0", "--vat-epsilon", "2", "--style-discriminator-sees-class",
                              "--consistency-elastic", "34"]),
    # The default with the consistency phase's moved image also turned by up to 15 degrees and its rows and columns
    # scaled within 1 +- 0.15 (Cireşan et al. 2010's affine distortions): y made blind to slant and width, the
    # style by which every seed's clusters split the 4s and 9s together.
    "clustering_vat_affine_balance_style_sees_class": (
        "clustering_aae.py", [*CB, "--max-shift", "0", "--vat-epsilon", "2", "--style-discriminator-sees-class",
                              "--consistency-rotation", "15", "--consistency-scale", "0.15"]),
    # The default with y's logits left out of the batch normalisation (IMSAT's encoder normalises its hidden layers
    # only): normalised logits hold every cluster's score at one spread over the batch whatever the images.
    "clustering_vat_balance_style_sees_class_no_class_norm": (
        "clustering_aae.py", [*CB, "--max-shift", "0", "--vat-epsilon", "2", "--style-discriminator-sees-class",
                              "--no-class-batch-norm"]),
    # The default with its consistency phase as IMSAT trains its clustering head, every setting of weihua916/imsat at
    # once: Adam at 0.002, balance 0.4 and entropy minimisation 0.1, each image's VAT norm 0.25 times its distance to its
    # 10th neighbour (1.3 at the median), both passes on clean images, y's logits not batch-normalised. Each of these
    # alone did not beat the default; the consistency phase alone with them all (no AAE phase) did, on seeds 0-1.
    "clustering_imsat_consistency_style_sees_class": ("clustering_aae.py", [*IMSAT, "--balance-weight", "0.4", "--entropy-weight", "0.1"]),
    # The setting above with the balance term at 1 instead of 0.4: at full length its marginal entropy fell from 2.64 to
    # 2.19 after epoch 22 (six clusters emptied), which a heavier balance term is to hold.
    "clustering_imsat_balance_1_style_sees_class": ("clustering_aae.py", [*IMSAT, "--balance-weight", "1", "--entropy-weight", "0.1"]),
    # The IMSAT setting with IMSAT's own probe for VAT's direction: 10 on its images in [-1, 1], 5 on these in [0, 1]
    # (VAT's is 1e-6), so the direction is the KL's gradient at an image under heavy noise, not the most sensitive one.
    "clustering_imsat_xi_5_style_sees_class": ("clustering_aae.py", [*IMSAT, "--balance-weight", "0.4", "--entropy-weight", "0.1",
                                                                     "--vat-xi", "5"]),
    # The IMSAT setting without its entropy term: the y discriminator already pulls q(y | x) to one-hot codes, and
    # the break at full length came as the conditional entropy fell below 0.05.
    "clustering_imsat_no_entropy_style_sees_class": ("clustering_aae.py", [*IMSAT, "--balance-weight", "0.4"]),
    # The default with SCAN's consistency with mined neighbours: q(y | x) and q(y | x') alike and sure, x' one of
    # x's 5 nearest training images in pixels (mostly the same digit: 4s beside 4s, whatever their slant).
    "clustering_vat_balance_neighbours_style_sees_class": (
        "clustering_aae.py", [*CB, "--max-shift", "0", "--vat-epsilon", "2", "--style-discriminator-sees-class",
                              "--neighbour-weight", "1", "--neighbours", "5"]),
    "classification_vat_balance": ("classification_aae.py", [*CB, "--max-shift", "0", "--vat-epsilon", "2"]),
    # The labeled images moved by up to 2 pixels, nothing else: what stopped the dimensionality-reduction
    # model with 100 labels from fitting its labeled images as exceptions.
    "classification_labeled_shift": ("classification_aae.py", ["--labeled-shift", "2"]),
    # The shift with the z discriminator also seeing y, which made the decoder draw the digit from y in the
    # clustering trials: the shift alone leaves prior samples read as their class 28% of the time.
    "classification_labeled_shift_style_sees_class": (
        "classification_aae.py", ["--labeled-shift", "2", "--style-discriminator-sees-class"]),
    # VAT as its authors ran it on MNIST with 100 labels (takerum/vat: --epsilon=0.3, images in [0, 1]),
    # alone and with the labeled shift; the epsilon of 2 above is near IMSAT's clustering range.
    "classification_vat_0_3": ("classification_aae.py", VAT_0_3),
    "classification_vat_0_3_labeled_shift": ("classification_aae.py", [*VAT_0_3, "--labeled-shift", "2"]),
    # The same with both consistency passes on one draw of the input noise: the two draws of std 0.3
    # differ by far more than VAT's perturbation, which VAT's own inputs do not carry.
    "classification_vat_0_3_shared_noise": ("classification_aae.py", [*VAT_0_3, "--consistency-shared-noise"]),
    # The classification candidate (labeled shift, z discriminator sees y) with a consistency term on one
    # noise draw: the shift's (the Pi-model's perturbation; drawn independently, the noise had made it harm)
    # and VAT's at its authors' epsilon.
    "classification_labeled_shift_style_sees_class_consistency_shared_noise": (
        "classification_aae.py", ["--labeled-shift", "2", "--style-discriminator-sees-class", "--consistency-weight", "1",
                                  "--consistency-shared-noise"]),
    "classification_labeled_shift_style_sees_class_vat_0_3_shared_noise": (
        "classification_aae.py", ["--labeled-shift", "2", "--style-discriminator-sees-class", *VAT_0_3, "--consistency-shared-noise"]),
    # The classification choice (the line above) with a larger VAT norm, ε 1.
    "classification_labeled_shift_style_sees_class_vat_1_shared_noise": (
        "classification_aae.py", CHOICE),
    # The classification choice with VAT at ε 2, and with entropy minimisation added (VAT + EntMin).
    "classification_labeled_shift_style_sees_class_vat_2_shared_noise": (
        "classification_aae.py", [*CHOICE, "--vat-epsilon", "2"]),
    "classification_labeled_shift_style_sees_class_vat_1_entropy_shared_noise": (
        "classification_aae.py", [*CHOICE, "--entropy-weight", "1"]),
    # The classification choice with agreement with pixel neighbours (SCAN's term): q(y | x) shared with one of
    # x's 5 nearest training images, so the 100 labels spread along chains of near images (label propagation).
    "classification_labeled_shift_style_sees_class_vat_1_neighbours_shared_noise": (
        "classification_aae.py", [*CHOICE, "--neighbour-weight", "1", "--neighbours", "5"]),
    # The classification choice with the labeled images also distorted elastically (Simard et al. 2003's alpha 34,
    # sigma 4), with 100 labels, 1000 and all (their default at this budget: the committed 60-epoch runs, COMMITTED).
    "classification_labeled_shift_style_sees_class_vat_1_elastic_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled-elastic", "34"]),
    "classification_1000_labels_labeled_shift_style_sees_class_vat_1_elastic_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled-elastic", "34", "--labeled", "1000"]),
    "classification_all_labels_labeled_shift_style_sees_class_vat_1_elastic_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled-elastic", "34", "--labeled", "50000"]),
    # The classification choice with the consistency phase's moved image distorted elastically too (UDA's idea:
    # consistency under a change that keeps the class), 100 labels.
    "classification_labeled_shift_style_sees_class_vat_1_consistency_elastic_shared_noise": (
        "classification_aae.py", [*CHOICE, "--consistency-elastic", "34"]),
    # The same over the 100-label default since (the labeled images distorted as well).
    "classification_labeled_shift_elastic_style_sees_class_vat_1_consistency_elastic_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled-elastic", "34", "--consistency-elastic", "34"]),
    # The 100-label default with each hidden unit of the encoder multiplied by 1 + N(0, 0.5^2) in training (Gaussian
    # dropout, Srivastava et al. 2014, at dropout's variance for p = 0.2): each labeled image is seen 500 times an epoch.
    # With all labels, where noise at every layer gives the Ladder network most of its gain (Pezeshki et al. 2016).
    "classification_labeled_shift_elastic_style_sees_class_vat_1_hidden_noise_0_5_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled-elastic", "34", "--hidden-noise", "0.5"]),
    "classification_all_labels_labeled_shift_style_sees_class_vat_1_hidden_noise_0_5_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled", "50000", "--hidden-noise", "0.5"]),
    # Half that std (a quarter of the variance): whether the harm of 0.5 shrinks with the noise or turns to a gain.
    "classification_all_labels_labeled_shift_style_sees_class_vat_1_hidden_noise_0_25_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled", "50000", "--hidden-noise", "0.25"]),
    # The 100-label default with the classification and consistency phases on Adam (beta_1 0.9) at 0.001, as VAT's
    # authors train their term with the cross-entropy (Adam at 0.002 times 0.9 per epoch: 0.00106 on average over
    # 15 epochs); the other phases keep the paper's SGD. First each phase on its own Adam; then, as VAT's authors
    # train it, the consistency term inside the classification phase, one Adam on the sum.
    "classification_labeled_shift_elastic_style_sees_class_vat_1_adam_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled-elastic", "34", *ADAM]),
    "classification_labeled_shift_elastic_style_sees_class_vat_1_in_classification_adam_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled-elastic", "34", "--consistency-in-classification", *ADAM_CLASSIFICATION]),
    # The clustering default with its consistency phase (VAT and balance) on Adam (beta_1 0.9) at 0.001, as IMSAT
    # trains its terms (Adam at 0.002); the other phases keep the paper's SGD.
    "clustering_vat_balance_style_sees_class_adam": (
        "clustering_aae.py", [*CB, "--max-shift", "0", "--vat-epsilon", "2", "--style-discriminator-sees-class",
                              "--ingredient-optimizer", "adam", "--ingredient-lr", "0.001"]),
    # The clustering default on clean images (no input corruption, as IMSAT's and VAT's inputs): 20% of the pixels
    # dropped can open a 9's loop into a 4's, and every seed's clusters mix 4s and 9s.
    "clustering_vat_balance_style_sees_class_clean_input": (
        "clustering_aae.py", [*CB, "--max-shift", "0", "--vat-epsilon", "2", "--style-discriminator-sees-class",
                              "--input-dropout", "0"]),
    # The clustering default with IMSAT's weaker balance (0.4) and without its entropy term: 16 digit-pure clusters
    # cannot be used alike (10 digits of about 10% each), so a full-weight balance favours equal mixed clusters.
    "clustering_vat_balance_0_4_style_sees_class": (
        "clustering_aae.py", ["--consistency-weight", "1", "--balance-weight", "0.4", "--max-shift", "0", "--vat-epsilon", "2",
                              "--style-discriminator-sees-class"]),
    # The clustering default with an auxiliary head of 10 clusters on the encoder's last hidden layer, trained as IMSAT
    # trains its one head of 10 (VAT, balance 0.4, entropy minimisation 0.1; 98.4% accuracy with an MLP), y's 16 clusters
    # tied to it by their mutual information (IIC trains heads of both widths on one trunk): every seed's error is the
    # 4s and 9s shared by clusters that split them by style, which 10 clusters used alike cannot afford.
    "clustering_vat_balance_style_sees_class_auxiliary_10": (
        "clustering_aae.py", [*CB, "--max-shift", "0", "--vat-epsilon", "2", "--style-discriminator-sees-class",
                              "--auxiliary-clusters", "10", "--auxiliary-tie-weight", "1"]),
    # The 100-label default with the labeled images also turned by up to 15 degrees and their rows and columns scaled
    # within 1 +- 0.15 (Cireşan et al. 2010's MLPs: affine and elastic distortions together).
    "classification_labeled_shift_elastic_affine_style_sees_class_vat_1_shared_noise": (
        "classification_aae.py", [*CHOICE, *AFFINE_100]),
    # The all-labels default with VAT at ε 2: with 100 labels ε 2 was worse than 1, but VAT's authors train with every
    # MNIST label at ε 2.1 (takerum/vat: train_mnist_sup.py --epsilon=2.1), against 0.3 with 100 labels.
    "classification_all_labels_labeled_shift_style_sees_class_vat_2_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled", "50000", "--vat-epsilon", "2"]),
    # The all-labels default with every encoder layer batch-normalised, the y logits included (the paper's appendix for
    # its clustering model; VAT's and the Ladder network's MNIST MLPs normalise every layer): the all-labels encoder
    # underfits its shifted labeled images (98.9% right after 60 epochs), and normalised layers fit faster.
    "classification_all_labels_labeled_shift_style_sees_class_vat_1_batch_norm_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled", "50000", "--batch-norm"]),
    # The same over the 1000- and 100-label defaults (their labeled images distorted).
    "classification_1000_labels_labeled_shift_elastic_style_sees_class_vat_1_batch_norm_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled-elastic", "34", "--labeled", "1000", "--batch-norm"]),
    "classification_labeled_shift_elastic_affine_style_sees_class_vat_1_batch_norm_shared_noise": (
        "classification_aae.py", [*CHOICE, *AFFINE_100, "--batch-norm"]),
    # The schedule, at this budget: the default's one division by 10 at 12 of the 15 epochs (at 50 of 60 in the full runs)
    # against a half cosine from the full rates to a tenth of them at the last step (--lr-schedule cosine), which
    # spends longer at low rates; with 1000 labels, with all of them and with 100.
    "classification_1000_labels_labeled_shift_elastic_style_sees_class_vat_1_step_12_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled-elastic", "34", "--labeled", "1000", "--lr-decay-epoch", "12"]),
    "classification_1000_labels_labeled_shift_elastic_style_sees_class_vat_1_cosine_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled-elastic", "34", "--labeled", "1000", "--lr-schedule", "cosine"]),
    "classification_all_labels_labeled_shift_style_sees_class_vat_1_step_12_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled", "50000", "--lr-decay-epoch", "12"]),
    "classification_all_labels_labeled_shift_style_sees_class_vat_1_cosine_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled", "50000", "--lr-schedule", "cosine"]),
    # The 1000-label pair again over that default since its batch normalisation (the first pair predates it).
    "classification_1000_labels_labeled_shift_elastic_style_sees_class_vat_1_batch_norm_step_12_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled-elastic", "34", "--labeled", "1000", "--batch-norm",
                                  "--lr-decay-epoch", "12"]),
    "classification_1000_labels_labeled_shift_elastic_style_sees_class_vat_1_batch_norm_cosine_shared_noise": (
        "classification_aae.py", [*CHOICE, "--labeled-elastic", "34", "--labeled", "1000", "--batch-norm",
                                  "--lr-schedule", "cosine"]),
    "classification_labeled_shift_elastic_affine_style_sees_class_vat_1_step_12_shared_noise": (
        "classification_aae.py", [*CHOICE, *AFFINE_100, "--lr-decay-epoch", "12"]),
    "classification_labeled_shift_elastic_affine_style_sees_class_vat_1_cosine_shared_noise": (
        "classification_aae.py", [*CHOICE, *AFFINE_100, "--lr-schedule", "cosine"]),
    # The paper's recipe run at this budget: the committed 60-epoch runs predate the content measures.
    "classification_paper_recipe_measured": ("classification_aae.py", []),
    "classification_consistency": ("classification_aae.py", ["--consistency-weight", "1"]),
    "classification_consistency_balance": ("classification_aae.py", CB),
    "classification_consistency_balance_recoverability": ("classification_aae.py", [*CB, "--recoverability-weight", "1"]),
    "classification_consistency_vat": ("classification_aae.py", ["--consistency-weight", "1", "--vat-epsilon", "2"]),
    "classification_consistency_vat_balance": ("classification_aae.py", [*CB, "--vat-epsilon", "2"]),
    "classification_consistency_vat_labeled_shift": (
        "classification_aae.py", ["--consistency-weight", "1", "--vat-epsilon", "2", "--labeled-shift", "2"]),
}
BASE = {  # the paper recipe's values, as flags: with --recipe paper, the flags above would be refused
    f"{module.__name__}.py": as_flags(module.Config.paper_values())
    for module in (classification_aae, clustering_aae)
}
COMMITTED = {  # committed full-length runs, read at epoch EPOCHS (their rates are divided later): no trial needed
    "clustering_paper_recipe": "results/clustering_aae/clusters_16_seed_{seed}",
    "classification_paper_recipe": "results/classification_aae/labeled_100_seed_{seed}",
    "classification_1000_labels_labeled_shift_style_sees_class_vat_1_shared_noise": "results/classification_aae/labeled_1000_vat_1_seed_{seed}",
    "classification_all_labels_labeled_shift_style_sees_class_vat_1_shared_noise": "results/classification_aae/labeled_all_vat_1_seed_{seed}",
}
CONTENT = ("head_accuracy", "prior_sample_accuracy")
ERRORS = ("validation_error_eval", "validation_error_majority_vote_eval")


def summarize(losses_csv, epoch=EPOCHS):
    """The validation errors at `epoch` and their mean over it and the two epochs before."""
    rows = [row for row in csv.DictReader(open(losses_csv)) if int(row["epoch"]) <= epoch]
    if len(rows) < epoch:
        return None
    summary = {"epoch": epoch, "minutes": round(sum(float(row["seconds"]) for row in rows) / 60, 2)}
    for name in ERRORS:
        if rows[-1].get(name):
            summary[name] = float(rows[-1][name])
            summary[name + "_last_3"] = sum(float(row[name]) for row in rows[-3:]) / 3
    return summary


def trial_flags(name):
    """What a trial of setting `name` passes its script beside --data, --seed and --out."""
    script, flags = SETTINGS[name]
    return [*BASE[script], *SHORT, *flags]


def run(name, seed, data):
    script = SETTINGS[name][0]
    if os.path.exists(os.path.join(RESULTS, name, f"seed_{seed}", "trial.json")):
        return
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "run")
        command = [sys.executable, script, "--data", data, "--seed", str(seed), "--out", out, *trial_flags(name)]
        print(" ".join(command[1:]), flush=True)
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        keep(name, seed, out)


def keep(name, seed, out):
    """What results/ablation/<name>/seed_<seed>/ keeps of the finished trial in `out`."""
    if summarize(os.path.join(out, "losses.csv")) is None:
        raise SystemExit(f"error: {out} holds fewer than {EPOCHS} epochs: not a finished trial")
    kept = os.path.join(RESULTS, name, f"seed_{seed}")
    os.makedirs(kept, exist_ok=True)
    shutil.copy(os.path.join(out, "losses.csv"), kept)
    with open(os.path.join(out, "config.json")) as stream:
        config = json.load(stream)
    config["out"] = os.path.relpath(kept, ROOT)  # the trial's own folder is temporary
    write_json(os.path.join(kept, "config.json"), config)
    with open(os.path.join(out, "metrics.json")) as stream:
        metrics = json.load(stream)
    # Whether the decoder draws the digit from y: generated images and validation-labelled clusters only.
    content = {key: metrics[key] for key in CONTENT if key in metrics}
    summary = summarize(os.path.join(kept, "losses.csv"))
    write_json(os.path.join(kept, "trial.json"), {"setting": name, "seed": seed, **summary, **content})


def table():
    """One row per setting: mean +- std over the seeds that have landed, over the last three epochs."""
    import numpy as np

    def cell(values, scale=100):
        if not values:
            return ""
        values = [scale * v for v in values]
        mean, std = mean_and_std(values)
        return f"{mean:.1f} ± {std:.1f} ({', '.join(f'{v:.1f}' for v in values)})" if len(values) > 1 else f"{mean:.1f}"

    rows = []
    sources = {name: os.path.join(RESULTS, name, "seed_{seed}") for name in SETTINGS}
    sources.update({name: os.path.join(ROOT, path) for name, path in COMMITTED.items()})
    for name, pattern in sorted(sources.items()):
        found = []
        for seed in SEEDS:
            folder = pattern.format(seed=seed)
            if os.path.exists(os.path.join(folder, "trial.json")):
                found.append(json.load(open(os.path.join(folder, "trial.json"))))
            elif name in COMMITTED and os.path.exists(os.path.join(folder, "losses.csv")):
                found.append(summarize(os.path.join(folder, "losses.csv")))
        found = [f for f in found if f]
        if not found:
            continue
        cells = [cell([f[key] for f in found if key in f]) for key in (
            "validation_error_eval_last_3", "validation_error_majority_vote_eval_last_3", *CONTENT)]
        rows.append(f"| {name} | {len(found)} | {' | '.join(cells)} | {np.mean([f['minutes'] for f in found]):.1f} |")
    print(f"| setting | seeds | validation error %, epochs {EPOCHS - 2}-{EPOCHS} (clusters: paper's rule) "
          "| same, majority vote | head accuracy % | prior-sample accuracy % | minutes |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("MNIST_PATH", ""))
    parser.add_argument("--only", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--adopt", metavar="FOLDER", help="keep the finished trial in FOLDER as --only NAME --seeds N")
    args = parser.parse_args()
    if args.table:
        table()
    elif args.adopt:
        if len(args.only) != 1 or len(args.seeds) != 1:
            parser.error("--adopt needs one --only NAME and one --seeds N")
        keep(args.only[0], args.seeds[0], args.adopt)
    else:
        for name in args.only:
            for seed in args.seeds:
                run(name, seed, args.data)
