"""Mean and standard deviation of runs' metrics across seeds, as the README's tables report them.

    python -m utils.seeds results/supervised_aae/seed_*            # every numeric metric
    python -m utils.seeds results/aae/seed_* --keys parzen_ll minutes

The standard deviation is the sample one (n - 1 in the denominator), the usual choice for a few seeds.
"""

import argparse
import json
import math
import os
import sys


def load_metrics(folders):
    """Each folder's metrics.json; a one-line error if one is missing or unreadable."""
    runs = []
    for folder in folders:
        path = os.path.join(folder, "metrics.json")
        try:
            with open(path) as stream:
                runs.append(json.load(stream))
        except (OSError, ValueError) as error:
            raise SystemExit(f"error: cannot read {path}: {error}") from None
    return runs


def check_same_judge(runs, folders):
    """Refuse runs judged by different MNIST classifiers: their classifier-read metrics do not compare.

    A run names its classifier by `classifier_sha256` (older runs only by its test accuracy).
    """
    for key in ("classifier_sha256", "classifier_test_accuracy"):
        judges = {run.get(key) for run in runs}
        if len(judges) > 1 and None not in judges:
            names = ", ".join(f"{folder}: {str(run[key])[:12]}" for folder, run in zip(folders, runs))
            raise SystemExit(f"error: the runs were judged by different MNIST classifiers ({key} {names}); "
                             "runs made on one machine share its cached classifier")
        if None not in judges:
            return


def mean_and_std(values):
    """(mean, sample standard deviation); the deviation is 0 for a single value."""
    values = [float(v) for v in values]
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def summarize(runs, keys=None):
    """{metric: (mean, std, [values])} over the metrics every run has as a number (or only `keys`)."""
    numeric = [key for key, value in runs[0].items() if isinstance(value, (int, float)) and not isinstance(value, bool)]
    keys = keys or numeric
    table = {}
    for key in keys:
        values = [run.get(key) for run in runs]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            table[key] = (*mean_and_std(values), values)
    return table


def markdown(table, seeds):
    lines = ["| metric | mean ± std | " + " | ".join(f"seed {s}" for s in seeds) + " |",
             "|---|---|" + "---|" * len(seeds)]
    for key, (mean, std, values) in table.items():
        lines.append(f"| {key} | {mean:.4g} ± {std:.2g} | " + " | ".join(f"{v:.4g}" for v in values) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="run folders, each with a metrics.json")
    parser.add_argument("--keys", nargs="+", help="only these metrics")
    args = parser.parse_args(argv)
    runs = load_metrics(args.folders)
    check_same_judge(runs, args.folders)
    seeds = []
    for folder in args.folders:
        try:
            with open(os.path.join(folder, "config.json")) as stream:
                seeds.append(json.load(stream).get("seed", "?"))
        except (OSError, ValueError):
            seeds.append(os.path.basename(os.path.normpath(folder)))
    print(markdown(summarize(runs, args.keys), seeds))


if __name__ == "__main__":
    sys.exit(main())
