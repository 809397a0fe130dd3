"""Planted bugs that prove the graders: each is a patch on an exercise's solution.

A mutant is the reference solution of one exercise with a typical student mistake written
in (text replaced in ``solution_source``). ``tests/grading/test_exercises.py`` grades every
mutant with that exercise's grader alone and checks that

* exactly the tests in ``failing`` fail (so the mutant loses exactly their points), and
* the failure output contains ``message``, a fragment that points at the bug.

    Mutant("mul-no-sum-to", "ex1_autograd", "Mul.backward returns gy * b without sum_to",
           patches=(("sum_to(gy * self.b, self.a.shape)", "gy * self.b"), ...),
           failing=("test_mul_backward_broadcast",), message="sum_to(g, a.shape)")
"""

from __future__ import annotations

from dataclasses import dataclass

from learnres.grading.exercises import exercise, solution_source

__all__ = ["MUTANTS", "Mutant", "mutant_source"]


@dataclass(frozen=True)
class Mutant:
    """One planted bug.

    Attributes:
        name: a short id ("bn-backward-no-mean").
        slug: the exercise it is planted in ("ex3_batchnorm").
        bug: what the student got wrong, in words.
        patches: (old, new) replacements on the solution; each ``old`` occurs exactly once.
        failing: the grader's test names (function names) that must fail.
        message: a fragment the failure output must contain.
    """

    name: str
    slug: str
    bug: str
    patches: tuple[tuple[str, str], ...]
    failing: tuple[str, ...]
    message: str


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "sum-to-forgets-keepdims",
        "ex1_autograd",
        "sum_to sums without keepdims=True and returns that, dropping the size-1 axes",
        (
            (
                "    g = g.sum(axis=tuple(range(lead)) + stretched, keepdims=True)\n"
                "    return g.reshape(shape)  # (1, ..., 1, *shape) -> shape",
                "    return g.sum(axis=tuple(range(lead)) + stretched)",
            ),
        ),
        ("test_sum_to_size_one_axes",),
        "keepdims=True",
    ),
    Mutant(
        "mul-no-sum-to",
        "ex1_autograd",
        "Mul.backward returns gy * b and gy * a without summing over broadcast axes",
        (
            ("ga = sum_to(gy * self.b, self.a.shape)", "ga = (gy * self.b)"),
            ("gb = sum_to(gy * self.a, self.b.shape)", "gb = (gy * self.a)"),
        ),
        ("test_mul_backward_broadcast",),
        "summed over the broadcast axes (sum_to(g, b.shape))",
    ),
    Mutant(
        "matmul-no-transpose",
        "ex1_autograd",
        "MatMul.backward multiplies gy by b instead of b^T",
        (
            (
                "sum_to(gy @ self.b.swapaxes(-1, -2), self.a.shape)",
                "sum_to(gy @ self.b, self.a.shape)",
            ),
        ),
        ("test_matmul_backward", "test_matmul_backward_batched"),
        "gy @ b, missing the transpose of b",
    ),
    Mutant(
        "relu-times-output",
        "ex1_autograd",
        "ReLU.backward multiplies gy by the output y instead of the mask y > 0",
        (("return (gy * (self.y > 0),)", "return (gy * self.y,)"),),
        ("test_relu_backward", "test_relu_backward_at_zero"),
        "gy * y (the output)",
    ),
    Mutant(
        "topological-preorder",
        "ex1_autograd",
        "topological_order lists a tensor when it is first reached (pre-order), which can "
        "visit a tensor before all the tensors that use it",
        (
            (
                "        visited.add(id(tensor))\n        stack.append((tensor, True))",
                "        visited.add(id(tensor))\n        order.append(tensor)",
            ),
            ("    order.reverse()\n", ""),
        ),
        ("test_topological_order_shared_tensor", "test_backward_with_your_order"),
        "which uses it",
    ),
    Mutant(
        "conv-unflipped-kernel",
        "ex2_conv",
        "the stride-1 input gradient convolves gy with the kernel not flipped",
        (("w_t = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)", "w_t = w.transpose(1, 0, 2, 3)"),),
        ("test_grads_stride_1",),
        "the kernel NOT flipped",
    ),
    Mutant(
        "im2col-ignores-stride",
        "ex2_conv",
        "im2col steps the windows by one pixel whatever the stride",
        (("(sN, sC, sH, sW, sH * sh, sW * sw)", "(sN, sC, sH, sW, sH, sW)"),),
        ("test_im2col_strided",),
        "the windows stepped by 1 pixel, not by the stride",
    ),
    Mutant(
        "col2im-overwrites",
        "ex2_conv",
        "col2im assigns each window's gradient instead of adding it, losing overlaps",
        (
            (
                "gx_pad[:, :, rows, cols] += gcols[:, :, u, v]",
                "gx_pad[:, :, rows, cols] = gcols[:, :, u, v]",
            ),
        ),
        ("test_grad_input_strided",),
        "overwriting each other",
    ),
    Mutant(
        "bn-backward-no-mean",
        "ex3_batchnorm",
        "BatchNorm.backward in training mode leaves out the -mean(g) term (the path through mu)",
        (("gx = g - _per_channel(g_sum / m)", "gx = g - 0 * _per_channel(g_sum / m)"),),
        ("test_backward_train",),
        "without the mean term",
    ),
    Mutant(
        "bn-running-var-biased",
        "ex3_batchnorm",
        "_update_running moves running_var toward the biased batch variance",
        (("self.running_var += (mom * m / (m - 1)) * var", "self.running_var += mom * var"),),
        ("test_running_statistics",),
        "unbiased batch variance",
    ),
    Mutant(
        "bn-eval-backward-training-formula",
        "ex3_batchnorm",
        "BatchNorm.backward uses the training formula in evaluation mode too",
        (
            (
                "if self.needs_input_grad[0] and self.training:",
                "if self.needs_input_grad[0]:",
            ),
        ),
        ("test_backward_eval",),
        "in evaluation mode mu and sigma are constants",
    ),
    Mutant(
        "block-drops-identity",
        "ex4_residual",
        "BasicBlock.forward returns relu(F(x)): the shortcut is left out",
        (
            (
                "        out = self.bn2(self.conv2(out))\n"
                "        return relu(out + self.shortcut(x))",
                "        out = self.bn2(self.conv2(out))\n        return relu(out)",
            ),
        ),
        ("test_basic_block_identity", "test_basic_block_option_a", "test_basic_block_option_b"),
        "the shortcut is missing",
    ),
    Mutant(
        "option-a-zeros-first",
        "ex4_residual",
        "option A puts the zero channels before the input's channels",
        (
            (
                "return pad(out, ((0, 0), (0, extra), (0, 0), (0, 0)))",
                "return pad(out, ((0, 0), (extra, 0), (0, 0), (0, 0)))",
            ),
        ),
        ("test_option_a_values", "test_option_a_gradient"),
        "the zero channels put BEFORE the input's",
    ),
    Mutant(
        "option-b-projects-everywhere",
        "ex4_residual",
        "make_shortcut gives option B a projection even where the shape is kept (option C)",
        (('    if option == "C":\n', '    if option in ("B", "C"):\n'),),
        ("test_make_shortcut",),
        "options A and B use the identity only where the shape is kept",
    ),
    Mutant(
        "make-shortcut-ignores-stride",
        "ex4_residual",
        "make_shortcut keeps the identity whenever the channel counts match, ignoring the stride",
        (
            (
                "    same_shape = stride == 1 and in_planes == out_planes",
                "    same_shape = in_planes == out_planes",
            ),
        ),
        ("test_make_shortcut",),
        "the same channels, but the stride halves H and W",
    ),
    Mutant(
        "shortcut-added-before-bn2",
        "ex4_residual",
        "BasicBlock.forward adds the shortcut to conv2's output, before bn2",
        (
            (
                "        out = self.bn2(self.conv2(out))\n"
                "        return relu(out + self.shortcut(x))",
                "        out = self.bn2(self.conv2(out) + self.shortcut(x))\n"
                "        return relu(out)",
            ),
        ),
        ("test_basic_block_identity", "test_basic_block_option_a", "test_basic_block_option_b"),
        "the shortcut is added before bn2",
    ),
    Mutant(
        "bottleneck-ignores-stride-in-1x1",
        "ex5_bottleneck",
        "Bottleneck puts the stride on the first 1x1 whatever stride_in_1x1 says",
        (
            (
                "        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)\n"
                "        self.conv1",
                "        stride_1x1, stride_3x3 = (stride, 1)\n        self.conv1",
            ),
        ),
        ("test_bottleneck_stride_in_3x3",),
        "on conv2 (the 3x3) when it is False",
    ),
    Mutant(
        "bottleneck-no-relu-after-bn2",
        "ex5_bottleneck",
        "Bottleneck.forward leaves out the ReLU after bn2",
        (("out = relu(self.bn2(self.conv2(out)))", "out = self.bn2(self.conv2(out))"),),
        ("test_bottleneck_identity", "test_bottleneck_projection", "test_bottleneck_stride_in_3x3"),
        "without the ReLU after bn2",
    ),
    Mutant(
        "mult-adds-3x3-before-stride",
        "ex5_bottleneck",
        "bottleneck_mult_adds counts the 3x3 and the last 1x1 at the input size, "
        "ignoring the stride",
        (
            (
                "    h2, w2 = conv_output_size(h1, 3, stride_3x3, 1), "
                "conv_output_size(w1, 3, stride_3x3, 1)",
                "    h2, w2 = conv_output_size(h1, 3, 1, 1), conv_output_size(w1, 3, 1, 1)",
            ),
        ),
        ("test_bottleneck_mult_adds_strided",),
        "Count each convolution at its own output size",
    ),
    Mutant(
        "sgd-momentum-before-weight-decay",
        "ex6_sgd",
        "SGD._update builds the momentum buffer from the bare gradient and adds weight decay "
        "afterwards",
        (
            (
                "        if wd != 0:\n"
                "            d_p = d_p + wd * p.data  # a new array: p.grad is left as backward "
                "wrote it\n",
                "",
            ),
            (
                '            d_p = d_p + mu * buf if group["nesterov"] else buf\n',
                '            d_p = d_p + mu * buf if group["nesterov"] else buf\n'
                "        if wd != 0:\n            d_p = d_p + wd * p.data\n",
            ),
        ),
        ("test_sgd_momentum_and_weight_decay",),
        "momentum applied before weight decay",
    ),
    Mutant(
        "sgd-weight-decay-into-grad",
        "ex6_sgd",
        "SGD._update adds weight decay with d_p += ..., writing into p.grad",
        (("d_p = d_p + wd * p.data  # a new array", "d_p += wd * p.data  # a new array"),),
        ("test_sgd_in_place",),
        "changed p.grad",
    ),
    Mutant(
        "schedule-off-by-one",
        "ex6_sgd",
        "StepSchedule.lr counts the milestones < iteration, so the rate changes one step late",
        (
            (
                "sum(1 for m in self.milestones if iteration >= m)",
                "sum(1 for m in self.milestones if iteration > m)",
            ),
        ),
        ("test_step_schedule_paper", "test_step_schedule_custom"),
        "the rate changes AT a milestone",
    ),  # ---- 7. cross-entropy and the training step ----
    Mutant(
        "log-softmax-overflows",
        "ex7_training",
        "_log_softmax exponentiates the raw logits (no max subtracted), which overflows",
        (
            (
                "    shifted = x - x.max(axis=axis, keepdims=True)\n"
                "    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))",
                "    return xp.log(xp.exp(x) / xp.exp(x).sum(axis=axis, keepdims=True))",
            ),
        ),
        ("test_log_softmax",),
        "exp overflowed",
    ),
    Mutant(
        "cross-entropy-sum",
        "ex7_training",
        "CrossEntropy.forward sums the batch's losses instead of averaging them",
        (("[xp.arange(n), self.target].mean()", "[xp.arange(n), self.target].sum()"),),
        ("test_cross_entropy_forward", "test_cross_entropy_backward"),
        "the SUM over the batch",
    ),
    Mutant(
        "cross-entropy-backward-no-mean",
        "ex7_training",
        "CrossEntropy.backward forgets the 1/N of the mean",
        (("return (gx * (gy / n),)", "return (gx * gy,)"),),
        ("test_cross_entropy_backward",),
        "without the 1/N",
    ),
    Mutant(
        "train-step-zero-grad-after-backward",
        "ex7_training",
        "train_step calls zero_grad between backward and step",
        (
            (
                "    optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()",
                "    loss.backward()\n    optimizer.zero_grad()\n    optimizer.step()",
            ),
        ),
        ("test_train_step", "test_train_step_from_evaluation_mode"),
        "weights that never moved",
    ),
    Mutant(
        "train-step-no-train-mode",
        "ex7_training",
        "train_step trains the model in whatever mode it arrives in",
        (("    model.train()\n    logits = model(", "    logits = model("),),
        ("test_train_step_from_evaluation_mode",),
        "left in evaluation mode",
    ),
    Mutant(
        "evaluate-in-training-mode",
        "ex7_training",
        "evaluate runs the model in training mode (batch statistics)",
        (
            (
                "    was_training = model.training\n    model.eval()\n",
                "    was_training = model.training\n",
            ),
        ),
        ("test_evaluate",),
        "in TRAINING mode",
    ),
    Mutant(
        "evaluate-builds-graph",
        "ex7_training",
        "evaluate runs the model with gradients enabled",
        (
            (
                "        with no_grad():\n            for images, labels in loader:",
                "        if True:\n            for images, labels in loader:",
            ),
        ),
        ("test_evaluate_builds_no_graph",),
        "with gradients enabled",
    ),
    # ---- 8. He initialisation ----
    Mutant(
        "fans-swapped",
        "ex8_init",
        "calculate_fan_in_and_fan_out returns (fan_out, fan_in)",
        (
            (
                "return shape[1] * receptive_field, shape[0] * receptive_field",
                "return shape[0] * receptive_field, shape[1] * receptive_field",
            ),
        ),
        ("test_fan_in_and_fan_out",),
        "fan_in counts the inputs behind ONE output value",
    ),
    Mutant(
        "relu-gain-one",
        "ex8_init",
        "calculate_gain gives the ReLU a gain of 1",
        (("        return math.sqrt(2.0)\n", "        return 1.0\n"),),
        ("test_gain",),
        "A ReLU zeroes half of a symmetric signal",
    ),
    Mutant(
        "kaiming-std-without-sqrt",
        "ex8_init",
        "kaiming_normal_ takes gain / fan as the standard deviation",
        (
            (
                "std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))",
                "std = calculate_gain(nonlinearity, a) / _fan(tensor, mode)",
            ),
        ),
        ("test_kaiming_normal", "test_variance_stays_flat_through_a_deep_plain_stack"),
        "gain / fan, not gain / sqrt(fan)",
    ),
    Mutant(
        "kaiming-uniform-bound-is-std",
        "ex8_init",
        "kaiming_uniform_ uses the standard deviation as the bound",
        (("math.sqrt(3.0 / _fan(tensor, mode))", "math.sqrt(1.0 / _fan(tensor, mode))"),),
        ("test_kaiming_uniform",),
        "U(-b, b) has variance b^2 / 3",
    ),
    # ---- 9. CIFAR ResNets ----
    Mutant(
        "blocks-per-stage-thirds",
        "ex9_cifar_resnet",
        "blocks_per_stage divides by 3 (forgetting that a block has two layers)",
        (("    return (depth - 2) // weighted_per_block_row", "    return (depth - 2) // 3"),),
        ("test_blocks_per_stage",),
        "three stages of n blocks of two convolutions",
    ),
    Mutant(
        "stage-stride-everywhere",
        "ex9_cifar_resnet",
        "make_stage gives every block of a stage the stage's stride",
        (
            (
                "stage.append(block(in_planes, planes, stride if i == 0 else 1, **options))",
                "stage.append(block(in_planes, planes, stride, **options))",
            ),
        ),
        ("test_make_stage",),
        "only the first block changes the shape",
    ),
    Mutant(
        "stages-never-halve",
        "ex9_cifar_resnet",
        "CifarResNet.__init__ builds every stage with stride 1",
        (("            stride = 1 if index == 0 else 2", "            stride = 1"),),
        ("test_resnet_forward", "test_plain_forward"),
        ": the output is wrong",
    ),
    Mutant(
        "no-relu-after-bn1",
        "ex9_cifar_resnet",
        "CifarResNet.forward leaves out the ReLU after bn1",
        (
            (
                "out = relu(self.bn1(self.conv1(x)))  # (N, 16, 32, 32)",
                "out = self.bn1(self.conv1(x))  # (N, 16, 32, 32)",
            ),
        ),
        ("test_resnet_forward", "test_plain_forward"),
        "without the ReLU after bn1",
    ),
    # ---- 10. the gradient check ----
    Mutant(
        "one-sided-difference",
        "ex10_gradcheck",
        "numerical_gradient takes a one-sided difference",
        (
            (
                "        values[i][idx] -= 2 * eps\n"
                "        down = float(np.sum(g * f(*values)))\n"
                "        numeric[idx] = (up - down) / (2 * eps)",
                "        values[i][idx] -= eps\n"
                "        down = float(np.sum(g * f(*values)))\n"
                "        numeric[idx] = (up - down) / eps",
            ),
        ),
        ("test_numerical_gradient",),
        "the one-sided difference",
    ),
    Mutant(
        "upstream-gradient-of-ones",
        "ex10_gradcheck",
        "gradcheck checks sum(f(x)): an upstream gradient of ones",
        (
            (
                "g = np.random.default_rng(seed).standard_normal(y.shape)",
                "g = np.ones(y.shape)",
            ),
        ),
        ("test_gradcheck_catches_wrong_backwards", "test_gradcheck_report"),
        "passed a planted wrong backward",
    ),
    Mutant(
        "compare-without-scale",
        "ex10_gradcheck",
        "_compare ignores rtol: an entry passes only within atol",
        (("ok=abs_error <= atol + rtol * scale,", "ok=abs_error <= atol,"),),
        ("test_compare",),
        "atol + rtol * scale",
    ),
    # ---- 11. the degradation study ----
    Mutant(
        "curve-new-generator-each-step",
        "ex11_degradation",
        "train_curve makes a new generator at every step (the same batch every time)",
        (
            (
                "    rng = np.random.default_rng(seed)\n    losses = np.zeros(steps)\n"
                "    for k in range(steps):\n",
                "    losses = np.zeros(steps)\n    for k in range(steps):\n"
                "        rng = np.random.default_rng(seed)\n",
            ),
        ),
        ("test_train_curve",),
        "the same batch at every step",
    ),
    Mutant(
        "study-seeded-once",
        "ex11_degradation",
        "degradation_study seeds once for all four models",
        (
            (
                "    curves = {}\n    for residual in (False, True):\n"
                "        for depth in depths:\n            init.manual_seed(seed)\n",
                "    curves = {}\n    init.manual_seed(seed)\n    for residual in (False, True):\n"
                "        for depth in depths:\n",
            ),
        ),
        ("test_degradation_study", "test_the_study"),
        "without seeding right before it",
    ),
    Mutant(
        "summarize-last-step-only",
        "ex11_degradation",
        "summarize takes each curve's last loss instead of the mean of its last steps",
        (
            (
                "final = {name: float(np.mean(curve[-last:])) for",
                "final = {name: float(curve[-1]) for",
            ),
        ),
        ("test_summarize", "test_the_study"),
        "the mean of its last 20 steps",
    ),
)


def mutant_source(mutant: Mutant) -> str:
    """The solution of ``mutant.slug`` with the mutant's patches applied.

    Raises:
        ValueError: if a patch's old text does not occur exactly once (the reference changed:
            update the mutant).
    """
    text = solution_source(exercise(mutant.slug).slug)
    for old, new in mutant.patches:
        count = text.count(old)
        if count != 1:
            raise ValueError(
                f"mutant {mutant.name}: the text to replace occurs {count} times in the "
                f"solution of {mutant.slug} (expected once): {old!r:.120}"
            )
        text = text.replace(old, new)
    return text
