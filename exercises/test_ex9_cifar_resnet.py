"""Grader of exercise 9 (the CIFAR ResNets of depth 6n+2): n from the depth, the stages, the
layers and parameter counts against learnres's models and Table 6, and whole networks against
their PyTorch twins with the same weights (float64).

The network tests give your code learnres's own blocks_per_stage and make_stage (9.1, 9.2), so
a bug there costs only their points.
"""

from __future__ import annotations

import pytest

from learnres.grading.checks import describe, fail, grade_block

EXERCISE = "9. CIFAR ResNets"
MODULE = "ex9_cifar_resnet"
STAGES = ("blocks_per_stage", "make_stage")
TABLE_6 = {20: "0.27M", 32: "0.46M", 44: "0.66M", 56: "0.85M", 110: "1.7M", 1202: "19.4M"}


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (ValueError, TypeError) as e:
        return type(e).__name__


# ---- 9.1 n from the depth -----------------------------------------------------------------------


def _depths(rng) -> list:
    """The paper's depths, random valid ones, and invalid ones (wrong form, too small, not
    an int)."""
    n = [int(k) for k in rng.integers(1, 400, 3)]
    return [
        20,
        32,
        44,
        56,
        110,
        1202,
        8,
        *(6 * k + 2 for k in n),
        6 * n[0] + 3,
        6 * n[1] + 5,
        6,
        2,
        0,
        "20",
        20.0,
    ]


def run_blocks_per_stage(module, depths):
    return [_call(module.blocks_per_stage, d) for d in depths]


def _reference_blocks_per_stage(depths):
    from learnres.models import cifar

    return [_call(cifar.blocks_per_stage, d) for d in depths]


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_blocks_per_stage(exercise, rng):
    depths = _depths(rng)
    got = exercise.run(run_blocks_per_stage, depths)
    for depth, mine, expected in zip(
        depths, got, exercise.expect(_reference_blocks_per_stage, depths)
    ):
        if mine != expected:
            what = f"blocks_per_stage({depth!r}) returned {mine!r}"
            if isinstance(expected, str):
                fail(
                    f"{what}: {depth!r} is not a depth 6n + 2 with n >= 1 (an int): raise "
                    "ValueError naming the valid depths"
                )
            fail(
                f"{what}, expected {expected}: a 6n+2 network has one first convolution, "
                "three stages of n blocks of two convolutions each, and the classifier"
            )


# ---- 9.2 a stage --------------------------------------------------------------------------------

STAGE_CASES = [
    ("BasicBlock", 16, 32, 3, 2, {"shortcut": "A"}),
    ("BasicBlock", 16, 16, 2, 1, {"shortcut": "B"}),
    ("PlainBasicBlock", 32, 64, 2, 2, {}),
]


def _describe_stage(stage) -> list[str]:
    out = []
    for block in stage:
        text = (
            f"{type(block).__name__}(in {block.conv1.in_channels}, out "
            f"{block.conv2.out_channels}, stride {block.conv1.stride}"
        )
        shortcut = getattr(block, "shortcut", None)
        if shortcut is not None:
            text += f", shortcut {type(shortcut).__name__}"
        out.append(text + ")")
    return out


def _make_stages(make_stage, cases):
    from learnres.nn import blocks

    return [
        _describe_stage(make_stage(getattr(blocks, cls), i, p, n, s, **kw))
        for cls, i, p, n, s, kw in cases
    ]


def run_make_stage(module, cases):
    return _make_stages(module.make_stage, cases)


def _reference_stages(cases):
    from learnres.models import stages

    return _make_stages(stages.make_stage, cases)


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_make_stage(exercise):
    got = exercise.run(run_make_stage, STAGE_CASES)
    for case, mine, expected in zip(
        STAGE_CASES, got, exercise.expect(_reference_stages, STAGE_CASES)
    ):
        cls, in_planes, planes, n, stride, kwargs = case
        if mine != expected:
            fail(
                f"make_stage({cls}, {in_planes}, {planes}, n={n}, stride={stride}"
                f"{''.join(f', {k}={v!r}' for k, v in kwargs.items())}) made\n  "
                + "\n  ".join(mine if isinstance(mine, list) else [describe(mine)])
                + "\nexpected\n  "
                + "\n  ".join(expected)
                + "\n(only the first block changes the shape: the stride and the new width)"
            )


