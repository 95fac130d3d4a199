"""Each script's Config block is the one place a hyperparameter's value lives."""

import dataclasses
import os
import subprocess
import sys

import pytest

import aae
import classification_aae
import clustering_aae
import dimensionality_reduction_aae
import semi_supervised_aae
import supervised_aae
from utils.categorical_scheme import CategoricalConfig
from utils.config import REQUIRED, AAEConfig, parse_config, unset_knobs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = (aae, semi_supervised_aae, supervised_aae, classification_aae, clustering_aae, dimensionality_reduction_aae)


def test_the_shared_bases_give_no_hyperparameter_a_value():
    for base in (AAEConfig, CategoricalConfig):
        valued = [f.name for f in dataclasses.fields(base) if f.default is not REQUIRED and f.name not in RUN_SETTINGS]
        assert valued == [], (base.__name__, valued)


RUN_SETTINGS = {field.name for field in dataclasses.fields(AAEConfig.__mro__[1])} | {"classifier", "classifier_epochs"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda module: module.__name__)
def test_every_script_sets_every_knob(script):
    assert unset_knobs(script.Config) == []
    config, _ = parse_config(script.Config, [])
    assert all(getattr(config, f.name) is not REQUIRED for f in dataclasses.fields(config))


def test_a_config_that_forgets_a_knob_fails_at_help():
    @dataclasses.dataclass
    class Forgetful(clustering_aae.Config):
        generator_lr: float = REQUIRED  # what a script that omits a knob amounts to

    with pytest.raises(TypeError, match="Forgetful gives no value to generator_lr"):
        parse_config(Forgetful, ["--help"])
    assert unset_knobs(clustering_aae.Config) == []


def test_the_clustering_script_has_no_classification_flags():
    names = {f.name for f in dataclasses.fields(clustering_aae.Config)}
    assert not {name for name in names if name.startswith("classification")}
    assert {"classification_lr", "classification_optimizer", "classification_momentum"} <= {
        f.name for f in dataclasses.fields(classification_aae.Config)}


HELP_WITHOUT_TENSORFLOW = """
import contextlib, io, runpy, sys
for script in sys.argv[1:]:
    sys.argv = [script, "--help"]
    with contextlib.redirect_stdout(io.StringIO()) as shown, contextlib.suppress(SystemExit):
        runpy.run_path(script, run_name="__main__")
    assert "--epochs" in shown.getvalue(), script
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""


def test_help_answers_before_tensorflow_loads():
    scripts = [f"{module.__name__}.py" for module in SCRIPTS]
    done = subprocess.run([sys.executable, "-c", HELP_WITHOUT_TENSORFLOW, *scripts], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False"]


def shown_help(script):
    shown = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr[-2000:]
    return " ".join(shown.stdout.split())


def test_help_shows_the_value_a_run_without_flags_takes():
    # classification_aae.py's recipe distorts the labeled images with its default 100 labels: --help says 34, not the field's 0;
    # the dimensionality-reduction script's recipe leaves it off.
    assert "--labeled 1000 or fewer) (default: 34.0)" in shown_help("classification_aae.py")
    assert parse_config(classification_aae.Config, [])[0].labeled_elastic == 34.0
    assert "Simard et al. 2003's: 34) (default: 0.0)" in shown_help("dimensionality_reduction_aae.py")
