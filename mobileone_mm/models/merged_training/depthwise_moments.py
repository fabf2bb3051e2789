"""Batch moments of a stride-1 depthwise convolution's input patches, with an exact backward made of convolutions.

For channel ``c`` and taps ``a``, ``b`` of a k x k kernel with dilation ``d``,
the second moment ``M[c, a, b]`` averages ``xp(p + a) * xp(p + b)`` over the
batch and the output positions ``p`` (``xp``: the input with the conv's zero
padding). Unfolding the k*k patches would copy the input k*k times; instead:

- forward: the pairs with the same tap difference ``b - a`` share one product
  map ``xp * shift(xp, b - a)``; each pair sums it over the box of positions of
  its first tap (a box is separable: two small 0/1 matrix products).
  2k^2 - 2k + 1 maps in all (13 for 3x3). A map is the flattened input times
  itself shifted by ``b - a`` as one flat offset: a product of two long
  contiguous runs, whose entries that wrap across a row lie in no box.
- backward: the gradient ``sum_ab G_ab 1[u in box_a] xp(u + b - a)`` is one
  (2k-1) x (2k-1) depthwise conv of ``xp``, whose kernel sums ``G`` by tap
  difference, corrected on the border bands that some ``box_a`` misses.
"""
import functools
from typing import Dict, List, NamedTuple, Sequence, Tuple

import torch
import torch.nn.functional as F

Span = Tuple[int, int]
Boxes = Tuple[torch.Tensor, torch.Tensor]  # row spans (H, k), column spans (W, >= k)


class Band(NamedTuple):
    """A border band of the input where ``sign`` times the taps ``assignment`` selects are corrected."""

    assignment: torch.Tensor  # (k^4, (2k-1)^2): which (a, b) pairs add to which tap difference
    rows: Span
    cols: Span
    sign: float


class MomentPlan(NamedTuple):
    """The index tables of one geometry (kernel, dilation, input size, device), built once; O(H + W) each.

    Positions are those of ``ringed`` in :class:`PatchMoments` (the input in
    its padding, in a zero ring as wide), flattened row by row.
    """

    product_offsets: List[int]  # flat offset b - a of each product map, >= 0
    pair_index: torch.Tensor  # (k^2, k^2): each pair's sum among the box sums of (input, *products), (map, tap)
    tap_boxes: Boxes  # the box of positions of each tap, row-major
    difference_assignment: torch.Tensor  # (k^4, (2k-1)^2): which (a, b) pairs add to which tap difference
    band_groups: List[List[Band]]  # bands of the same shape, one conv each


# The column spans are padded by zero columns to 16: sgemm with the 3 columns of a 3x3 kernel's spans is several times
# slower on CPU, and 16 beat 4, 8 and 32 (docs/performance.md, "Training").
GEMM_COLUMNS = 16


def spans(starts: Sequence[int], size: int, length: int, device: torch.device, columns: int = 0) -> torch.Tensor:
    """0/1 indicators of the spans ``[start, start + size)`` in ``range(length)``, float64.

    Returns:
        Tensor: Shape (length, max(len(starts), columns)); columns past the spans are 0.
    """
    indicators = torch.zeros(length, max(len(starts), columns), dtype=torch.float64)
    for column, start in enumerate(starts):
        indicators[start:start + size, column] = 1
    return indicators.to(device)


def column_span_sums(values: torch.Tensor, box: Boxes) -> torch.Tensor:
    """Sums of (..., H, W) ``values`` over the k column spans of ``box``: (..., H, k)."""
    rows, cols = box
    return (values @ cols.to(values.dtype))[..., :rows.shape[1]]


def box_sums(column_sums: torch.Tensor, box: Boxes) -> torch.Tensor:
    """Sums over the k * k boxes of ``box`` (box ``i * k + j``: row span i, column span j), in float64.

    Args:
        column_sums (Tensor): :func:`column_span_sums` of the values, (..., H, k).

    Returns:
        Tensor: Shape (..., k * k).
    """
    rows, _ = box
    return (rows.T @ column_sums.double()).flatten(-2)


@functools.lru_cache(maxsize=64)
def moment_plan(kernel_size: int, dilation: int, height: int, width: int, device: torch.device) -> MomentPlan:
    taps = [(i * dilation, j * dilation) for i in range(kernel_size) for j in range(kernel_size)]
    pad = dilation * (kernel_size // 2)
    ringed_w = width + 4 * pad
    num_taps, diameter = len(taps), 2 * kernel_size - 1

    def flat_offset(a: Tuple[int, int], b: Tuple[int, int]) -> int:
        return (b[0] - a[0]) * ringed_w + b[1] - a[1]

    # M is symmetric: the pair (a, b) with b - a < 0 sums the map of a - b over the box of b.
    product_offsets = sorted({abs(flat_offset(a, b)) for a in taps for b in taps})
    pair_index = torch.tensor([[(1 + product_offsets.index(abs(flat_offset(a, b)))) * num_taps
                                + (ia if flat_offset(a, b) >= 0 else ib) for ib, b in enumerate(taps)]
                               for ia, a in enumerate(taps)])

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
    span_starts = [pad + i * dilation for i in range(kernel_size)]  # each tap row's (column's) first position
    tap_boxes = (spans(span_starts, height, height + 4 * pad, device),
                 spans(span_starts, width, ringed_w, device, columns=GEMM_COLUMNS))
    return MomentPlan(product_offsets, pair_index.to(device), tap_boxes, assignment(lambda a: True),
                      list(groups.values()))


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
        flat = ringed.view(n, c, -1)
        length = flat.shape[-1]
        maps = flat.new_zeros(1 + len(plan.product_offsets), c, length)  # (input, *products) summed over the batch
        torch.sum(flat, 0, out=maps[0])
        for index, offset in enumerate(plan.product_offsets, 1):
            torch.sum(flat[:, :, :length - offset] * flat[:, :, offset:], 0, out=maps[index, :, :length - offset])
        maps = maps.view(-1, c, h + 4 * pad, w + 4 * pad)
        sums = box_sums(column_span_sums(maps, plan.tap_boxes), plan.tap_boxes)  # (maps, C, k^2)
        count = n * h * w
        mean = sums[0]
        second = sums.transpose(0, 1).reshape(c, -1)[:, plan.pair_index]
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
        rows, cols = (span[2 * pad:2 * pad + size, :kernel_size] for span, size in zip(plan.tap_boxes, (h, w)))
        tap_grad = (grad_mean.double() / count).reshape(c, kernel_size, kernel_size)
        grad.add_((rows @ tap_grad @ cols.T).to(grad.dtype))  # each tap's mean gradient spread over its box
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