# ---- 9.3 the network's layers and Table 6 -------------------------------------------------------


def _layers(build, name: str, depth: int) -> dict:
    model = build(name, depth)
    return {
        "params": [(n, tuple(p.shape)) for n, p in model.named_parameters()],
        "buffers": [n for n, _ in model.named_buffers()],
    }


def run_layers(module, name: str, depth: int):
    return _layers(lambda n, d: getattr(module, n)(d), name, depth)


def _reference_layers(name: str, depth: int):
    from learnres.models import cifar

    return _layers(lambda n, d: getattr(cifar, n)(d), name, depth)


@pytest.mark.points(2)
@pytest.mark.timeout(30)
def test_layers(exercise):
    for name in ("resnet", "plain"):
        got = exercise.run(run_layers, name, 20, given=STAGES)
        expected = exercise.expect(_reference_layers, name, 20)
        for key in ("params", "buffers"):
            mine = [tuple(x) if isinstance(x, list) else x for x in got[key]]
            wanted = [tuple(x) if isinstance(x, list) else x for x in expected[key]]
            if mine != wanted:
                k = next(
                    (i for i, (a, b) in enumerate(zip(mine, wanted)) if a != b),
                    min(len(mine), len(wanted)),
                )
                fail(
                    f"{name}(20) has {len(mine)} {key} and expected {len(wanted)}; the first "
                    f"difference is at number {k + 1}: yours "
                    f"{mine[k] if k < len(mine) else 'none'}, expected "
                    f"{wanted[k] if k < len(wanted) else 'none'} (names are the attribute "
                    "paths: assign the layers in the order forward uses them)"
                )


def run_counts(module, depths):
    return [sum(int(p.data.size) for p in module.resnet(d).parameters()) for d in depths]


def _reference_counts(depths):
    from learnres.models import cifar

    return [sum(int(p.data.size) for p in cifar.resnet(d).parameters()) for d in depths]


@pytest.mark.points(2)
@pytest.mark.timeout(60)
def test_table6_parameter_counts(exercise):
    depths = list(TABLE_6)
    got = exercise.run(run_counts, depths, given=STAGES)
    for depth, mine, expected in zip(depths, got, exercise.expect(_reference_counts, depths)):
        if mine != expected:
            fail(
                f"resnet({depth}) has {mine:,} parameters; Table 6 gives ResNet-{depth} "
                f"{TABLE_6[depth]} (learnres's, counted exactly: {expected:,}). Option A "
                "shortcuts have no parameters; every convolution is followed by a BN "
                "(2 parameters per channel) and has no bias; the fc layer has a bias"
            )


# ---- 9.4 forward --------------------------------------------------------------------------------


def _network_diagnoses(twin, x):
    import torch.nn.functional as F

    out = twin.bn1(twin.conv1(x))  # no ReLU
    for stage in (twin.conv2_x, twin.conv3_x, twin.conv4_x):
        out = stage(out)
    no_relu = twin.fc(twin.flatten(twin.avgpool(out)))
    return [
        (
            "the network without the ReLU after bn1: the first convolution is followed by BN "
            "and a ReLU, like every layer",
            no_relu.detach().numpy(),
        ),
        (
            "the logits through a softmax: the network returns logits; the loss applies the "
            "softmax",
            F.softmax(twin(x), dim=1).detach().numpy(),
        ),
    ]


@pytest.mark.points(2)
@pytest.mark.timeout(60)
def test_resnet_forward(exercise, rng):
    grade_block(
        exercise,
        "resnet(8) (n = 1)",
        "resnet",
        (8,),
        {},
        (2, 3, 8, 8),
        rng,
        reference_module="learnres.models.cifar",
        diagnoses=_network_diagnoses,
        hint="relu(bn1(conv1 x)), the three stages, avgpool, flatten, fc",
        given=STAGES,
    )


@pytest.mark.points(1)
@pytest.mark.timeout(60)
def test_plain_forward(exercise, rng):
    grade_block(
        exercise,
        "plain(8) (n = 1)",
        "plain",
        (8,),
        {},
        (2, 3, 8, 8),
        rng,
        reference_module="learnres.models.cifar",
        diagnoses=_network_diagnoses,
        hint="relu(bn1(conv1 x)), the three stages, avgpool, flatten, fc",
        given=STAGES,
    )
