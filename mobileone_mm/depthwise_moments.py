"""Batch moments of a stride-1 depthwise convolution's input patches, with an exact backward made of convolutions.

For channel ``c`` and taps ``a``, ``b`` of a k x k kernel with dilation ``d``,
the second moment ``M[c, a, b]`` averages ``xp(p + a) * xp(p + b)`` over the
batch and the output positions ``p`` (``xp``: the input with the conv's zero
padding). Unfolding the k*k patches would copy the input k*k times; instead:

- forward: the pairs with the same tap difference ``b - a`` share one product
  map ``xp * shift(xp, b - a)``; each pair sums it over its own box of
  positions (a box is separable: two small 0/1 matrix products). 2k^2 - 2k + 1
  maps in all (13 for 3x3).
- backward: the gradient ``sum_ab G_ab 1[u in box_a] xp(u + b - a)`` is one
  (2k-1) x (2k-1) depthwise conv of ``xp``, whose kernel sums ``G`` by tap
  difference, corrected on the border bands that some ``box_a`` misses.
"""
import functools
from typing import Dict, List, NamedTuple, Sequence, Tuple

import torch
import torch.nn.functional as F

Span = Tuple[int, int]
Boxes = Tuple[torch.Tensor, torch.Tensor]


class Band(NamedTuple):
    """A border band of the input where ``sign`` times the taps ``assignment`` selects are corrected."""

    assignment: torch.Tensor  # (k^4, (2k-1)^2): which (a, b) pairs add to which tap difference
    rows: Span
    cols: Span
    sign: float


class MomentPlan(NamedTuple):
    """The index tables of one geometry (kernel, dilation, input size, device), built once; O(H + W) each."""

    products: List[Tuple[Tuple[int, int, int, int, int], Boxes]]  # product map slices, its pairs' boxes
    pair_index: torch.Tensor  # (k^2, k^2): column of each pair among the products' box sums
    tap_boxes: Boxes  # each tap's box of positions in the padded input
    difference_assignment: torch.Tensor  # (k^4, (2k-1)^2)
    band_groups: List[List[Band]]  # bands of the same shape, one conv each


def boxes(starts: Sequence[Tuple[int, int]], height: int, width: int, map_height: int, map_width: int,
          device: torch.device) -> Boxes:
    """0/1 row and column indicators of height x width boxes at ``starts`` in a map: (map_height, B), (map_width, B)."""
    rows = torch.zeros(map_height, len(starts), dtype=torch.float64)
    cols = torch.zeros(map_width, len(starts), dtype=torch.float64)
    for i, (r, c) in enumerate(starts):
        rows[r:r + height, i] = 1
        cols[c:c + width, i] = 1
    return rows.to(device), cols.to(device)


def box_sums(values: torch.Tensor, box: Boxes) -> torch.Tensor:
    """Sums of (C, H, W) ``values`` over each box, in float64: (C, B). A box is separable: rows^T values cols."""
    rows, cols = box
    return ((values.double() @ cols) * rows).sum(1)


