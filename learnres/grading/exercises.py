"""The graded exercises: what each one copies from learnres and what the student writes.

Each ``Exercise`` names the reference code it is made of (``Unit``: a function or class of
learnres) and the parts a student writes (``Part``: a function or method whose body becomes
a stub), with the shapes, formulas and hints that go into the stub's docstring. The files in
``exercises/`` are generated from this spec, the graders ``exercises/test_*.py`` are written
by hand, and ``pytest exercises/ --reference`` grades the same files with the bodies left in.

    python -m learnres.grading.exercises              # write the stubs into ./exercises
    python -m learnres.grading.exercises --check      # exit 1 if ./exercises is out of date
    python -m learnres.grading.exercises --solutions DIR   # write the solved files (instructors)

``tests/grading/test_exercises.py`` fails when ``exercises/`` differs from what this
generates, so a change to learnres's reference code shows up in the stubs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from learnres.grading.generate import Exercise, Part, Unit, load_module, render, stub_message
from learnres.grading.texts import PART_TEXTS

__all__ = [
    "EXERCISES",
    "check_exercises",
    "exercise",
    "main",
    "solution_module",
    "solution_source",
    "spec_document",
    "spec_text",
    "stub_message",
    "stub_source",
    "write_exercises",
]

_AUTOGRAD = Exercise(
    number=1,
    slug="ex1_autograd",
    title="Autograd",
    intro="""
    A define-by-run engine records, for every result, the Function that made it. Backward
    walks that graph from the loss to the leaves and calls each Function's ``backward(gy)``,
    which turns gy = dL/d(output) into dL/d(input) for each input. Here you write four of
    those backward methods (their forward is given) and the order of the walk.

    Conventions: forward and backward take and return plain NumPy arrays; backward returns
    a tuple with one gradient per input, each shaped exactly like its input.
    """,
    units=(
        Unit("learnres.functions.elementwise", "sum_to"),
        Unit("learnres.functions.elementwise", "Mul"),
        Unit("learnres.functions.matmul", "MatMul"),
        Unit("learnres.functions.elementwise", "ReLU"),
        Unit("learnres.autograd.graph", "topological_order"),
    ),
    parts=(
        Part(
            "1.1",
            "sum_to",
            "the broadcasting sum: a gradient back to its input's shape",
            """
            Shapes: g has the broadcast shape, e.g. (2, 3, 4); ``shape`` is the shape an input
            had before it was broadcast, e.g. (3, 1) or (4,). The result has exactly ``shape``.

            Why a sum: broadcasting used each entry of the input many times (once for every
            position along the axes it was copied along), and a value used many times gets
            the sum of the gradients of its uses. Work out which axes of g are copies: the
            ones broadcasting added in front, and the ones along which the input was
            stretched from size 1. Example: g (2, 3, 4) to shape (3, 1) sums two axes.
            Return g itself when the shapes already agree.
            """,
        ),
        Part(
            "1.2",
            "Mul.backward",
            "the gradients of y = a * b",
            """
            Arguments: gy = dL/dy, shaped like y (the broadcast shape of a and b).
            Returns: (dL/da, dL/db), shaped like ``self.a`` and like ``self.b``.

            Derive it with the chain rule: which entries of y does a[k] change, and by how
            much per unit of a[k]? A product's derivative in one factor is the other factor.
            If an input was broadcast (a (4,) times b (3, 4)), its gradient comes out with
            the broadcast shape: ``sum_to`` (1.1) brings it back.
            ``self.needs_input_grad[i]`` says whether input i needs its gradient; return
            None in its place when it does not.
            """,
        ),
        Part(
            "1.3",
            "MatMul.backward",
            "the gradients of y = a @ b",
            """
            Shapes: a (..., n, k), b (..., k, m), gy = dL/dy (..., n, m).
            Returns: (dL/da, dL/db), shaped like a (..., n, k) and like b (..., k, m).

            Derive it from y[i, j] = sum over k of a[i, k] * b[k, j]: which y does a[i, k]
            reach, and with which factor? Sum gy times those factors and you will find a
            matrix product of gy with one operand (transposed: ``x.swapaxes(-1, -2)``). The
            shapes check your answer: dL/da must come out (n, k).
            With batch axes an operand may have been broadcast (b (k, m) against
            a (5, n, k)): ``sum_to`` each result to its input's shape, as in Mul.
            """,
        ),
        Part(
            "1.4",
            "ReLU.backward",
            "the gradient of y = max(x, 0)",
            """
            Shapes: gy and the gradient are shaped like x.
            Derive it: what is the slope of max(x, 0) left and right of 0? At x = 0 itself
            the slope is undefined; take 0 there, as PyTorch does. Forward saved only
            ``self.y = max(x, 0)``: what does y tell you about the sign of x?
            Return a tuple with one array: ``(gx,)``.
            """,
        ),
        Part(
            "1.5",
            "topological_order",
            "the order in which backward visits the graph",
            """
            The graph: ``tensor.creator`` is the Function that made a tensor (None for a
            leaf) and ``tensor.creator.inputs`` the tensors it was applied to. Leave out
            inputs with ``requires_grad=False``; list each tensor once, however many ops use
            it. Backward needs every contribution to a tensor's gradient (one from each op
            that used it) before it passes that gradient on to the tensor's inputs: so in
            the order you return, where must a tensor stand relative to the tensors that use
            it? Draw a graph in which one tensor is used twice and check your order on it.
            No recursion: a chain of 5,000 ops must work, and Python stops at about 1,000
            nested calls. Remember visited tensors by ``id(tensor)``.
            """,
        ),
    ),
)

_CONV = Exercise(
    number=2,
    slug="ex2_conv",
    title="Convolution by im2col",
    intro="""
    A convolution is a matrix product in disguise: im2col lays every kh x kw window of the
    (padded) input out as a column, and ``w.reshape(O, C*kh*kw) @ cols`` is the output.
    Backward reuses the trick: dL/dw is ``gy @ cols^T``, and dL/dx puts ``w^T @ gy`` back
    where each column came from (col2im), which for stride 1 is itself a convolution of gy
    with the flipped kernel, whose columns give dL/dw too. You write the five steps, each on
    the whole batch at once; the class ``Conv2d`` below puts them together and is given.
    (learnres's layers run this same code on a few images at a time in threads:
    ``learnres.parallel``; the math is this.)

    Layout: NCHW; x (N, C, H, W), w (O, C, kh, kw), y (N, O, Ho, Wo) with
    Ho = (H + 2*padding - kh) // stride + 1, and
    y[n, o, i, j] = b[o] + sum over c, u, v of w[o, c, u, v] * x_pad[n, c, s*i + u, s*j + v].
    """,
    units=(
        Unit("learnres.functions.conv", "_pair"),
        Unit("learnres.functions.conv", "_check_conv"),
        Unit("learnres.functions.conv", "_pad"),
        Unit("learnres.functions.conv", "_im2col"),
        Unit("learnres.functions.conv", "_column_shifts"),
        Unit("learnres.functions.conv", "_correlate"),
        Unit("learnres.functions.conv", "_grad_weight"),
        Unit("learnres.functions.conv", "_grads_transposed"),
        Unit("learnres.functions.conv", "_grad_input_col2im"),
        Unit("learnres.functions.conv", "Conv2d"),
        Unit("learnres.functions.conv", "conv2d"),
    ),
    parts=(
        Part(
            "2.1",
            "_im2col",
            "the windows of the input as columns",
            """
            Shapes: x (N, C, H, W); a kh x kw kernel; strides sh, sw; padding ph, pw (0 if
            not given). Returns: cols (N, C*kh*kw, Ho*Wo), Ho = (H + 2*ph - kh) // sh + 1
            (likewise Wo), with x_pad = _pad(x, ph, pw) (Hp = H + 2*ph rows) and
                cols[n, (c, u, v), (i, j)] = x_pad[n, c, sh*i + u, sw*j + v]
            where (c, u, v) and (i, j) are flattened in C order (c slowest): the layout of
            torch.nn.functional.unfold, and the one ``w.reshape(O, C*kh*kw)`` expects.
            Hints: pad first (``_pad``, given above). A loop over the kh*kw offsets (u, v)
            is fine: each offset takes the strided slice
            x_pad[:, :, u : u + sh*(Ho - 1) + 1 : sh, v : ... : sw], an (N, C, Ho, Wo)
            array. Without loops: a view made with ``as_strided`` (imported above: the view
            ``xp.lib.stride_tricks.as_strided`` makes, built in C), then one copy.
            """,
        ),
        Part(
            "2.2",
            "_correlate",
            "the convolution: pad, im2col and one matrix product",
            """
            Shapes: x (N, C, H, W), w (O, C, kh, kw); stride and padding are (h, w) pairs.
            Returns y (N, O, Ho, Wo), the convolution without the bias.
            Formula: y_n = w2 @ cols_n for every image n, with w2 = w.reshape(O, C*kh*kw):
            (O, C*kh*kw) @ (C*kh*kw, Ho*Wo) is (O, Ho*Wo), then reshaped to (O, Ho, Wo).
            Hints: ``_im2col`` with the padding; ``@`` (``xp.matmul``) broadcasts w2 over the
            batch axis of cols, so one product does every image.
            """,
        ),
        Part(
            "2.3",
            "_grad_weight",
            "dL/dw, the gradient of the weight",
            """
            Shapes: x (N, C, H, W), gy = dL/dy (N, O, Ho, Wo); returns dL/dw as
            (O, C*kh*kw) (Conv2d.backward reshapes it to (O, C, kh, kw)).
            Formula: y_n = w2 @ cols_n, so dL/dw2 = sum over n of gy_n @ cols_n^T, with gy_n
            viewed as (O, Ho*Wo) and cols_n (C*kh*kw, Ho*Wo) the im2col of the padded x_n.
            """,
        ),
        Part(
            "2.4",
            "_grads_transposed",
            "dL/dx and dL/dw for stride 1, from the columns of gy",
            """
            Shapes: gy = dL/dy (N, O, Ho, Wo), x (N, C, H, W), w (O, C, kh, kw); padding
            (ph, pw); the stride is 1 here. Returns (dL/dx (N, C, H, W), dL/dw as
            (O, C*kh*kw), the layout of 2.3).
            Each x[c, h, w] meets w[o, c, u, v] in the output at (h + p - u, w + p - v), so
            dL/dx is a stride-1 convolution of gy, zero-padded by kh - 1 - p (and
            kw - 1 - p), with the kernel flipped in both spatial axes and its channels
            swapped: ``w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)``, (C, O, kh, kw). The
            columns of that padded gy, (N, O*kh*kw, H*W), give dL/dw as well: one product
            with x instead of a second im2col.
            Hints: ``_im2col`` of gy with that padding, then one product for each gradient. (When
            the padding exceeds kernel - 1 the border outputs never saw x: crop gy.)
            """,
        ),
        Part(
            "2.5",
            "_grad_input_col2im",
            "dL/dx for any stride, by col2im",
            """
            Shapes: as in 2.4, with strides (sh, sw) and x_shape = (N, C, H, W); returns
            dL/dx (N, C, H, W).
            The columns' gradient is dL/dcols_n = w2^T @ gy_n, (C*kh*kw, O) @ (O, Ho*Wo).
            Entry (c, u, v), (i, j) of it came from x_pad[n, c, sh*i + u, sw*j + v]: add it
            back there (col2im, the reverse of im2col: a pixel in several windows collects
            several contributions, so +=), then cut the padding off.
            Hint: loop over the offsets (u, v) and add the (N, C, Ho, Wo) slab of the
            column gradient into the strided slice x_pad[:, :, u : u + sh*(Ho - 1) + 1 : sh,
            v : ... : sw]. Rows that no window reached get 0.
            """,
        ),
    ),
)

_BATCHNORM = Exercise(
    number=3,
    slug="ex3_batchnorm",
    title="Batch normalization",
    intro="""
    Batch normalization (Ioffe & Szegedy, 2015) normalises each channel with the statistics
    of the batch; the paper puts it after every convolution and before the ReLU (Sec. 3.4).
    The op is one Function: the layer (learnres.nn.BatchNorm2d) owns gamma, beta and the
    running statistics and passes them in. The semantics are PyTorch's: in training mode the
    running statistics move toward the batch's, in evaluation mode they replace them.
    """,
    units=(
        Unit("learnres.functions.batchnorm", "NDIMS"),
        Unit("learnres.functions.batchnorm", "_channel_sum"),
        Unit("learnres.functions.batchnorm", "_per_channel"),
        Unit("learnres.functions.batchnorm", "_as_array"),
        Unit("learnres.functions.batchnorm", "BatchNorm"),
        Unit("learnres.functions.batchnorm", "_check_batch_norm"),
        Unit("learnres.functions.batchnorm", "batch_norm"),
        Unit("learnres.functions.batchnorm", "_batch_norm_op"),
    ),
    parts=(
        Part(
            "3.1",
            "BatchNorm.forward",
            "normalise x in training and in evaluation mode",
            """
            Arguments: x (N, C, H, W), (N, C, L) or (N, C); ``affine`` holds gamma then beta,
            each (C,), when ``self.has_weight`` / ``self.has_bias`` (either may be absent).
            Returns: y, shaped like x.

            Per channel, over the m = N*H*W values of the batch, in training mode:
                mu = mean(x),  var = mean((x - mu)^2)  (biased),  sigma = sqrt(var + eps)
                x_hat = (x - mu) / sigma,  y = gamma * x_hat + beta
            and the running statistics move: ``self._update_running(mu, var, m)``.
            In evaluation mode (``self.training`` False) mu and var are
            ``self.running_mean`` and ``self.running_var``, and nothing is updated.
            Save on self what backward needs: ``self.x_hat`` (N, C, L), ``self.inv_std``
            (1 / sigma) and ``self.gamma`` (C,).
            Hints: view x as (N, C, L) with ``x.reshape(N, C, L)``, L = H*W (1 for (N, C):
            ``math.prod(x.shape[2:])``); ``_channel_sum`` sums it over N and L, and
            ``_per_channel`` turns a (C,) vector into (1, C, 1) to broadcast.
            The input is checked already: ``batch_norm`` runs ``_check_batch_norm`` first.
            """,
        ),
        Part(
            "3.2",
            "BatchNorm._update_running",
            "move the running statistics toward the batch's, in place",
            """
            running_mean = (1 - momentum) * running_mean + momentum * mean
            running_var = (1 - momentum) * running_var + momentum * var * m / (m - 1)
            The running variance takes the UNBIASED batch variance: m / (m - 1) times the
            biased one used to normalise (as PyTorch). Change the arrays in place (``*=``,
            ``+=``): they are the layer's buffers, and a new array would leave the layer's
            unchanged. Either may be None (then skip it). (m >= 2 here: ``_check_batch_norm``
            refuses a batch with one value per channel in training mode.)
            """,
        ),
        Part(
            "3.3",
            "BatchNorm.backward",
            "the gradients, in training and in evaluation mode",
            """
            Returns: (dL/dx, dL/dgamma, dL/dbeta), without dL/dgamma or dL/dbeta when the
            op had no gamma or beta; dL/dx is shaped like x, the others (C,).

            With g = dL/dy, and sums and means per channel over (N, H, W):
                dL/dbeta = sum(g),   dL/dgamma = sum(g * x_hat)
                training:    dL/dx = (gamma / sigma) * (g - mean(g) - x_hat * mean(g * x_hat))
                evaluation:  dL/dx = (gamma / sigma) * g     (mu and sigma are constants)
            In training mode mu and sigma depend on every x of the channel: the two mean
            terms are those paths (d x_hat_i / d x_j = (delta_ij - 1/m - x_hat_i x_hat_j / m)
            / sigma). Check with a random gy: with gy = 1, dL/dx is 0 whatever you write.
            """,
        ),
    ),
)

_RESIDUAL = Exercise(
    number=4,
    slug="ex4_residual",
    title="The residual basic block",
    intro="""
    A residual block computes y = relu(F(x) + shortcut(x)) (Eq. 1 and Fig. 2 of the paper):
    the stacked layers learn the residual F(x) = H(x) - x. Where the block keeps the shape
    the shortcut is the identity; where it halves H and W and widens the channels, the
    paper compares (Sec. 3.3, Table 3) option A, a parameter-free identity (subsample and
    pad with zero channels), option B, a projection W_s x where the shape changes, and
    option C, a projection everywhere. The layers (Conv2d, BatchNorm2d, ...) are
    learnres's own.
    """,
    units=(
        Unit("learnres.nn.blocks", "BASIC_EXPANSION"),
        Unit("learnres.nn.blocks", "SHORTCUT_OPTIONS"),
        Unit("learnres.nn.blocks", "subsample_and_zero_pad"),
        Unit("learnres.nn.blocks", "ZeroPadShortcut"),
        Unit("learnres.nn.blocks", "projection_shortcut"),
        Unit("learnres.nn.blocks", "make_shortcut"),
        Unit("learnres.nn.blocks", "_conv3x3"),
        Unit("learnres.nn.blocks", "_conv1x1"),
        Unit("learnres.nn.blocks", "BasicBlock"),
    ),
    parts=(
        Part(
            "4.1",
            "subsample_and_zero_pad",
            "option A, the identity made to fit",
            """
            Use learnres's differentiable ops (imported above), so the gradient flows back:
            ``getitem(x, index)`` with a tuple of slices for the subsampling, and
            ``pad(x, widths)`` with one (before, after) pair per axis for the zero channels.
            Raise OpError when out_channels is smaller than C.
            """,
        ),
        Part(
            "4.2",
            "projection_shortcut",
            "options B and C, the projection W_s x",
            """
            A 1x1 Conv2d from in_planes to out_planes with the block's stride and no bias,
            then BatchNorm2d(out_planes), in a Sequential (so its parameters are named
            shortcut.0.weight, shortcut.1.weight, ... inside a block).
            """,
        ),
        Part(
            "4.3",
            "make_shortcut",
            "which shortcut a block gets",
            """
            Sec. 3.3 and Table 3: where the block keeps the shape of x, options A and B add
            x itself (Identity()); where the block changes it, A uses the zero-padded identity
            (ZeroPadShortcut) and B the projection (projection_shortcut); C projects in every
            block. When does a block keep the shape? Think of both things a block can change.
            Any other option: ValueError naming the three.
            """,
        ),
        Part(
            "4.4",
            "BasicBlock.__init__",
            "the block's layers, in forward order",
            """
            Call ``super().__init__()`` first, then assign the layers in the order forward
            uses them (their names are the state-dict keys, as in torchvision):
                conv1  3x3, in_planes -> planes, stride ``stride``, padding 1, no bias
                bn1    BatchNorm2d(planes)
                conv2  3x3, planes -> planes * expansion, stride 1, padding 1, no bias
                bn2    BatchNorm2d(planes * expansion)
                shortcut  make_shortcut(shortcut, in_planes, planes * expansion, stride)
            ``_conv3x3`` makes those convolutions (no bias: BN follows). With
            zero_init_residual, set bn2's weight to 0 (``init.zeros_``).
            """,
        ),
        Part(
            "4.5",
            "BasicBlock.forward",
            "Fig. 2, relu(F(x) + shortcut(x))",
            """
            x (N, in_planes, H, W) -> (N, planes, H / stride, W / stride).
            Fig. 2 and Eq. 1 of the paper: the stacked layers (conv, BN, ReLU, conv, BN) are
            F(x), the residual; the shortcut carries the block's input around them; the
            block's output is the sum passed through a ReLU. Read the figure for where the
            addition sits relative to the BN and the ReLUs; the grader names the usual
            misplacements.
            """,
        ),
    ),
)

_BOTTLENECK = Exercise(
    number=5,
    slug="ex5_bottleneck",
    title="The bottleneck block and its cost",
    intro="""
    The deeper ImageNet models (ResNet-50/101/152) replace the basic block's two 3x3
    convolutions with a bottleneck (Fig. 5 right): a 1x1 convolution reduces the width to
    ``planes``, a 3x3 works at that width, and a 1x1 restores it to 4 * planes. Table 1
    compares the models by "FLOPs", multiply-adds of the convolutions: ResNet-50's 3.8
    billion against ResNet-34's 3.6 billion, for 16 more layers. You build the block and
    count its multiply-adds. The shortcuts and layers are learnres's own (exercise 4).
    """,
    units=(
        Unit("learnres.nn.blocks", "BOTTLENECK_EXPANSION"),
        Unit("learnres.nn.blocks", "Bottleneck"),
        Unit("learnres.analysis.counting", "conv_output_size"),
        Unit("learnres.analysis.counting", "conv_mult_adds"),
        Unit("learnres.analysis.counting", "bottleneck_mult_adds"),
    ),
    parts=(
        Part(
            "5.1",
            "Bottleneck.__init__",
            "the block's layers, in forward order",
            """
            Call ``super().__init__()`` first, then assign, in this order (the names are the
            state-dict keys): conv1 1x1 in_planes -> planes; bn1; conv2 3x3 planes -> planes
            (padding 1); bn2; conv3 1x1 planes -> planes * expansion; bn3; shortcut
            (``make_shortcut(shortcut, in_planes, planes * expansion, stride)``). No bias
            in the convolutions. The stride goes on conv1 when ``stride_in_1x1`` (the
            paper's layout), else on conv2 (torchvision's); the other one has stride 1.
            ``_conv1x1`` and ``_conv3x3`` make the convolutions. With zero_init_residual,
            set bn3's weight to 0 (``init.zeros_``).
            """,
        ),
        Part(
            "5.2",
            "Bottleneck.forward",
            "1x1, 3x3, 1x1 and the shortcut",
            """
            x (N, in_planes, H, W) -> (N, 4 * planes, H / stride, W / stride).
            Fig. 5 (right): as in the basic block, every convolution is followed by its BN,
            and a ReLU follows each layer except the last, whose output is added to the
            shortcut before the block's final ReLU.
            """,
        ),
        Part(
            "5.3",
            "conv_mult_adds",
            "the multiply-adds of one convolution",
            """
            Count what one output value costs, then how many output values there are.
            Check: a 3x3 convolution from 64 to 64 channels with a 56x56 output (ResNet-34's
            conv2_x) costs 115,605,504 multiply-adds.
            """,
        ),
        Part(
            "5.4",
            "bottleneck_mult_adds",
            "the multiply-adds of a bottleneck block",
            """
            Add up the convolutions, each at its own output size: the first 1x1 at
            H / stride_1x1, the 3x3 and the last 1x1 at H / stride. ``conv_output_size``
            gives each size (the 3x3 has padding 1, the 1x1 none).
            """,
        ),
    ),
)

_SGD = Exercise(
    number=6,
    slug="ex6_sgd",
    title="SGD and the paper's schedule",
    intro="""
    The paper trains every network with SGD, momentum 0.9 and weight decay 1e-4, starting
    at learning rate 0.1 and dividing it by 10 at 32k and 48k iterations (Sec. 3.4 and 4.2).
    You write the update of one parameter, term by term in PyTorch's order, so that a
    learnres run and a PyTorch run from the same weights stay together, and the schedule.
    """,
    units=(
        Unit("learnres.optim.sgd", "_HYPER"),
        Unit("learnres.optim.sgd", "_as_float"),
        Unit("learnres.optim.sgd", "SGD", drop=("state_dict", "load_state_dict", "__repr__")),
        Unit("learnres.optim.schedules", "PAPER_ITERATIONS"),
        Unit("learnres.optim.schedules", "PAPER_MILESTONES"),
        Unit("learnres.optim.schedules", "scaled_milestones"),
        Unit("learnres.optim.schedules", "Schedule", drop=("state_dict", "load_state_dict")),
        Unit("learnres.optim.schedules", "StepSchedule", drop=("state_dict", "__repr__")),
    ),
    parts=(
        Part(
            "6.1",
            "SGD._update",
            "one step for one parameter: weight decay, momentum, update",
            """
            Arguments: i, the parameter's index (its key in ``self.state``); group, its
            hyper-parameters (``group["lr"]``, "momentum", "weight_decay", "dampening",
            "nesterov"); p, the parameter, with ``p.data`` and ``p.grad`` (same shape).

            The class docstring says what each hyper-parameter means; torch.optim.SGD's
            documentation (its "Algorithm" box) gives the order, which you must follow so
            that a learnres run and a PyTorch run from the same weights stay together. Work
            out why that order is the natural one: weight decay is the gradient of an L2
            penalty added to the loss, so which gradient should the momentum buffer average,
            the bare one or the penalised one? On the first step there is no buffer yet:
            what does PyTorch start it with? Keep it in ``self.state[i]["momentum_buffer"]``.
            Change ``p.data`` in place and leave ``p.grad`` as backward wrote it (``d_p +=``
            on ``d_p = p.grad`` would write into it).
            """,
        ),
        Part(
            "6.2",
            "scaled_milestones",
            "the paper's milestones moved to a shorter run",
            """
            Example: scaled_milestones(64000) == (32000, 48000) and
            scaled_milestones(2000) == (1000, 1500). Use round(); return a tuple.
            """,
        ),
        Part(
            "6.3",
            "StepSchedule.lr",
            "the paper's step schedule",
            """
            The rate starts at ``base_lr`` and is multiplied by ``gamma`` at every milestone
            the run has reached. The paper: 0.1, divided by 10 at 32k and 48k iterations.
            Iterations count from 0 (the first step is iteration 0), and the rate changes AT
            a milestone: lr(31999) == 0.1, lr(32000) == 0.01, lr(48000) == 0.001.
            """,
        ),
    ),
)


_TRAINING = Exercise(
    number=7,
    slug="ex7_training",
    title="Softmax cross-entropy and the training step",
    intro="""
    The paper's networks end in a fully connected layer whose outputs are the logits of the
    classes; the loss is the softmax cross-entropy (Sec. 3.4: "standard" classification).
    You write the loss as a Function (a numerically stable log-softmax, the loss, its
    backward), then the two loops every experiment of the paper runs: one training step
    (the model in training mode, so that batch normalization uses and updates the batch's
    statistics) and the evaluation pass (evaluation mode, no graph).
    """,
    units=(
        Unit("learnres.functions.loss", "_log_softmax"),
        Unit("learnres.functions.loss", "CrossEntropy"),
        Unit("learnres.analysis.degradation", "train_step"),
        Unit("learnres.train.trainer", "evaluate"),
    ),
    parts=(
        Part(
            "7.1",
            "_log_softmax",
            "log softmax(x) along an axis, without overflow",
            """
            Shapes: x (N, C) (any shape; ``axis`` names the class axis); the result is shaped
            like x: log(exp(x_i) / sum_j exp(x_j)) along ``axis``.
            exp overflows float64 beyond about 709, and logits of a badly initialised or
            diverging network get there. Show that adding the same number to every x_j of a
            row leaves the softmax unchanged, then choose the number that keeps every
            exponent at or below 0. Take the log analytically instead of computing the
            softmax first (log of a tiny softmax underflows to -inf).
            """,
        ),
        Part(
            "7.2",
            "CrossEntropy.forward",
            "the mean cross-entropy of a batch",
            """
            Arguments: logits (N, C); ``self.target`` holds the N integer labels.
            Returns: a 0-d array, the mean over the batch of -log p(target), with p the
            softmax of each row. Save what backward needs (the softmax probabilities).
            Hint: NumPy's fancy indexing picks one entry per row: a[xp.arange(n), target].
            """,
        ),
        Part(
            "7.3",
            "CrossEntropy.backward",
            "dL/dlogits",
            """
            Arguments: gy, the upstream gradient of the (scalar) loss. Returns a tuple with
            dL/dlogits, shaped (N, C).
            Derive it: write the loss of one row as -x_t + log sum_j exp(x_j) and
            differentiate by x_i (two cases: i = t and i != t). Then remember that the loss
            is a MEAN over the batch, and multiply by gy.
            """,
        ),
        Part(
            "7.4",
            "train_step",
            "one SGD step: mode, forward, loss, zero_grad, backward, step",
            """
            A step must leave the model exactly where PyTorch's loop would: think about what
            each call changes. The gradients of the last step are still in ``p.grad``: when
            must they be cleared, and what happens to a step taken before ``backward``? The
            model may arrive in evaluation mode (after an evaluation): which mode must batch
            normalization be in while it trains?
            """,
        ),
        Part(
            "7.5",
            "evaluate",
            "the loss and error of a model over a loader, in evaluation mode",
            """
            The evaluation pass must not change the model: batch normalization uses its
            running statistics (and must not update them), no graph is built (nothing will
            call backward), and the model leaves in the mode it came in, even when an error
            interrupts the loop. Average the loss over images, not over batches (the last
            batch may be smaller).
            """,
        ),
    ),
)

_HE_INIT = Exercise(
    number=8,
    slug="ex8_init",
    title="He initialisation",
    intro="""
    The paper initialises its weights "as in [13]" (He et al., 2015, Delving Deep into
    Rectifiers). A deep plain network starts well only when the variance of the signal
    neither grows nor shrinks from layer to layer: for y = W x with n inputs per output and
    independent zero-mean weights, Var[y] = n Var[w] E[x^2], and after a ReLU E[x^2] is
    half the variance of its input. You choose Var[w] so that the two effects cancel, write
    the initialisers, and the grader checks the claim on a deep plain stack.
    """,
    units=(
        Unit("learnres.nn.init", "_default_rng"),
        Unit("learnres.nn.init", "manual_seed"),
        Unit("learnres.nn.init", "_fill"),
        Unit("learnres.nn.init", "calculate_gain"),
        Unit("learnres.nn.init", "calculate_fan_in_and_fan_out"),
        Unit("learnres.nn.init", "_fan"),
        Unit("learnres.nn.init", "normal_"),
        Unit("learnres.nn.init", "uniform_"),
        Unit("learnres.nn.init", "kaiming_normal_"),
        Unit("learnres.nn.init", "kaiming_uniform_"),
    ),
    parts=(
        Part(
            "8.1",
            "calculate_fan_in_and_fan_out",
            "the inputs behind each output, the outputs of each input",
            """
            Returns (fan_in, fan_out) of a weight: a Linear weight is (out, in), a Conv2d
            weight (out, in, kh, kw). fan_in is the length of the dot product behind one
            output value (the n of Var[y] = n Var[w] E[x^2]); fan_out is how many output
            values one input value takes part in (what matters for the gradients going
            back). Work both out for a convolution. Fewer than 2 dimensions: ValueError.
            """,
            own_doc=True,
        ),
        Part(
            "8.2",
            "calculate_gain",
            "the factor that keeps the variance through a nonlinearity",
            """
            Returns the gain g such that weights of standard deviation g / sqrt(fan) keep
            E[x^2] constant through layer after layer with this nonlinearity. Derive the
            ReLU's from the intro (what fraction of E[x^2] survives a ReLU?), and the leaky
            ReLU's with negative slope a (``param``, default 0.01). Linear layers, convolutions
            and the sigmoid use 1, tanh 5/3 (PyTorch's convention). Unknown names:
            ValueError naming the known ones.
            """,
            own_doc=True,
        ),
        Part(
            "8.3",
            "kaiming_normal_",
            "He initialisation with normal weights",
            """
            Fill ``tensor`` in place with zero-mean normal values whose standard deviation
            keeps the variance of the signal (mode "fan_in": the forward activations) or of
            the gradients (mode "fan_out") from layer to layer, through the nonlinearity
            ``nonlinearity`` with negative slope ``a``; draw them with ``normal_(...,
            rng=rng)``. Return the tensor.
            """,
            own_doc=True,
        ),
        Part(
            "8.4",
            "kaiming_uniform_",
            "He initialisation with uniform weights",
            """
            The same variance as ``kaiming_normal_``, from U(-bound, bound): what variance
            does a uniform distribution on [-b, b] have? Draw with ``uniform_(...,
            rng=rng)`` and return the tensor.
            """,
            own_doc=True,
        ),
    ),
)

_CIFAR_RESNET = Exercise(
    number=9,
    slug="ex9_cifar_resnet",
    title="The CIFAR ResNets of depth 6n+2",
    intro="""
    Sec. 4.2 builds its CIFAR-10 networks from three stages of n basic blocks on 32x32,
    16x16 and 8x8 maps with 16, 32 and 64 filters, between a first 3x3 convolution and a
    global average pool with a 10-way fully connected layer: 6n + 2 weighted layers
    (ResNet-20, 32, 44, 56, 110, 1202). You assemble them from learnres's blocks; the grader
    checks the layers against learnres's, the outputs against PyTorch, and the parameter
    counts against Table 6 (0.27M for ResNet-20 ... 19.4M for ResNet-1202).
    """,
    units=(
        Unit("learnres.models.cifar", "CIFAR_WIDTHS"),
        Unit("learnres.models.cifar", "CIFAR_DEPTHS"),
        Unit("learnres.models.cifar", "LAYERS_PER_BLOCK"),
        Unit("learnres.models.cifar", "NUM_STAGES"),
        Unit("learnres.models.cifar", "blocks_per_stage"),
        Unit("learnres.models.stages", "make_stage"),
        Unit("learnres.models.stages", "init_he"),
        Unit("learnres.models.cifar", "CifarResNet"),
        Unit("learnres.models.cifar", "resnet"),
        Unit("learnres.models.cifar", "plain"),
    ),
    parts=(
        Part(
            "9.1",
            "blocks_per_stage",
            "n from the depth 6n + 2",
            """
            Count the weighted layers of the network in the intro (which layers have
            weights, and how many does one basic block have?) to see where 6n + 2 comes
            from; return n. A depth that is not of that form, or not an int, or gives
            n < 1: ValueError that names the valid depths.
            """,
            own_doc=True,
        ),
        Part(
            "9.2",
            "make_stage",
            "one stage of n blocks",
            """
            Only the stage's first block may change the shape (its stride, and the change
            of width, which its shortcut must handle); the blocks after it see the stage's
            own width and keep the size. Return a Sequential of the n blocks in order.
            """,
        ),
        Part(
            "9.3",
            "CifarResNet.__init__",
            "the layers of a 6n+2 network, in forward order",
            """
            Call ``super().__init__()`` first. Keep ``depth``, ``in_channels`` and
            ``num_classes`` as attributes. Then assign, in forward order (the names are the
            state-dict keys): ``conv1`` (3x3, 16 filters, padding 1, no bias: BN follows),
            ``bn1``, the stages ``conv2_x``, ``conv3_x``, ``conv4_x`` (``make_stage``; which
            stages halve the map?), ``avgpool`` (AdaptiveAvgPool2d(1)), ``flatten`` and ``fc``
            (a Linear from the last stage's width). Residual blocks (``block is
            BasicBlock``) get the shortcut option and zero_init_residual; plain blocks take
            neither. Finish with ``init_he(self)``.
            """,
        ),
        Part(
            "9.4",
            "CifarResNet.forward",
            "images to logits",
            """
            x (N, in_channels, H, W) -> logits (N, num_classes): the layers in the order
            __init__ made them, with the ReLU that follows the first BN (the blocks have
            their own). Check the input with ``check_images`` first.
            """,
        ),
    ),
)

_GRADCHECK = Exercise(
    number=10,
    slug="ex10_gradcheck",
    title="A gradient check",
    intro="""
    Every backward in learnres is checked against numerical derivatives before it is
    trusted: this exercise writes that check. A finite difference approximates a
    derivative; a check compares it with what backward computed. Two choices decide
    whether the check can fail when it should: how the difference is taken (its error must
    be far below the tolerance) and what the check differentiates. Checking sum(f(x)) is
    not enough: batch normalization's and softmax's outputs have constant sums, so the
    gradient of the sum is 0 whatever backward says. The grader hands your check correct
    and wrong backwards; it must pass the first and catch the second.
    """,
    units=(
        Unit("learnres.testing.gradcheck", "InputCheck"),
        Unit("learnres.testing.gradcheck", "GradcheckReport"),
        Unit("learnres.testing.gradcheck", "gradcheck"),
        Unit("learnres.testing.gradcheck", "numerical_gradient"),
        Unit("learnres.testing.gradcheck", "_compare"),
    ),
    parts=(
        Part(
            "10.1",
            "numerical_gradient",
            "d sum(g * f(x)) / dx by finite differences",
            """
            Arguments: f takes NumPy arrays (one per entry of ``arrays``) and returns an
            array shaped like g; ``arrays`` are float64 inputs (leave them unchanged); g is
            the upstream gradient. Returns an array shaped like ``arrays[i]``: the
            derivative of L = sum(g * f(...)) by each entry of ``arrays[i]``, with step eps.
            Write the Taylor expansion of L(x + eps) and of L(x - eps): which combination
            cancels the eps^1 error term? (With eps = 1e-6 a one-sided difference is off
            by about 1e-6 of the value; the grader's tolerance is far below that.)
            """,
            own_doc=True,
        ),
        Part(
            "10.2",
            "gradcheck",
            "backward against numerical derivatives",
            """
            Arguments: fn takes Tensors (one per input) and returns a Tensor; ``inputs``
            are arrays (floating-point ones are checked, in float64; integer ones, such as
            labels, are passed through); ``names`` label them in the report; eps, atol and
            rtol are the step and the tolerance (an entry passes when |numeric - analytic|
            <= atol + rtol * scale, scale = the largest |numeric| of that input, see
            ``_compare``); ``seed`` seeds the upstream gradient.
            Returns a GradcheckReport with one InputCheck per checked input (with
            ``raise_exception=True``, a failing check raises AssertionError with the report).
            Compute the analytic gradient with backward and the numerical one with
            ``numerical_gradient`` for the SAME upstream gradient g, drawn as
            ``np.random.default_rng(seed).standard_normal(y.shape)``: why random, and what
            would g = 1 hide? Evaluate fn without building a graph (``no_grad``).
            """,
            own_doc=True,
        ),
        Part(
            "10.3",
            "_compare",
            "the worst disagreement of one input",
            """
            Returns the InputCheck of one input: the index where numeric and analytic differ
            most, both values there, that absolute error, the relative error (the absolute
            error over max(the largest |numeric| of the input, atol)) and whether every entry
            passed (|numeric - analytic| <= atol + rtol * scale). An empty input: index (),
            values 0.
            """,
        ),
    ),
)

_DEGRADATION = Exercise(
    number=11,
    slug="ex11_degradation",
    title="A degradation study",
    intro="""
    The paper's starting point (Sec. 4.1, Fig. 6): a deeper plain network trains WORSE than
    a shallower one, although it could copy the shallower one and set its extra layers to
    the identity; with shortcuts the deeper network trains well. You run that experiment in
    miniature: plain and residual fully connected nets (``learnres.models.cifar.mlp``) at
    two depths, trained for a few hundred SGD steps on data a random network labels, and
    summarise what the curves show. The grader reruns the protocol and compares your
    numbers; look at them yourself too (print ``summarize(degradation_study())``) and say
    in your notebook what you see.
    """,
    units=(
        Unit("learnres.analysis.degradation", "STUDY"),
        Unit("learnres.analysis.degradation", "teacher_data"),
        Unit("learnres.analysis.degradation", "train_curve"),
        Unit("learnres.analysis.degradation", "model_name"),
        Unit("learnres.analysis.degradation", "degradation_study"),
        Unit("learnres.analysis.degradation", "summarize"),
    ),
    parts=(
        Part(
            "11.1",
            "train_curve",
            "the training loss of every step",
            """
            Follow the protocol in the docstring exactly: the grader repeats it with
            learnres's code and compares the curves number for number. Use ``train_step``
            for each step (it puts the model in training mode).
            """,
        ),
        Part(
            "11.2",
            "degradation_study",
            "plain and residual nets at each depth",
            """
            Each model must start from the same seeded state as the grader's: seed right
            before building it, not once for all four. Build with ``mlp``; the data comes
            from ``teacher_data``.
            """,
        ),
        Part(
            "11.3",
            "summarize",
            "what the curves show",
            """
            Compute every number from the curves you are given (the grader hands you its own
            curves too). The shallowest and deepest depth come from the names.
            """,
        ),
    ),
)


def _with_texts(ex: Exercise) -> Exercise:
    """``ex`` with the part texts of ``learnres.grading.texts.PART_TEXTS`` in place of its own
    (exercises 2 and 3 keep their new texts there until their reference code settles)."""
    parts = tuple(
        dataclasses.replace(p, doc=PART_TEXTS[p.number]) if p.number in PART_TEXTS else p
        for p in ex.parts
    )
    return dataclasses.replace(ex, parts=parts)


EXERCISES: tuple[Exercise, ...] = tuple(
    _with_texts(ex)
    for ex in (
        _AUTOGRAD,
        _CONV,
        _BATCHNORM,
        _RESIDUAL,
        _BOTTLENECK,
        _SGD,
        _TRAINING,
        _HE_INIT,
        _CIFAR_RESNET,
        _GRADCHECK,
        _DEGRADATION,
    )
)
SPEC_FILE = "grading.json"


def exercise(key: int | str) -> Exercise:
    """The exercise with this number (1) or slug ("ex1_autograd")."""
    for ex in EXERCISES:
        if key in (ex.number, ex.slug, str(ex.number)):
            return ex
    known = ", ".join(ex.slug for ex in EXERCISES)
    raise KeyError(f"no exercise {key!r}; known: {known}")


def stub_source(key: int | str) -> str:
    """The text of ``exercises/<slug>.py``: the reference code with the parts stubbed."""
    return render(exercise(key), solution=False)


def solution_source(key: int | str) -> str:
    """The same file with learnres's own bodies in place of the stubs."""
    return render(exercise(key), solution=True)


_SOLUTIONS: dict[str, object] = {}


def solution_module(key: int | str):
    """The solution file executed as a module (made once per process), for ``--reference``."""
    ex = exercise(key)
    if ex.slug not in _SOLUTIONS:
        filename = f"<learnres reference solution: {ex.filename}>"
        _SOLUTIONS[ex.slug] = load_module(ex.slug, solution_source(ex.slug), filename)
    return _SOLUTIONS[ex.slug]


def spec_document() -> dict:
    """What the graders and the guard need to know of each exercise (``grading.json``): its
    number, title, units (module, name) and parts (number, target). No code, no solutions."""
    return {
        "exercises": {
            ex.slug: {
                "number": ex.number,
                "title": ex.title,
                "units": [[u.module, u.name] for u in ex.units],
                "parts": [[p.number, p.target] for p in ex.parts],
            }
            for ex in EXERCISES
        }
    }


def spec_text() -> str:
    """``grading.json``'s text."""
    return json.dumps(spec_document(), indent=1) + "\n"


def write_exercises(folder: str | Path, solution: bool = False) -> list[Path]:
    """Write every exercise file (and, with the stubs, ``grading.json``) into ``folder``;
    return the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for ex in EXERCISES:
        path = folder / ex.filename
        path.write_text(render(ex, solution=solution), encoding="utf-8")
        written.append(path)
    if not solution:
        path = folder / SPEC_FILE
        path.write_text(spec_text(), encoding="utf-8")
        written.append(path)
    return written


def check_exercises(folder: str | Path) -> list[str]:
    """Problems with ``folder``'s exercise files (missing, or differing from the generator)."""
    folder = Path(folder)
    problems = []
    for ex in EXERCISES:
        path = folder / ex.filename
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif path.read_text(encoding="utf-8") != render(ex):
            problems.append(f"{path} differs from what the generator makes from learnres")
    spec = folder / SPEC_FILE
    if not spec.is_file() or spec.read_text(encoding="utf-8") != spec_text():
        problems.append(f"{spec} is missing or differs from the exercise spec")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m learnres.grading.exercises",
        description="Generate the exercise stubs from learnres's reference implementation.",
    )
    parser.add_argument(
        "folder",
        nargs="?",
        default="exercises",
        help="where the exercise files go (default: ./exercises)",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the folder is out of date"
    )
    parser.add_argument(
        "--solutions",
        metavar="DIR",
        help="write the solved files into DIR instead (keep them private)",
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = check_exercises(args.folder)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("regenerate with: python -m learnres.grading.exercises", file=sys.stderr)
            return 1
        print(f"{args.folder}: {len(EXERCISES)} exercise files up to date")
        return 0
    target, solution = (args.solutions, True) if args.solutions else (args.folder, False)
    for path in write_exercises(target, solution=solution):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
