"""Part texts kept apart from the exercise spec, keyed by part number.

``learnres.grading.exercises`` uses a text here in place of the ``Part``'s own. Exercises 2
and 3 (convolution, batch normalization) take their "derive, don't copy" texts from here while
their reference code is being rewritten: once it settles, move each text into its ``Part`` and
delete it here. Like every part text, these say what to compute and why, not the final
formula; the formula is the last level of the part's hints (``learnres.grading.hints``).
"""

from __future__ import annotations

__all__ = ["PART_TEXTS"]

PART_TEXTS: dict[str, str] = {
    "2.4": """
        Shapes: gy = dL/dy (n, O, Ho, Wo), x (n, C, H, W), w (O, C, kh, kw); padding
        (ph, pw); the stride is 1 here. Return (dL/dx (n, C, H, W), dL/dw as (O, C*kh*kw),
        the layout of 2.3).

        Derive it: input pixel x[c, h, w] is multiplied by w[o, c, u, v] in output pixel
        (i, j) exactly when h = i + u - p (and w likewise). So dL/dx[c, h, w] sums
        gy[o, i, j] * w[o, c, u, v] over the outputs that saw it. Write i in terms of h and u:
        the sum has the form of a convolution of gy. Which padding makes it cover every h,
        which way does the kernel run, and which channel index plays the part of the input?
        Build it from ``_im2col`` of gy (padded) and one matrix product, as forward does.
        Then dL/dw[o, c, u, v] sums x[n, c, h, w] times the same entries of gy: the columns
        you just made hold them. Which of their rows belongs to (u, v)? One more product.
        (When the padding exceeds kernel - 1 the border outputs never saw x.)
        """,
    "2.5": """
        Shapes: as in 2.4, with strides (sh, sw); returns dL/dx (n, C, H, W).

        Forward was y_n = w2 @ cols_n, and cols_n only copied values of x_pad. Derive the
        gradient in two steps: first dL/dcols_n from the matrix product (which operand is
        transposed, and what shape must it have?), then dL/dx_pad from the copying: every
        entry of cols came from one pixel of x_pad, and a pixel that sat in several windows
        received every one of their contributions. Which pixel did entry (c, u, v), (i, j)
        come from? Cut the padding off at the end; pixels no window reached get 0.
        """,
    "3.3": """
        Returns: (dL/dx, dL/dgamma, dL/dbeta), without dL/dgamma or dL/dbeta when the
        op had no gamma or beta; dL/dx is shaped like x, the others (C,).

        Derive it from forward, with g = dL/dy and sums per channel over (N, H, W):
        y = gamma * x_hat + beta gives dL/dbeta and dL/dgamma at once. For dL/dx, write
        down what each quantity depends on. In evaluation mode mu and sigma are fixed
        numbers; in training mode they are computed from the batch, so every x_j of a
        channel reaches y_i three ways: directly, through mu and through sigma. Follow
        each path back (the chain rule adds them), using what forward saved (x_hat,
        1 / sigma, gamma). Check your result against the graders with a random gy: with
        gy = 1 the training-mode dL/dx is 0 whatever you write, so a sum() check proves
        nothing.
        """,
}
