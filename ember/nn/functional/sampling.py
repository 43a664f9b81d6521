"""Sampling an image at arbitrary points: ``grid_sample`` and the grids of
affine transforms, ``affine_grid`` (spatial transformer networks).

``grid_sample`` is one Op for 4-D (N, C, H, W) and 5-D (N, C, D, H, W)
inputs.  Each output point reads a few input "taps" per spatial axis (one
for nearest, two for bilinear, four for bicubic) and mixes them with
weights that are products of per-axis weights, so forward and backward are
loops over the tap combinations (4 or 8 for bilinear, 16 for bicubic), each
one gather (forward) or one scatter-add (input gradient) over the whole
batch.  The grid gradient follows torch's kernel: the derivative of the
weights with respect to the sampling coordinate, times the derivative of
that coordinate with respect to the grid (the unnormalisation's scale and
the padding mode's clip or reflection).
"""
import itertools
import math
import warnings

import numpy as np

from ...backends import namespace
from ..._tensor import Tensor
from ..._tensor_base import _wrap
from ..._errors import not_a_tensor
from ...autograd.function import Op, once_differentiable
from ... import _dtype as D

__all__ = ["grid_sample", "affine_grid"]

_ZEROS, _BORDER, _REFLECTION = 0, 1, 2
_BILINEAR, _NEAREST, _BICUBIC = 0, 1, 2
_CUBIC_A = -0.75          # the cubic convolution constant torch (and OpenCV) use


def _unnormalize(xp, x, size, align_corners):
    """Grid values in [-1, 1] -> pixel coordinates, with d(coordinate)/d(grid)."""
    if align_corners:
        return (x + 1) * ((size - 1) / 2), (size - 1) / 2
    return ((x + 1) * size - 1) / 2, size / 2


def _clip(xp, c, size):
    """Clamp to [0, size - 1]; the derivative is 0 on and beyond the borders (torch's)."""
    inside = (c > 0) & (c < size - 1)
    return xp.clip(c, 0, size - 1), inside.astype(c.dtype)


def _reflect(xp, c, twice_low, twice_high):
    """Reflect ``c`` back and forth into [low, high], with d(result)/d(c) (+-1)."""
    if twice_low == twice_high:
        return xp.zeros_like(c), xp.zeros_like(c)
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    i = c - low
    sign = xp.where(i < 0, -1.0, 1.0).astype(c.dtype)
    i = xp.abs(i)
    extra = xp.fmod(i, span)
    even = xp.floor(i / span) % 2 == 0
    out = xp.where(even, extra + low, span - extra + low)
    return out.astype(c.dtype), xp.where(even, sign, -sign).astype(c.dtype)


def _pad_coordinate(xp, c, size, padding, align_corners):
    """Apply the padding mode to source coordinates: (coordinate, derivative)."""
    if padding == _BORDER:
        return _clip(xp, c, size)
    if padding == _REFLECTION:
        if align_corners:
            r, d = _reflect(xp, c, 0, 2 * (size - 1))
        else:
            r, d = _reflect(xp, c, -1, 2 * size - 1)
        r, dc = _clip(xp, r, size)
        return r, d * dc
    return c, None


def _cubic_weights(t):
    """The four cubic-convolution weights for taps at -1, 0, 1, 2 of fraction t,
    and their derivatives with respect to t."""
    A = _CUBIC_A

    def near(s):        # |s| <= 1
        return ((A + 2) * s - (A + 3)) * s * s + 1

    def dnear(s):
        return (3 * (A + 2) * s - 2 * (A + 3)) * s

    def far(s):         # 1 < |s| < 2
        return ((A * s - 5 * A) * s + 8 * A) * s - 4 * A

    def dfar(s):
        return (3 * A * s - 10 * A) * s + 8 * A

    w = [far(t + 1), near(t), near(1 - t), far(2 - t)]
    dw = [dfar(t + 1), dnear(t), -dnear(1 - t), -dfar(2 - t)]
    return w, dw


def _taps(xp, grid, sizes, mode, padding, align_corners):
    """Per spatial axis (input order: D, H, W), the taps every output point reads:
    a list of (index (N, P) int64, in-bounds mask, weight, d weight / d grid)."""
    d = len(sizes)
    axes = []
    for j, size in enumerate(sizes):
        g = grid[..., d - 1 - j]            # grid's last component is x, the last axis
        c, scale = _unnormalize(xp, g, size, align_corners)
        taps = []
        if mode == _BICUBIC:
            # the padding applies to each tap's position, not to the coordinate
            base = xp.floor(c)
            t = c - base
            ws, dws = _cubic_weights(t)
            for k, (w, dw) in enumerate(zip(ws, dws)):
                pos = base + (k - 1)
                pos, _ = _pad_coordinate(xp, pos, size, padding, align_corners)
                taps.append((pos, w, dw * scale))
        else:
            c, dpad = _pad_coordinate(xp, c, size, padding, align_corners)
            dc = scale if dpad is None else dpad * scale
            if mode == _NEAREST:
                taps.append((xp.rint(c), xp.ones_like(c), xp.zeros_like(c)))
            else:
                base = xp.floor(c)
                t = c - base
                taps.append((base, 1 - t, -dc + xp.zeros_like(c)))
                taps.append((base + 1, t, dc + xp.zeros_like(c)))
        out = []
        for pos, w, dw in taps:
            ok = (pos >= 0) & (pos <= size - 1)
            idx = xp.where(ok, pos, 0).astype(np.int64)
            out.append((idx, ok, w, dw))
        axes.append(out)
    return axes


