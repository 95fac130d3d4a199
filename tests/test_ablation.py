"""The ablation's settings: flags over the paper's recipe, whatever the scripts' defaults."""

import dataclasses
import glob
import json
import os

import pytest

import classification_aae
import clustering_aae
from benchmarks import ablation
from utils.config import parse_config

MODULES = {"classification_aae.py": classification_aae, "clustering_aae.py": clustering_aae}


@pytest.mark.parametrize("name", sorted(ablation.SETTINGS))
def test_each_committed_trial_is_what_its_setting_gives_today(name):
    script, _ = ablation.SETTINGS[name]
    config_class = MODULES[script].Config
    paper = config_class.recipe_values({"recipe": "paper"})
    trials = sorted(glob.glob(os.path.join(ablation.RESULTS, name, "seed_*", "config.json")))
    for path in trials:
        with open(path) as stream:
            recorded = json.load(stream)
        config, _ = parse_config(config_class, ["--seed", str(recorded["seed"]), *ablation.trial_flags(name)])
        for key, value in dataclasses.asdict(config).items():
            if key in ("data", "out"):
                continue
            # A knob added after the trial ran: the paper's value, which is what the trial ran with.
            assert recorded.get(key, paper.get(key, "not recorded")) == value, (path, key)


def test_a_setting_overrides_the_paper_base_and_the_base_overrides_the_defaults():
    config, _ = parse_config(clustering_aae.Config, ablation.trial_flags("clustering_balance"))
    assert (config.balance_weight, config.consistency_weight, config.style_discriminator_sees_class) == (1, 0, False)
    assert (config.epochs, config.lr_decay_epoch, config.recipe) == (ablation.EPOCHS, 50, "project")
