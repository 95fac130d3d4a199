"""The categorical scheme's ablation: each setting on seeds 0-2 at one short budget, validation error only.

    python -m benchmarks.ablation --data PATH                     # every setting not yet in results/ablation/
    python -m benchmarks.ablation --data PATH --only clustering_consistency
    python -m benchmarks.ablation --table                         # the README's table from what has landed

Each run trains in a temporary folder; what is kept under results/ablation/<setting>/seed_N/ is its
config.json, losses.csv and trial.json (the validation error at the last epoch and its mean over the
last three). The test set is not looked at: settings are chosen on the validation images.
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "results", "ablation")
EPOCHS = 15
SEEDS = (0, 1, 2)
# Trials keep the final evaluation short; the number compared is the validation error per epoch.
SHORT = ["--epochs", str(EPOCHS), "--parzen-samples", "1000", "--sample-every", str(EPOCHS)]

# name: (script, flags). The paper's recipe at this budget is read from the committed 60-epoch runs
# (identical up to epoch 50, where their rates are divided), so it needs no run of its own.
SETTINGS = {
    "clustering_consistency_balance": ("clustering_aae.py", ["--consistency-weight", "1", "--balance-weight", "1"]),
    "classification_consistency": ("classification_aae.py", ["--consistency-weight", "1"]),
    "clustering_consistency_balance_recoverability": (
        "clustering_aae.py", ["--consistency-weight", "1", "--balance-weight", "1", "--recoverability-weight", "1"]),
    "classification_consistency_balance_recoverability": (
        "classification_aae.py", ["--consistency-weight", "1", "--balance-weight", "1", "--recoverability-weight", "1"]),
    "clustering_consistency_balance_recoverability_style_sees_class": (
        "clustering_aae.py", ["--consistency-weight", "1", "--balance-weight", "1", "--recoverability-weight", "1",
                              "--style-discriminator-sees-class"]),
    "clustering_consistency": ("clustering_aae.py", ["--consistency-weight", "1"]),
    "clustering_balance": ("clustering_aae.py", ["--balance-weight", "1"]),
    "clustering_recoverability": ("clustering_aae.py", ["--recoverability-weight", "1"]),
    "classification_balance": ("classification_aae.py", ["--balance-weight", "1"]),
    "classification_recoverability": ("classification_aae.py", ["--recoverability-weight", "1"]),
}
PAPER = {  # the committed default runs of the paper's recipe, read at epoch EPOCHS
    "clustering_paper_recipe": "results/clustering_aae/clusters_16_seed_{seed}",
    "classification_paper_recipe": "results/classification_aae/labeled_100_seed_{seed}",
}
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


def run(name, seed, data):
    script, flags = SETTINGS[name]
    kept = os.path.join(RESULTS, name, f"seed_{seed}")
    if os.path.exists(os.path.join(kept, "trial.json")):
        return
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "run")
        command = [sys.executable, script, "--data", data, "--seed", str(seed), "--out", out, *SHORT, *flags]
        print(" ".join(command[1:]), flush=True)
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        os.makedirs(kept, exist_ok=True)
        for file in ("config.json", "losses.csv"):
            shutil.copy(os.path.join(out, file), kept)
    with open(os.path.join(kept, "config.json")) as stream:  # the temporary folder is gone: record the setting instead
        config = json.load(stream)
    config["out"] = os.path.relpath(kept, ROOT)
    with open(os.path.join(kept, "config.json"), "w") as stream:
        json.dump(config, stream, indent=2)
    with open(os.path.join(kept, "trial.json"), "w") as stream:
        json.dump({"setting": name, "seed": seed, **summarize(os.path.join(kept, "losses.csv"))}, stream, indent=2)


def table():
    """One row per setting: mean +- std over the seeds that have landed, at the last epoch and over the last three."""
    import numpy as np

    rows = []
    sources = {name: os.path.join(RESULTS, name, "seed_{seed}") for name in SETTINGS}
    sources.update({name: os.path.join(ROOT, path) for name, path in PAPER.items()})
    for name, pattern in sorted(sources.items()):
        found = [summarize(os.path.join(pattern.format(seed=seed), "losses.csv")) for seed in SEEDS
                 if os.path.exists(os.path.join(pattern.format(seed=seed), "losses.csv"))]
        found = [f for f in found if f]
        if not found:
            continue
        cells = []
        for key in ("validation_error_eval_last_3", "validation_error_majority_vote_eval_last_3"):
            values = [100 * f[key] for f in found if key in f]
            cells.append(f"{np.mean(values):.1f} ± {np.std(values):.1f} ({', '.join(f'{v:.1f}' for v in values)})"
                         if values else "")
        minutes = np.mean([f["minutes"] for f in found])
        rows.append(f"| {name} | {len(found)} | {cells[0]} | {cells[1]} | {minutes:.1f} |")
    print(f"| setting | seeds | validation error, epochs {EPOCHS - 2}-{EPOCHS} (paper's rule for clusters) "
          "| same, majority vote | minutes |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("MNIST_PATH", ""))
    parser.add_argument("--only", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    if args.table:
        table()
    else:
        for name in args.only:
            for seed in SEEDS:
                run(name, seed, args.data)
