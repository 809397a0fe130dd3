"""Every chapter runs top to bottom in quick mode (LEARNRES_QUICK=1) in a fresh kernel, as a
student would run it; a failing cell fails the test with the cell and its traceback.

Each chapter must also leave the figures it promises (in a temporary folder), say when a
stored run is absent, and draw the stored-run figures when runs are there (checked on
chapter 6 with a real, tiny run made by ``learnres train``'s code).

Time (2 shared CPU cores): about 3 minutes for all six; see the report of the chapters'
issue for the per-chapter figures. Cells may take at most ``CELL_TIMEOUT`` seconds.
"""

from __future__ import annotations

import pytest

from learnres.lectures import data_dir
from learnres.lectures.build import chapter_paths, execute_chapter

CELL_TIMEOUT = 600

FIGURES = {
    "01_autograd": ["01_graph.png", "01_finite_differences.png"],
    "02_conv_batchnorm": ["02_im2col.png", "02_conv_speed.png"],
    "03_degradation": [
        "03_plain_fresh.png",
        "03_mlp_fresh.png",
        "03_signal_stats.png",
        "03_gradient_profile.png",
    ],
    "04_residual_learning": [
        "04_shortcut_options.png",
        "04_fig6_plain_fresh.png",
        "04_fig6_resnet_fresh.png",
        "04_fig7_responses.png",
        "04_zero_init.png",
    ],
    "05_bottlenecks": ["05_table1.png", "05_fig3.png"],
    "06_gpu_training": [
        "06_schedule.png",
        "06_learning_rate.png",
        "06_step_time.png",
        "06_ddp_fresh.png",
    ],
}


def _outputs(nb) -> str:
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text.append(out.get("text", ""))
            text.append(str(out.get("data", {}).get("text/markdown", "")))
    return "\n".join(text)


def _needs_data(path) -> bool:
    return "load_cifar10" in path.read_text()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", chapter_paths(), ids=lambda p: p.stem)
def test_chapter_runs_in_quick_mode(path, lecture_env):
    if _needs_data(path) and data_dir() is None:
        pytest.skip("needs the CIFAR-10 subset (../shared/datasets or LEARNRES_DATA_DIR)")
    run = execute_chapter(path, quick=True, timeout=CELL_TIMEOUT)
    errors = [
        o
        for c in run.notebook.cells
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    written = sorted(p.name for p in lecture_env["figures"].glob("*.png"))
    assert set(FIGURES[path.stem]) <= set(written), written
    assert not any("stored" in name for name in written)  # no stored runs in this test
    if path.stem in ("03_degradation", "04_residual_learning", "06_gpu_training"):
        assert "not found in" in _outputs(run.notebook)  # the reader is told runs are absent
    widget_state = run.notebook.metadata.get("widgets", {})
    assert widget_state, (
        "every chapter has a widget (a slider or a progress bar); its state is saved"
    )


@pytest.mark.timeout(600)
def test_stored_runs_are_drawn_when_present(lecture_env, shared_datasets, monkeypatch):
    """Chapter 6 with one real stored run and one real learnres-vs-torch pair: their figures
    are drawn from them and labelled with their commands, and the runs still absent are
    named."""
    from learnres.reference.versus_torch import compare_on_dataset
    from learnres.train.run import TrainConfig, train

    monkeypatch.setenv("LEARNRES_DATA_DIR", str(shared_datasets))
    from learnres.lectures.store import store_run

    out = lecture_env["runs"].parent / "resnet20-seed0"
    train(
        TrainConfig(
            model="resnet20",
            data_dir=str(shared_datasets),
            subset=32,
            iterations=2,
            batch_size=8,
            eval_every=2,
            log_every=1,
            eval_batch_size=128,
            out=str(out),
            progress=False,
            plot=False,
            prefetch=False,
        )
    )
    stored = store_run(out, dest=lecture_env["runs"])
    command = (stored / "command.txt").read_text().splitlines()[0]
    versus = lecture_env["runs"] / "versus-torch-resnet20"
    compare_on_dataset(
        TrainConfig(
            model="resnet8",
            data_dir=str(shared_datasets),
            subset=32,
            iterations=2,
            batch_size=8,
            eval_every=2,
            log_every=1,
            eval_batch_size=128,
            out=str(versus / "seed4"),
            progress=False,
            plot=False,
            prefetch=False,
        ),
        progress=False,
    )
    versus_command = "python -m learnres.reference.versus_torch --model resnet8 --seeds 4"
    (versus / "command.txt").write_text(versus_command + "\n")
    run = execute_chapter(chapter_paths(["06"])[0], quick=True, timeout=CELL_TIMEOUT)
    errors = [
        o
        for c in run.notebook.cells
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    written = {p.name for p in lecture_env["figures"].glob("*.png")}
    assert {
        "06_table6_stored.png",
        "06_table6_curves_stored.png",
        "06_versus_torch_resnet20_stored.png",
    } <= written
    text = _outputs(run.notebook)
    assert "--out runs/resnet20-seed0" in command
    assert (
        "made by: resnet20-seed{0} (CPU): "
        + command.replace("seed0", "seed{0}").replace("--seed 0", "--seed {0}")
        in text
    )
    assert "| ResNet-20 | 20 | 269,722 | 2 | 1 |" in text  # the Table 6 row of the stored run
    assert "What these runs are, and what they cannot show" in text
    assert "One seed only: no spread can be measured" in text and versus_command in text
    assert "Absent stored runs:** resnet32, resnet44, resnet56, resnet110, resnet1202" in text
