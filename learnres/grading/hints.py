"""Hints in levels, on request: first what depends on what, then the Jacobian (or the
structure), then the formula.

    pytest exercises --hint 3.3                 # level 1 of part 3.3
    pytest exercises --hint 3.3 --hint-level 2  # levels 1 and 2 (or: --hint 3.3:2)

    from learnres.grading import hint
    hint("3.3")          # in a notebook cell; hint("3.3", level=3) shows all three

The stubs say what to compute and why; the hints are there when deriving it is stuck. Each
level is a step, so read one and try again before the next.
"""

from __future__ import annotations

import textwrap

__all__ = ["HINTS", "LEVELS", "format_hints", "hint", "hints_for", "unknown_parts"]

LEVELS = ("what depends on what", "the Jacobian (the structure)", "the formula")

HINTS: dict[str, tuple[str, str, str]] = {
    # ---- 1. Autograd -------------------------------------------------------------------------
    "1.1": (
        "An input of shape `shape` was broadcast to g's shape: each of its entries was used "
        "once for every position along the added and the stretched axes, so its gradient "
        "collects all of those uses.",
        "The Jacobian of broadcasting copies: d out[k] / d in[j] = 1 when out[k] is a copy of "
        "in[j]. Its transpose applied to g sums g over the copies: over the leading axes "
        "broadcasting added, and over the axes where `shape` has 1 but g does not.",
        "lead = g.ndim - len(shape); stretched = the axes i with shape[i] == 1 and "
        "g.shape[lead + i] > 1; g.sum(axis=(0..lead-1) + those axes shifted by lead, "
        "keepdims=True), then reshape to `shape`.",
    ),
    "1.2": (
        "y = a * b elementwise: y[k] depends on a[k] and b[k] only (after broadcasting).",
        "The Jacobian is diagonal: dy[k]/da[k] = b[k], dy[k]/db[k] = a[k]. A broadcast input's "
        "gradient then goes through sum_to (1.1).",
        "dL/da = sum_to(gy * b, a.shape), dL/db = sum_to(gy * a, b.shape); None where "
        "needs_input_grad is False.",
    ),
    "1.3": (
        "y[i, j] = sum_k a[i, k] b[k, j]: a[i, k] reaches every y[i, j] of row i, b[k, j] "
        "every y[i, j] of column j.",
        "dy[i, j]/da[i, k] = b[k, j] and dy[i, j]/db[k, j] = a[i, k]; sum gy times these over "
        "the index that is not in the input. Check the shapes: the result must be (n, k) and "
        "(k, m).",
        "dL/da = gy @ b^T, dL/db = a^T @ gy (^T swaps the last two axes), each through sum_to "
        "when a batch axis was broadcast.",
    ),
    "1.4": (
        "y = max(x, 0) elementwise: y[k] depends on x[k] only.",
        "dy/dx is 1 where x > 0 and 0 where x < 0; at x = 0 PyTorch takes 0.",
        "dL/dx = gy * (x > 0); forward kept y, and y > 0 is the same mask. Return (gx,).",
    ),
    "1.5": (
        "A tensor's gradient is complete only when every op that used it has added its part; "
        "only then may backward pass it on to the tensor's own inputs.",
        "That is a topological order of the graph with the edges reversed: each tensor before "
        "its inputs. A post-order walk (a tensor after all its inputs) reversed gives it; a "
        "pre-order walk does not when a tensor is shared.",
        "An explicit stack of (tensor, inputs_done) pairs: pop; if inputs_done, append the "
        "tensor to `order`; else push (tensor, True), then (x, False) for each unvisited "
        "input that requires grad, marking it visited by id. Reverse `order` at the end.",
    ),
    # ---- 2. Convolution ---------------------------------------------------------------------
    "2.1": (
        "Output pixel (i, j) sees the kh x kw window of x_pad starting at (sh*i, sw*j), in "
        "every channel.",
        "For a fixed kernel offset (u, v), the pixels it touches over all (i, j) form a "
        "strided slice of x_pad: rows u, u + sh, ..., columns v, v + sw, ...",
        "x_pad = _pad(x, ph, pw); cols[n, (c, u, v), (i, j)] = x_pad[n, c, sh*i + u, "
        "sw*j + v]: fill an (N, C, kh, kw, Ho, Wo) array slice by slice (or with as_strided) "
        "and reshape it to (N, C*kh*kw, Ho*Wo).",
    ),
    "2.2": (
        "Each output pixel is the dot product of one column of cols with one row of w2.",
        "So all pixels of all channels of one image are one matrix product, and matmul "
        "broadcasts it over the images.",
        "cols = _im2col(x, kh, kw, *stride, *padding); y = w.reshape(O, -1) @ cols, "
        "shape (N, O, Ho*Wo), returned reshaped to (N, O, Ho, Wo).",
    ),
    "2.3": (
        "w2 multiplies every column of every image: each weight collects a contribution from "
        "every output pixel of every image.",
        "y_n = w2 @ cols_n is linear in w2: dL/dw2 = gy_n @ cols_n^T for one image.",
        "dL/dw2 = sum over n of gy_n @ cols_n^T, with gy_n as (O, Ho*Wo).",
    ),
    "2.4": (
        "Input pixel x[c, h, w] meets weight w[o, c, u, v] in exactly one output pixel, "
        "(h + p - u, w + p - v) (when that pixel exists); that product feeds dL/dw[o, c, u, v] "
        "too.",
        "dL/dx[c, h, w] = sum over o, u, v of gy[o, h + p - u, w + p - v] * w[o, c, u, v]: a "
        "correlation of gy with the kernel read backwards. dL/dw[o, c, u, v] = sum over n, h, "
        "w of gy[n, o, h + p - u, w + p - v] * x[n, c, h, w]: the same entries of gy.",
        "gcols = _im2col(gy, kh, kw, 1, 1, kh - 1 - p, kw - 1 - p), (N, O*kh*kw, H*W) "
        "(when p > k - 1, crop p - (k - 1) rows of gy off each side instead of padding); "
        "dL/dx = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, -1) @ gcols, reshaped to "
        "(N, C, H, W); dL/dw = (gcols @ x.reshape(N, C, H*W).transpose(0, 2, 1)).sum(axis=0), "
        "reshaped to (O, kh, kw, C), read forwards with [:, ::-1, ::-1], transposed to "
        "(O, C, kh, kw) and reshaped to (O, C*kh*kw).",
    ),
    "2.5": (
        "cols only copies pixels of x_pad, so dL/dx_pad collects the gradient of every copy.",
        "dL/dcols_n = w2^T @ gy_n; entry (c, u, v), (i, j) goes back to x_pad[n, c, sh*i + u, "
        "sw*j + v].",
        "For each (u, v): gx_pad[:, :, u : u + sh*(Ho-1) + 1 : sh, v : v + sw*(Wo-1) + 1 : sw] "
        "+= gcols[:, :, u, v]; then cut the padding off. (+=, not =: windows overlap.)",
    ),
    # ---- 3. Batch normalization --------------------------------------------------------------
    "3.1": (
        "Training mode: each channel's mean and variance come from the batch (N, H, W); "
        "evaluation mode: from the running statistics.",
        "x_hat = (x - mu) / sigma with sigma = sqrt(var + eps), var biased (divide by m); "
        "y = gamma * x_hat + beta per channel.",
        "View x as (N, C, L); mu = sum / m, var = sum((x - mu)^2) / m; save self.x_hat, "
        "self.inv_std (1 / sigma) and self.gamma for backward; call "
        "self._update_running(mu, var, m) in training mode.",
    ),
    "3.2": (
        "The running statistics are the layer's buffers: other code holds these very arrays.",
        "An exponential moving average toward the batch's statistics, with the unbiased "
        "variance (as PyTorch).",
        "running_mean *= 1 - momentum; running_mean += momentum * mean; running_var likewise "
        "with var * m / (m - 1). In place; skip None (m >= 2: the checks saw to it).",
    ),
    "3.3": (
        "y_i = gamma * x_hat_i + beta with x_hat_i = (x_i - mu) / sigma. In training mode mu "
        "and sigma are functions of every x_j of the channel; in evaluation mode they are "
        "constants.",
        "d x_hat_i / d x_j = (delta_ij - 1/m - x_hat_i * x_hat_j / m) / sigma in training mode "
        "(the -1/m is the path through mu, the last term the path through sigma); in "
        "evaluation mode it is delta_ij / sigma.",
        "dL/dbeta = sum(g), dL/dgamma = sum(g * x_hat); training: dL/dx = (gamma / sigma) * "
        "(g - mean(g) - x_hat * mean(g * x_hat)); evaluation: dL/dx = (gamma / sigma) * g.",
    ),
    # ---- 4. Residual block ------------------------------------------------------------------
    "4.1": (
        "Option A must make x the shape of F(x) without parameters: fewer pixels when the "
        "block has a stride, more channels when it widens.",
        "Subsample like a stride-s 1x1 convolution would (the top-left pixel of each window), "
        "then add zero channels after the existing ones; both steps must pass gradients back.",
        "out = getitem(x, (slice(None), slice(None), slice(None, None, stride), slice(None, "
        "None, stride))); return pad(out, ((0, 0), (0, out_channels - C), (0, 0), (0, 0))).",
    ),
    "4.2": (
        "The projection W_s x is a learned linear map per pixel, with the block's stride.",
        "A 1x1 convolution is exactly that; BN follows it as after every convolution, and a "
        "bias would be cancelled by that BN.",
        "Sequential(Conv2d(in_planes, out_planes, 1, stride=stride, bias=False), "
        "BatchNorm2d(out_planes)).",
    ),
    "4.3": (
        "The shortcut must change shape exactly when the block does: a stride, or a change of "
        "width, or both.",
        "Shape kept: A and B use the identity. Shape changed: A pads with zeros, B projects. "
        "C projects everywhere.",
        "same = stride == 1 and in_planes == out_planes; C -> projection; same -> Identity(); "
        "A -> ZeroPadShortcut(...); B -> projection; anything else -> ValueError.",
    ),
    "4.4": (
        "Parameter names are the attribute names, in the order they are assigned; the twin "
        "network and checkpoints rely on that order.",
        "Two 3x3 convolutions, each followed by BN; only the first has the stride; the "
        "shortcut comes last.",
        "conv1 = _conv3x3(in_planes, planes, stride); bn1; conv2 = _conv3x3(planes, planes * "
        "expansion); bn2; shortcut = make_shortcut(shortcut, in_planes, planes * expansion, "
        "stride); zero bn2's weight when zero_init_residual.",
    ),
    "4.5": (
        "Fig. 2: the stacked layers compute F(x); the shortcut carries x around them.",
        "The addition happens before the last ReLU and after bn2; the shortcut takes the "
        "block's input, not F's output.",
        "out = relu(bn1(conv1(x))); out = bn2(conv2(out)); return relu(out + shortcut(x)).",
    ),
    # ---- 5. Bottleneck ----------------------------------------------------------------------
    "5.1": (
        "Fig. 5 right: reduce the width, work at the reduced width, restore it (times 4).",
        "1x1 then 3x3 (padding 1) then 1x1, each followed by BN; the stride sits on the first "
        "1x1 (stride_in_1x1) or on the 3x3.",
        "conv1 = _conv1x1(in_planes, planes, s1); bn1; conv2 = _conv3x3(planes, planes, s3); "
        "bn2; conv3 = _conv1x1(planes, planes * 4); bn3; shortcut = make_shortcut(...); with "
        "(s1, s3) = (stride, 1) if stride_in_1x1 else (1, stride).",
    ),
    "5.2": (
        "Each of the first two convolutions is followed by BN and a ReLU; the last by BN only.",
        "The shortcut is added before the final ReLU, as in the basic block.",
        "out = relu(bn1(conv1(x))); out = relu(bn2(conv2(out))); out = bn3(conv3(out)); "
        "return relu(out + shortcut(x)).",
    ),
    "5.3": (
        "Every output value is one dot product.",
        "There are O * Ho * Wo outputs per image; each dot product runs over C * k * k inputs.",
        "O * Ho * Wo * C * k * k.",
    ),
    "5.4": (
        "Each convolution costs its own output size; the stride shrinks the size after the "
        "layer that has it.",
        "Sizes: after the first 1x1 (stride s1), after the 3x3 (stride s3, padding 1); the "
        "last 1x1 keeps the 3x3's size; a projection shortcut has the block's stride.",
        "conv_mult_adds of each convolution at its conv_output_size, summed; add the "
        "projection (in_planes -> 4 * planes, 1x1) for option C, or for B when the shape "
        "changes.",
    ),
    # ---- 6. SGD -----------------------------------------------------------------------------
    "6.1": (
        "Weight decay is the gradient of the L2 penalty (weight_decay / 2) * |p|^2: a part of "
        "the gradient of the loss being minimised. Momentum averages the gradients that move "
        "p. So which gradient should the average see?",
        "d_p = grad + weight_decay * p; the buffer starts as d_p and then follows "
        "buf = momentum * buf + (1 - dampening) * d_p; Nesterov looks one step ahead.",
        "d_p = p.grad + wd * p.data (a new array); buf = d_p.copy() on the first step, else "
        "buf = mu * buf + (1 - dampening) * d_p; d_p = d_p + mu * buf with nesterov, else buf; "
        "p.data -= lr * d_p.",
    ),
    "6.2": (
        "The paper's milestones sit at 1/2 and 3/4 of its 64k iterations.",
        "Keep the fractions for a shorter run.",
        "tuple(round(iterations * m / 64000) for m in (32000, 48000)).",
    ),
    "6.3": (
        "The rate drops by gamma at every milestone the run has reached.",
        "Count the milestones m with m <= iteration (iterations count from 0, and the rate "
        "changes AT a milestone).",
        "base_lr * gamma ** sum(1 for m in milestones if iteration >= m).",
    ),
    # ---- 7. Cross-entropy and the training step -------------------------------------------
    "7.1": (
        "softmax(x) = softmax(x - c) for any c per row: exp(x_i - c) / sum_j exp(x_j - c) "
        "is the same fraction. exp of a large x overflows; exp of a very negative one "
        "underflows to 0, whose log is -inf.",
        "log softmax(x)_i = x_i - log sum_j exp(x_j): no division, no log of a small number. "
        "With c = max_j x_j every exponent is <= 0 and the largest term of the sum is 1.",
        "shifted = x - x.max(axis, keepdims=True); return shifted - "
        "log(exp(shifted).sum(axis, keepdims=True)).",
    ),
    "7.2": (
        "Each row's loss depends on its own logits and label; the batch's loss is their mean.",
        "Row n contributes -logp[n, target[n]], one entry per row picked by fancy indexing.",
        "logp = _log_softmax(logits, axis=1); self.p = exp(logp); return "
        "-logp[arange(n), target].mean().",
    ),
    "7.3": (
        "Logit x_i of a row reaches the loss through -x_t (only when i is the label t) and "
        "through log sum_j exp(x_j) (always).",
        "d(-x_t + log sum exp(x)) / dx_i = softmax(x)_i - [i == t]; the mean divides each "
        "row's gradient by N.",
        "gx = p.copy(); gx[arange(n), target] -= 1; return (gx * gy / n,).",
    ),
    "7.4": (
        "backward ADDS into p.grad (gradients accumulate); step uses whatever p.grad holds; "
        "BatchNorm's behaviour depends on model.training.",
        "So: training mode first; clear the old gradients before backward fills in the new "
        "ones; step after backward.",
        "model.train(); logits = model(x); loss = cross_entropy(logits, labels); "
        "optimizer.zero_grad(); loss.backward(); optimizer.step(); return loss, wrong.",
    ),
    "7.5": (
        "Evaluation must leave no trace: BatchNorm in evaluation mode uses (and keeps) its "
        "running statistics; nothing calls backward, so no graph is needed; the mode is "
        "restored at the end.",
        "Remember model.training, call model.eval(), run the loop under no_grad(), restore the "
        "mode in a finally block; weigh each batch's mean loss by its size.",
        "was = model.training; model.eval(); try: with no_grad(): sum loss * n, count wrong "
        "and seen; finally: model.train(was); return loss_sum / seen, 100 * wrong / seen.",
    ),
    # ---- 8. He initialisation -------------------------------------------------------------
    "8.1": (
        "An output of a Linear layer sums over its in inputs; an output of a convolution sums "
        "over in channels times the kernel's window.",
        "fan_in = in * kh * kw; fan_out = out * kh * kw (each input value reaches out channels "
        "at kh * kw positions).",
        "receptive_field = prod(shape[2:]); return shape[1] * receptive_field, shape[0] * "
        "receptive_field (ValueError for fewer than 2 dimensions).",
    ),
    "8.2": (
        "For a symmetric zero-mean input, a ReLU keeps half of E[x^2]; a leaky ReLU with slope "
        "a keeps (1 + a^2) / 2 of it.",
        "Var[y] = n Var[w] E[x^2] stays constant when n Var[w] * (fraction kept) = 1, i.e. "
        "Var[w] = gain^2 / n with gain^2 = 1 / (fraction kept).",
        "relu: sqrt(2); leaky_relu: sqrt(2 / (1 + a^2)) (a = 0.01 by default); linear, conv "
        "and sigmoid: 1; tanh: 5/3; anything else: ValueError.",
    ),
    "8.3": (
        "The standard deviation depends on the nonlinearity (its gain) and on the fan the mode "
        "asks for.",
        "Var[w] = gain^2 / fan, so std = gain / sqrt(fan).",
        "std = calculate_gain(nonlinearity, a) / sqrt(_fan(tensor, mode)); "
        "return normal_(tensor, 0.0, std, rng=rng).",
    ),
    "8.4": (
        "U(-b, b) has variance b^2 / 3.",
        "Match the normal's variance: b^2 / 3 = gain^2 / fan.",
        "bound = gain * sqrt(3 / fan); return uniform_(tensor, -bound, bound, rng=rng).",
    ),
    # ---- 9. CIFAR ResNets -----------------------------------------------------------------
    "9.1": (
        "Weighted layers: the first convolution, two convolutions per basic block, the fc.",
        "1 + 3 stages * n blocks * 2 + 1 = 6n + 2.",
        "Check isinstance(depth, int), depth >= 8 and (depth - 2) % 6 == 0 (ValueError "
        "otherwise); return (depth - 2) // 6.",
    ),
    "9.2": (
        "The first block takes the stage's input width and stride; the others see the stage's "
        "output width, stride 1.",
        "After each block the width is planes * block.expansion.",
        "for i in range(n): stage.append(block(in_planes, planes, stride if i == 0 else 1, "
        "**options)); in_planes = planes * block.expansion.",
    ),
    "9.3": (
        "Three stages of 16, 32 and 64 filters; the first keeps 32x32, the other two halve "
        "the map; only residual blocks take a shortcut option.",
        "conv1 (in_channels -> 16), bn1, then make_stage(block, in, 16/32/64, n, stride 1/2/2) "
        "for conv2_x..conv4_x, then avgpool, flatten, fc(64 * expansion, num_classes).",
        "See learnres.models.cifar.CifarResNet; options = {shortcut, zero_init_residual} only "
        "when block is BasicBlock; setattr(self, f'conv{index + 2}_x', stage); init_he(self).",
    ),
    "9.4": (
        "The layers in the order __init__ made them; the blocks hold their own ReLUs.",
        "check_images, then relu(bn1(conv1 x)), the three stages, avgpool, flatten, fc.",
        "out = relu(self.bn1(self.conv1(x))); out = self.conv4_x(self.conv3_x(self.conv2_x("
        "out))); return self.fc(self.flatten(self.avgpool(out))).",
    ),
    # ---- 10. A gradient check -------------------------------------------------------------
    "10.1": (
        "L(x + eps) = L + eps L' + eps^2 L''/2 + ...; L(x - eps) = L - eps L' + eps^2 L''/2 - ...",
        "Their difference over 2 eps is L' + O(eps^2): the even terms cancel. A one-sided "
        "difference keeps the eps L''/2 error.",
        "For each index: values = copies; +eps -> up = sum(g * f(*values)); -2 eps -> down; "
        "numeric[index] = (up - down) / (2 eps).",
    ),
    "10.2": (
        "Backward gives d sum(g * y) / dx for the upstream gradient g it is handed; the "
        "numerical side must differentiate the same sum.",
        "With g = 1 the check differentiates sum(y), which is constant for batch norm and "
        "softmax: their gradient is 0 whatever backward says. A random g tests every "
        "direction.",
        "y = fn(*tensors requiring grad); g = default_rng(seed).standard_normal(y.shape); "
        "y.backward(g); for each float input: numerical_gradient(f without a graph, arrays, "
        "i, g, eps) against x.grad, through _compare.",
    ),
    "10.3": (
        "A tolerance relative to the input's own scale, with atol as a floor for tiny ones.",
        "scale = max(largest |numeric|, atol); worst = argmax |numeric - analytic|.",
        "ok = max |numeric - analytic| <= atol + rtol * scale; rel_error = abs_error / scale.",
    ),
    # ---- 11. A degradation study ----------------------------------------------------------
    "11.1": (
        "Everything that draws random numbers must do so in the protocol's order: one "
        "generator, one draw per step.",
        "SGD(momentum 0.9) once; rng = default_rng(seed) once; each step a batch of "
        "batch_size examples without replacement, then train_step.",
        "for k in range(steps): batch = rng.choice(len(x), batch_size, replace=False); "
        "losses[k], _ = train_step(model, optimizer, x[batch], labels[batch]).",
    ),
    "11.2": (
        "A model's starting weights come from the generator that init.manual_seed resets.",
        "Seed right before each model is built, so that each starts as the protocol says, "
        "whatever was built before it.",
        "for residual in (False, True): for depth in depths: init.manual_seed(seed); model = "
        "mlp(depth, width, residual, x.shape[1], classes); curves[model_name(...)] = "
        "train_curve(...).",
    ),
    "11.3": (
        "A single step's loss is noisy; the mean of the last steps is not.",
        "final[name] = mean(curve[-last:]); gaps are deep minus shallow for each kind.",
        "plain_degrades = plain_gap > 0; residual_fixes = final[residual-deep] < "
        "final[plain-deep].",
    ),
}