def _combos(axes, sizes):
    """Every combination of one tap per axis: (flat index (N, P), weight (N, P),
    the per-axis weights and weight derivatives, validity)."""
    for combo in itertools.product(*axes):
        lin = 0
        ok = True
        for (idx, good, _, _), size in zip(combo, sizes):
            lin = lin * size + idx
            ok = ok & good
        weights = [w for _, _, w, _ in combo]
        dweights = [dw for _, _, _, dw in combo]
        yield lin, ok, weights, dweights


class _GridSample(Op):
    """(N, C, *S) input sampled at grid (N, *O, d) -> (N, C, *O)."""
    _ctx_fields = ("mode", "padding", "align_corners")

    @staticmethod
    def forward(ctx, x, grid, mode, padding, align_corners):
        xp = namespace(x)
        N, C = x.shape[:2]
        sizes = x.shape[2:]
        out_sp = grid.shape[1:-1]
        g = grid.reshape(N, -1, grid.shape[-1])
        flat = x.reshape(N, C, -1)
        out = xp.zeros((N, C, g.shape[1]), dtype=x.dtype)
        for lin, ok, ws, _ in _combos(_taps(xp, g, sizes, mode, padding, align_corners), sizes):
            w = ok.astype(x.dtype)
            for wj in ws:
                w = w * wj
            vals = xp.take_along_axis(flat, xp.broadcast_to(lin[:, None], (N, C, lin.shape[1])),
                                      axis=2)
            out += vals * w[:, None]
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, grid)
            ctx.mode, ctx.padding, ctx.align_corners = mode, padding, align_corners
        return out.reshape((N, C) + tuple(out_sp))

    @staticmethod
    @once_differentiable
    def backward(ctx, gout):
        x, grid = ctx.saved_tensors
        xp = namespace(x)
        need_x, need_grid = ctx.needs_input_grad[:2]
        N, C = x.shape[:2]
        sizes = x.shape[2:]
        M = math.prod(sizes)
        d = len(sizes)
        g = grid.reshape(N, -1, d)
        P = g.shape[1]
        go = gout.reshape(N, C, P)
        flat = x.reshape(N, C, M)
        gx = xp.zeros(N * C * M, dtype=np.float64) if need_x else None
        ggrid = xp.zeros((N, P, d), dtype=x.dtype) if need_grid else None
        # flat index of (n, c) rows for the input-gradient scatter
        row = (xp.arange(N * C, dtype=np.int64) * M).reshape(N, C, 1)
        taps = _taps(xp, g, sizes, ctx.mode, ctx.padding, ctx.align_corners)
        for lin, ok, ws, dws in _combos(taps, sizes):
            okf = ok.astype(x.dtype)
            w = okf
            for wj in ws:
                w = w * wj
            if need_x:
                # a scatter-add as one bincount (much faster than add.at)
                gx += xp.bincount((row + lin[:, None]).reshape(-1),
                                  weights=(go * w[:, None]).reshape(-1), minlength=N * C * M)
            if need_grid and ctx.mode != _NEAREST:
                vals = xp.take_along_axis(flat, xp.broadcast_to(lin[:, None], (N, C, P)), axis=2)
                gv = (go * vals).sum(axis=1) * okf          # (N, P)
                for j in range(d):
                    part = dws[j]
                    for k in range(d):
                        if k != j:
                            part = part * ws[k]
                    ggrid[..., d - 1 - j] += gv * part
        rx = gx.astype(x.dtype).reshape(x.shape) if need_x else None
        rg = ggrid.reshape(grid.shape) if need_grid else None
        return rx, rg, None, None, None


