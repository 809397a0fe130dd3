"""learnres.lectures.paper: Fig. 6, Table 6 and Fig. 7 from stored runs."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest

from learnres.lectures import stored_seeds
from learnres.lectures.paper import (
    binomial_se,
    compare,
    error_gap,
    fig6_panel,
    fig7,
    final_error,
    model_label,
    parameters_of,
    table6,
)

matplotlib.use("Agg")


def _store(root, name, train, test, test_images=1017, every=20, eval_every=100):
    """A stored run whose training error is ``train(i)`` and test error ``test(i)``."""
    folder = root / name
    folder.mkdir(parents=True)
    lines = ["iteration,train_error,test_error,elapsed_s"]
    for i in range(every, 401, every):
        t = f"{test(i):.4f}" if i % eval_every == 0 else ""
        lines.append(f"{i},{train(i):.4f},{t},{i * 0.5}")
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    (folder / "config.json").write_text(json.dumps({"test_images": test_images, "device": "cpu"}))
    (folder / "command.txt").write_text(f"learnres train --model {name}\n")


def test_final_error_averages_the_last_training_windows(tmp_path):
    _store(tmp_path, "resnet20-seed0", train=lambda i: i / 10, test=lambda i: 50 - i / 100)
    run = stored_seeds("resnet20", tmp_path)[0]
    # windows logged after iteration 300: 320, 340, ..., 400 -> mean of 32..40
    assert final_error(run, "train_error") == pytest.approx(np.mean([32, 34, 36, 38, 40]))
    assert final_error(run, "test_error") == pytest.approx(46.0)


def test_table6_gives_mean_and_spread_over_seeds(tmp_path):
    for seed, offset in enumerate((0.0, 2.0, 4.0)):
        _store(
            tmp_path,
            f"resnet20-seed{seed}",
            train=lambda i, o=offset: 10 + o,
            test=lambda i, o=offset: 20 + o,
        )
    _store(tmp_path, "plain20-seed0", train=lambda i: 30, test=lambda i: 35)
    rows = table6(["resnet20", "plain20", "resnet56"], root=tmp_path)
    assert [r["model"] for r in rows] == ["resnet20", "plain20"]  # resnet56: none stored
    r20, p20 = rows
    assert r20["seeds"] == [0, 1, 2] and r20["iterations"] == [400]
    assert r20["test"] == pytest.approx((22.0, 2.0)) and r20["train"] == pytest.approx((12.0, 2.0))
    assert r20["paper"] == 8.75 and p20["paper"] is None and p20["test"] == (35.0, 0.0)
    assert r20["params"] == parameters_of("resnet20") == 269_722
    assert r20["hours"] == pytest.approx(3 * 400 * 0.5 / 3600)


def test_error_gap_combines_the_test_set_and_the_seeds(tmp_path):
    """Binomial error alone (one seed each): 2 points apart on 1,017 images is not clear,
    20 points is. With seeds, their spread counts when it exceeds the binomial error."""
    _store(tmp_path, "a-seed0", train=lambda i: 0, test=lambda i: 40)
    _store(tmp_path, "b-seed0", train=lambda i: 0, test=lambda i: 42)
    _store(tmp_path, "c-seed0", train=lambda i: 0, test=lambda i: 60)
    a, b, c = (stored_seeds(x, tmp_path) for x in "abc")
    se_40, se_42 = binomial_se(40, 1017), binomial_se(42, 1017)
    near = error_gap(a, b)
    assert near["gap"] == pytest.approx(2.0) and near["se"] == pytest.approx(np.hypot(se_40, se_42))
    assert not near["clear"] and error_gap(a, c)["clear"]
    for seed, value in enumerate((30, 50)):  # seeds 14 points apart: sd 14.1
        _store(tmp_path, f"d-seed{seed}", train=lambda i: 0, test=lambda i, v=value: v)
    wide = error_gap(stored_seeds("d", tmp_path), c)
    assert wide["gap"] == pytest.approx(20.0)
    assert wide["se"] == pytest.approx(np.sqrt(200.0 / 2 + binomial_se(60, 1017) ** 2))
    assert wide["clear"] == (20.0 > 2 * wide["se"])
    assert binomial_se(50, 100) == pytest.approx(5.0)


def test_fig6_and_fig7_draw_what_they_are_given(tmp_path):
    for seed in (0, 1):
        _store(
            tmp_path,
            f"plain20-seed{seed}",
            train=lambda i, s=seed: 60 - i / 20 + s,
            test=lambda i, s=seed: 62 - i / 20 + s,
        )
    fig = fig6_panel({"plain-20": stored_seeds("plain20", tmp_path)}, "plain nets")
    thin, bold = fig.axes[0].get_lines()
    assert thin.get_linewidth() < bold.get_linewidth()
    np.testing.assert_allclose(bold.get_ydata(), [62 - i / 20 + 0.5 for i in range(100, 401, 100)])
    assert "2 seeds" in bold.get_label()
    std = {"names": ["a", "b", "c"], "std": np.array([1.0, 3.0, 2.0])}
    fig = fig7({"plain-20": [std], "ResNet-20": [dict(std, std=std["std"] / 2)]})
    top, bottom = fig.axes
    np.testing.assert_allclose(top.get_lines()[0].get_ydata(), [1, 3, 2])
    np.testing.assert_allclose(bottom.get_lines()[1].get_ydata(), [1.5, 1.0, 0.5])
    assert model_label("resnet110") == "ResNet-110" and model_label("mlp56") == "MLP-56"


def test_compare_says_what_the_numbers_say(tmp_path):
    _store(tmp_path, "plain20-seed0", train=lambda i: 30, test=lambda i: 40)
    _store(tmp_path, "plain56-seed0", train=lambda i: 45, test=lambda i: 41)
    clear = compare("plain20", "plain56", "train_error", root=tmp_path)
    assert clear.startswith("plain-56 ends with a higher training error than plain-20: 45.0% vs")
    assert "+15.0 points" in clear and "a clear difference" in clear and "one seed" in clear
    unclear = compare("plain20", "plain56", "test_error", root=tmp_path)
    assert "41.0% vs 40.0%" in unclear and "cannot tell the two apart" in unclear
    assert compare("plain20", "resnet56", root=tmp_path) == (
        "No stored run of ResNet-56: nothing to compare."
    )


def test_versus_summary_and_table(tmp_path):
    from learnres.lectures import stored_pairs
    from learnres.lectures.paper import versus_markdown, versus_summary

    folder = tmp_path / "versus"
    for seed, (ours, theirs) in enumerate(((40.0, 42.0), (44.0, 41.0), (45.0, 45.0))):
        for lib, error in (("learnres", ours), ("torch", theirs)):
            _store(folder / f"seed{seed}", lib, train=lambda i: 0, test=lambda i, e=error: e)
    pairs, _ = stored_pairs("versus", tmp_path)
    v = versus_summary(pairs)
    np.testing.assert_allclose(v["gaps"], [2.0, -3.0, 0.0])  # accuracy: learnres - torch
    assert v["mean"] == pytest.approx(-1 / 3) and v["sd"] == pytest.approx(
        np.std([2, -3, 0], ddof=1)
    )
    assert v["se"] == pytest.approx(v["sd"] / np.sqrt(3)) and v["within"]
    assert v["bound"] == pytest.approx(max(2.0, 2 * v["se"]))
    text = versus_markdown(pairs, "ResNet-8")
    assert "| 1 | 56.00% | 59.00% | -3.00 |" in text and "within max(2 points" in text
    assert versus_markdown({}, "x") == ""


def test_early_peak_finds_the_blow_up(tmp_path):
    from learnres.lectures.paper import early_peak

    folder = tmp_path / "r-seed0"
    folder.mkdir()
    rows = [(3, 2.4), (6, 8.5), (9, 5.1), (33, 9.9)]
    (folder / "metrics.csv").write_text(
        "iteration,train_loss\n" + "".join(f"{i},{v}\n" for i, v in rows)
    )
    run = stored_seeds("r", tmp_path)[0]
    assert early_peak(run, 30) == (8.5, 6)
    with pytest.raises(ValueError, match="first 2 iterations"):
        early_peak(run, 2)


def test_warmup_peaks_split_at_the_switch_to_the_full_rate(tmp_path):
    from learnres.lectures.paper import warmup_peaks

    folder = tmp_path / "w-seed0"
    folder.mkdir()
    rows = [(3, 0.01, 2.6), (6, 0.01, 2.5), (9, 0.1, 2.4), (12, 0.1, 9.5), (15, 0.1, 3.0)]
    (folder / "metrics.csv").write_text(
        "iteration,lr,train_loss\n" + "".join(f"{i},{lr},{v}\n" for i, lr, v in rows)
    )
    run = stored_seeds("w", tmp_path)[0]
    assert warmup_peaks(run) == {"switch": 9, "before": (2.6, 3), "after": (9.5, 12)}
    flat = tmp_path / "f-seed0"
    flat.mkdir()
    (flat / "metrics.csv").write_text("iteration,lr,train_loss\n3,0.1,5.0\n6,0.1,8.0\n")
    with pytest.raises(ValueError, match="no warm-up"):
        warmup_peaks(stored_seeds("f", tmp_path)[0])