def hints_for(part: str, level: int = 1) -> list[str]:
    """The hints of ``part`` ("3.3") up to ``level`` (1 to 3)."""
    if part not in HINTS:
        known = ", ".join(sorted(HINTS, key=lambda p: tuple(int(n) for n in p.split("."))))
        raise KeyError(f"no hints for part {part!r}; parts with hints: {known}")
    if not isinstance(level, int) or not 1 <= level <= len(LEVELS):
        raise ValueError(f"hint level must be 1, 2 or 3, got {level!r}")
    return list(HINTS[part][:level])


def unknown_parts(requests: list[str]) -> list[str]:
    """The requested parts ("3.3" or "3.3:2") that have no hints."""
    return [r for r in requests if str(r).partition(":")[0].strip() not in HINTS]


def format_hints(requests: list[str], level: int = 1) -> str:
    """The text ``pytest exercises --hint PART`` prints; a request "3.3:2" sets its level."""
    blocks = []
    for request in requests:
        part, _, own = str(request).partition(":")
        try:
            wanted = int(own) if own else level
            lines = hints_for(part.strip(), wanted)
        except (KeyError, ValueError) as e:
            blocks.append(str(e).strip("'\""))
            continue
        shown = "level 1" if wanted == 1 else f"levels 1-{wanted}"
        text = [f"Hints for part {part.strip()} ({shown} of {len(LEVELS)}):"]
        for k, line in enumerate(lines, 1):
            wrapped = textwrap.wrap(line, 92)
            text.append(f"  {k}. {LEVELS[k - 1]}:")
            text += [f"     {w}" for w in wrapped]
        if wanted < len(LEVELS):
            nxt = wanted + 1
            name = part.strip()
            text.append(f'  (next: --hint {name}:{nxt}, or hint("{name}", {nxt}))')
        blocks.append("\n".join(text))
    return "\n\n".join(blocks)


def hint(part: str, level: int = 1) -> None:
    """Print the hints of ``part`` ("3.3") up to ``level`` (1 what depends on what, 2 the
    Jacobian or the structure, 3 the formula)."""
    print(format_hints([part], level))
