"""The across-seeds summary behind the README's mean +- std tables."""

import json

import pytest

from utils.seeds import main, mean_and_std, summarize


def test_mean_and_sample_std_by_hand():
    # Values 1, 2, 3: mean 2, squared deviations 1 + 0 + 1 over n - 1 = 2 -> std 1.
    assert mean_and_std([1, 2, 3]) == (2.0, 1.0)
    assert mean_and_std([0.25]) == (0.25, 0.0)


def test_summary_keeps_only_metrics_every_run_has_as_numbers():
    runs = [{"error": 0.02, "labels": [1], "flag": True, "only_first": 1.0},
            {"error": 0.04, "labels": [2], "flag": False}]
    table = summarize(runs)
    assert list(table) == ["error"]
    mean, std, values = table["error"]
    assert mean == pytest.approx(0.03) and std == pytest.approx(0.0141421356) and values == [0.02, 0.04]


def test_command_line_table_and_missing_folder(tmp_path, capsys):
    for seed, value in enumerate([10.0, 14.0]):
        folder = tmp_path / f"seed_{seed}"
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps({"parzen_ll": value}))
        (folder / "config.json").write_text(json.dumps({"seed": seed}))
    main([str(tmp_path / "seed_0"), str(tmp_path / "seed_1")])
    assert "| parzen_ll | 12 ± 2.8 | 10 | 14 |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="cannot read .*seed_9/metrics.json"):
        main([str(tmp_path / "seed_9")])


def test_runs_judged_by_different_classifiers_are_not_averaged(tmp_path, capsys):
    folders = []
    for seed, (judge, accuracy) in enumerate([("aaa111", 0.9921), ("bbb222", 0.9921), ("aaa111", 0.9921)]):
        folder = tmp_path / f"seed_{seed}"
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps(
            {"frechet_distance": 50.0 + seed, "classifier_sha256": judge, "classifier_test_accuracy": accuracy}))
        folders.append(str(folder))
    with pytest.raises(SystemExit, match="judged by different MNIST classifiers .*seed_1: bbb222"):
        main(folders)
    main([folders[0], folders[2]])
    assert "| frechet_distance | 51 ± 1.4 |" in capsys.readouterr().out
    # Older runs name their judge only by its accuracy.
    (tmp_path / "seed_1" / "metrics.json").write_text(json.dumps({"frechet_distance": 10.0, "classifier_test_accuracy": 0.9416}))
    (tmp_path / "seed_2" / "metrics.json").write_text(json.dumps({"frechet_distance": 11.0, "classifier_test_accuracy": 0.9921}))
    with pytest.raises(SystemExit, match="classifier_test_accuracy"):
        main([folders[1], folders[2]])
