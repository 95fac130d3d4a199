"""The benchmark script runs end to end at tiny sizes and reports every row (how fast is not checked)."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # the benchmark script end to end

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMES = ("aae", "semi_supervised_aae", "supervised_aae", "classification_aae", "dimensionality_reduction_aae")


def test_tiny_benchmark_reports_every_row(tmp_path):
    out = tmp_path / "out.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MNIST_PATH", None)  # random images: the smoke test needs no data file
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.benchmark", "--tiny", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads(out.read_text())

    for name in SCHEMES:
        step = results["training_step"][name]
        assert step["ms_per_step"] > 0, name
        assert step["images_per_second"] > 0 and step["seconds_per_epoch"] > 0, name
        assert step["gflop_per_step"] > 0 and step["gflops_per_second"] > 0, name
        assert step["percent_of_matmul_peak"] > 0, name
    assert set(results["ratios"]["step_vs_paper_recipe"]) == {
        "clustering_aae, paper recipe", "clustering_aae + consistency (shift)", "clustering_aae + consistency (shift + VAT)",
        "clustering_aae + balance", "clustering_aae + entropy minimisation", "clustering_aae + neighbour agreement",
        "clustering_aae + consistency (elastic)", "clustering_aae + consistency (affine)", "clustering_aae + recoverability",
        "clustering_aae + z discriminator sees y", "clustering_aae, VAT + balance + z discriminator sees y", "clustering_aae",
        "clustering_aae + auxiliary head (over its default)",
        "classification_aae, paper recipe", "classification_aae + entropy minimisation",
        "classification_aae + labeled elastic distortion", "classification_aae + weight average", "classification_aae + hidden-unit noise",
        "classification_aae", "classification_aae + hidden-unit noise (over its default)",
        "classification_aae, all labels", "classification_aae, all labels + batch norm", "classification_aae, 1000 labels"}
    # Each row is timed against its own script's paper recipe.
    assert results["ratios"]["step_vs_paper_recipe"]["clustering_aae, paper recipe"] == 1.0
    assert results["ratios"]["step_vs_paper_recipe"]["classification_aae, paper recipe"] == 1.0
    assert results["source_post_loop"]["ms_per_batch"] > 0
    assert results["matmul_peak"]["gflops_per_second"] > 0
    assert results["step_shape_matmul"]["percent_of_matmul_peak"] > 0
    assert results["peak_memory_mib"]["after_training"] > 0
    assert results["parzen"]["project"]["seconds"] > 0
    assert results["parzen"]["project"]["subset_seconds"] > 0
    sklearn = results["parzen"]["sklearn"]
    assert "skipped" in sklearn or sklearn["seconds_extrapolated"] > 0
    assert results["ratios"]["training_step_speedup_vs_source_post_loop"] > 0
    assert results["machine"]["cores"] >= 1
    assert "training step, aae" in done.stdout and "ratios" in done.stdout