def _sizes_str(t):
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Sample ``input`` (N, C, H, W) or (N, C, D, H, W) at the points of
    ``grid`` (N, H_out, W_out, 2) or (N, D_out, H_out, W_out, 3), whose last
    axis holds (x, y[, z]) in [-1, 1] (x indexes the width).  Modes
    'bilinear' (trilinear on 5-D), 'nearest', 'bicubic' (4-D only); padding
    'zeros', 'border' or 'reflection' for points outside."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError("nn.functional.grid_sample(): expected mode to be 'bilinear', "
                         f"'nearest' or 'bicubic', but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', "
                         f"'border', or 'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn("Default grid_sample and affine_grid behavior has changed to "
                      "align_corners=False since 1.3.0. Please specify align_corners=True if "
                      "the old behavior is desired. See the documentation of grid_sample for "
                      "details.", stacklevel=2)
        align_corners = False
    if not isinstance(input, Tensor):
        raise not_a_tensor("grid_sample", "input", input, 1)
    if not isinstance(grid, Tensor):
        raise not_a_tensor("grid_sample", "grid", grid, 2)
    xd, gd = input._data, grid._data
    if xd.ndim != gd.ndim or xd.ndim not in (4, 5):
        if xd.ndim == gd.ndim and xd.shape[0] != gd.shape[0]:
            raise RuntimeError("grid_sampler(): expected grid and input to have same batch "
                               f"size, but got input with sizes {_sizes_str(xd)} and grid with "
                               f"sizes {_sizes_str(gd)}")
        raise RuntimeError("grid_sampler(): expected 4D or 5D input and grid with same number of "
                           f"dimensions, but got input with sizes {_sizes_str(xd)} and grid "
                           f"with sizes {_sizes_str(gd)}")
    if xd.dtype != gd.dtype:
        raise RuntimeError(f"expected scalar type {D.scalar_name_of(xd.dtype)} but found "
                           f"{D.scalar_name_of(gd.dtype)}")
    if xd.dtype.kind != "f":
        raise NotImplementedError(f"\"grid_sampler_{xd.ndim - 2}d_cpu_kernel_impl\" not "
                                  f"implemented for '{D.scalar_name_of(xd.dtype)}'")
    if xd.shape[0] != gd.shape[0]:
        raise RuntimeError("grid_sampler(): expected grid and input to have same batch size, "
                           f"but got input with sizes {_sizes_str(xd)} and grid with sizes "
                           f"{_sizes_str(gd)}")
    d = xd.ndim - 2
    if gd.shape[-1] != d:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {d} in last dimension, "
                           f"but got grid with sizes {_sizes_str(gd)}")
    for i in range(2, xd.ndim):
        if xd.shape[i] == 0:
            raise RuntimeError("grid_sampler(): expected input to have non-empty spatial "
                               f"dimensions, but input has sizes {_sizes_str(xd)} with dimension "
                               f"{i} being empty")
    if mode == "bicubic" and d != 2:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    m = {"bilinear": _BILINEAR, "nearest": _NEAREST, "bicubic": _BICUBIC}[mode]
    p = {"zeros": _ZEROS, "border": _BORDER, "reflection": _REFLECTION}[padding_mode]
    return _GridSample.apply(input, grid, m, p, bool(align_corners))


def _base_grid(xp, sizes, align_corners, dtype):
    """Homogeneous pixel-centre coordinates (prod(sizes), d + 1) in [-1, 1],
    x (the last axis) first, then y, z, then a column of ones."""
    lines = []
    for n in sizes:
        if n == 1:
            v = xp.zeros(1, dtype=dtype)
        else:
            v = xp.linspace(-1, 1, n).astype(dtype)
            if not align_corners:
                v = v * ((n - 1) / n)
        lines.append(v)
    mesh = xp.meshgrid(*lines, indexing="ij")       # each (D, H, W) / (H, W)
    cols = [m.reshape(-1) for m in reversed(mesh)]   # x, y[, z]
    cols.append(xp.ones(math.prod(sizes), dtype=dtype))
    return xp.stack(cols, axis=1)


def affine_grid(theta, size, align_corners=None):
    """The sampling grid (N, H, W, 2) or (N, D, H, W, 3) of the affine maps
    ``theta`` (N, 2, 3) or (N, 3, 4) for an output of ``size`` (N, C, H, W)
    or (N, C, D, H, W); feed it to ``grid_sample``.  Differentiable in theta."""
    if align_corners is None:
        warnings.warn("Default grid_sample and affine_grid behavior has changed to "
                      "align_corners=False since 1.3.0. Please specify align_corners=True if "
                      "the old behavior is desired. See the documentation of grid_sample for "
                      "details.", stacklevel=2)
        align_corners = False
    if not isinstance(theta, Tensor):
        raise not_a_tensor("affine_grid", "theta", theta, 1)
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    shown = size                       # (torch's messages print the size as given)
    size = [int(s) for s in size]
    shape = tuple(theta.shape)
    if len(size) == 4:
        if theta.dim() != 3 or shape[-2] != 2 or shape[-1] != 3:
            raise ValueError("Expected a batch of 2D affine matrices of shape Nx2x3 for size "
                             f"{shown}. Got {theta.shape}.")
        spatial = size[-2:]
    elif len(size) == 5:
        if theta.dim() != 3 or shape[-2] != 3 or shape[-1] != 4:
            raise ValueError("Expected a batch of 3D affine matrices of shape Nx3x4 for size "
                             f"{shown}. Got {theta.shape}.")
        spatial = size[-3:]
    else:
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D "
                                  f"affine transforms, respectively. Got size {shown}.")
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids "
                      "when align_corners=True. This is not an intended use case of affine_grid. "
                      "See the documentation of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {shown}")
    if shape[0] != size[0]:
        raise ValueError(f"affine_grid: theta has batch size {shape[0]} but size asks for "
                         f"{size[0]}")
    xp = namespace(theta._data)
    base = _wrap(_base_grid(xp, spatial, align_corners, theta._data.dtype))   # (P, d + 1)
    grid = base.matmul(theta.transpose(1, 2))                                # (N, P, d)
    return grid.reshape([size[0]] + list(spatial) + [len(spatial)])