@functools.lru_cache(maxsize=64)
def moment_plan(kernel_size: int, dilation: int, height: int, width: int, device: torch.device) -> MomentPlan:
    taps = [(i * dilation, j * dilation) for i in range(kernel_size) for j in range(kernel_size)]
    pad = dilation * (kernel_size // 2)
    padded_h, padded_w = height + 2 * pad, width + 2 * pad
    num_taps, diameter = len(taps), 2 * kernel_size - 1

    by_difference: Dict[Tuple[int, int], List[Tuple[int, int]]] = {}
    for ia, a in enumerate(taps):
        for ib, b in enumerate(taps):
            dr, dc = b[0] - a[0], b[1] - a[1]
            if dr > 0 or (dr == 0 and dc >= 0):  # M is symmetric: one of (a, b) and (b, a)
                by_difference.setdefault((dr, dc), []).append((ia, ib))
    products = []
    pair_index = torch.zeros(num_taps, num_taps, dtype=torch.long)
    column = 0
    for (dr, dc), pairs in by_difference.items():
        left, right = max(0, -dc), max(0, dc)
        rows, cols = padded_h - dr, padded_w - left - right
        starts = [(taps[ia][0], taps[ia][1] - left) for ia, _ in pairs]
        products.append(((dr, left, right, rows, cols), boxes(starts, height, width, rows, cols, device)))
        for ia, ib in pairs:
            pair_index[ia, ib] = pair_index[ib, ia] = column
            column += 1

    def assignment(select) -> torch.Tensor:
        matrix = torch.zeros(num_taps * num_taps, diameter * diameter)
        for ia, a in enumerate(taps):
            if select(a):
                for ib, b in enumerate(taps):
                    offset = ((b[0] - a[0]) // dilation + kernel_size - 1) * diameter
                    matrix[ia * num_taps + ib, offset + (b[1] - a[1]) // dilation + kernel_size - 1] = 1
        return matrix.to(device)

    def band_span(start: int, size: int) -> Span:  # input rows (or cols) that the box of a tap at `start` misses
        return (0, min(size, start - pad)) if start > pad else (max(0, start + size - pad), size)

    starts = sorted({a[0] for a in taps} - {pad})
    bands = []
    for r in starts:  # inclusion-exclusion: rows missed + columns missed - both
        bands.append(Band(assignment(lambda a, r=r: a[0] == r), band_span(r, height), (0, width), -1.0))
        bands.append(Band(assignment(lambda a, r=r: a[1] == r), (0, height), band_span(r, width), -1.0))
        for c in starts:
            bands.append(Band(assignment(lambda a, r=r, c=c: a[0] == r and a[1] == c), band_span(r, height),
                              band_span(c, width), 1.0))
    groups: Dict[Span, List[Band]] = {}
    for band in bands:
        shape = (band.rows[1] - band.rows[0], band.cols[1] - band.cols[0])
        if min(shape) > 0:
            groups.setdefault(shape, []).append(band)
    return MomentPlan(products, pair_index.to(device), boxes(taps, height, width, padded_h, padded_w, device),
                      assignment(lambda a: True), list(groups.values()))


class PatchMoments(torch.autograd.Function):
    """Mean (C, k^2) and second moment (C, k^2, k^2) of the patches of ``x - shift`` (padding ``-shift``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, shift: torch.Tensor, kernel_size: int,
                dilation: int) -> Tuple[torch.Tensor, torch.Tensor]:
        n, c, h, w = x.shape
        pad = dilation * (kernel_size // 2)
        plan = moment_plan(kernel_size, dilation, h, w, x.device)
        # The shifted input inside its padding (-shift), inside a zero ring that the backward convs read.
        ringed = x.new_zeros(n, c, h + 4 * pad, w + 4 * pad)
        ringed[:, :, pad:h + 3 * pad, pad:w + 3 * pad] = -shift.reshape(1, c, 1, 1)
        ringed[:, :, 2 * pad:h + 2 * pad, 2 * pad:w + 2 * pad].copy_(x).sub_(shift.reshape(1, c, 1, 1))
        padded = ringed[:, :, pad:h + 3 * pad, pad:w + 3 * pad]
        count = n * h * w
        mean = box_sums(padded.sum(0), plan.tap_boxes)
        sums = []
        for (dr, left, right, rows, cols), pair_boxes in plan.products:
            product = padded[:, :, :rows, left:left + cols] * padded[:, :, dr:, right:right + cols]
            sums.append(box_sums(product.sum(0), pair_boxes))
        second = torch.cat(sums, 1)[:, plan.pair_index]
        ctx.save_for_backward(ringed)
        ctx.geometry = (kernel_size, dilation)
        return (mean / count).to(x.dtype), (second / count).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_mean: torch.Tensor, grad_second: torch.Tensor) -> tuple:
        ringed, = ctx.saved_tensors
        kernel_size, dilation = ctx.geometry
        n, c = ringed.shape[:2]
        pad = dilation * (kernel_size // 2)
        h, w = ringed.shape[2] - 4 * pad, ringed.shape[3] - 4 * pad
        plan = moment_plan(kernel_size, dilation, h, w, ringed.device)
        count = n * h * w
        diameter = 2 * kernel_size - 1
        pair_grad = ((grad_second + grad_second.transpose(1, 2)) / count).reshape(c, -1)

        def difference_kernel(assignment: torch.Tensor) -> torch.Tensor:
            return (pair_grad @ assignment.to(pair_grad)).reshape(c, 1, diameter, diameter)

        grad = F.conv2d(ringed, difference_kernel(plan.difference_assignment), None, 1, 0, dilation, c)
        tap_rows, tap_cols = plan.tap_boxes  # each tap's mean gradient spread over its box
        mean_grad = ((grad_mean.double() / count).unsqueeze(1) * tap_rows) @ tap_cols.T
        grad.add_(mean_grad[:, pad:pad + h, pad:pad + w].to(grad.dtype))
        for bands in plan.band_groups:
            kernels = torch.cat([difference_kernel(band.assignment) for band in bands])
            slabs = torch.cat([ringed[:, :, band.rows[0]:band.rows[1] + 4 * pad, band.cols[0]:band.cols[1] + 4 * pad]
                               for band in bands], 1)
            corrections = F.conv2d(slabs, kernels, None, 1, 0, dilation, c * len(bands)).split(c, 1)
            for band, correction in zip(bands, corrections):
                grad[:, :, band.rows[0]:band.rows[1], band.cols[0]:band.cols[1]].add_(correction, alpha=band.sign)
        return grad, None, None, None


def depthwise_patch_moments(x: torch.Tensor, kernel_size: int,
                            dilation: int) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """Mean and covariance of a stride-1, "same"-padded depthwise conv's input patches.

    Args:
        x (Tensor): Input of shape (N, C, H, W).
        kernel_size (int): Odd kernel size k.
        dilation (int): Dilation; the padding is ``dilation * (k // 2)``.

    Returns:
        tuple[Tensor, Tensor, int]: The mean of shape (C, k*k), the biased
        covariance of shape (C, k*k, k*k) and the number of patches averaged.
    """
    n, c, h, w = x.shape
    with torch.no_grad():  # a shift keeps the second moment from cancelling in float32; any value is exact
        shift = x.sum((2, 3)).sum(0) / (n * h * w)
    shifted_mean, second = PatchMoments.apply(x, shift, kernel_size, dilation)
    cov = second - shifted_mean.unsqueeze(2) * shifted_mean.unsqueeze(1)
    return shifted_mean + shift.unsqueeze(1), cov, n * h * w
