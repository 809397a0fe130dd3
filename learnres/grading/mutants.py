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
        ("test_grad_input_stride_1",),
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
        "options A and B use the identity where the shape is kept",
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
