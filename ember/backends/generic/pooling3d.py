"""3-D max pooling over 2x2x2 windows at stride 2 (no padding or dilation;
the common ``MaxPool3d(2)``) as formulas over the array namespace.

The windows tile the input (cropped to even sizes), so a reshape lays each
window's eight values on a last axis, in (d, h, w) order: the forward is
an argmax there with torch's rules (the first maximum; a NaN wins, the last
one), the backward puts each gradient at its window's winner and zeros
elsewhere, and its adjoint (the double backward) gathers them back.
``win`` (N, C, Do, Ho, Wo) int8 holds each window's winner, 4*a + 2*b + c
for depth a, row b, column c of the window.
"""
import numpy as np

from .._registry import namespace
from .._table import GENERIC


def _windows(a, out):
    """Input-side (N, C, D, H, W) cropped to the windows, as (N, C, Do, Ho, Wo, 8)."""
    N, C = a.shape[0], a.shape[1]
    Do, Ho, Wo = out
    t = a[:, :, :2 * Do, :2 * Ho, :2 * Wo].reshape(N, C, Do, 2, Ho, 2, Wo, 2)
    return t.transpose(0, 1, 2, 4, 6, 3, 5, 7).reshape(N, C, Do, Ho, Wo, 8)


@GENERIC.register
def max_pool3d_2x2x2(x):
    """x (N, C, D, H, W) -> (y (N, C, D//2, H//2, W//2), win int8 of that shape)."""
    xp = namespace(x)
    out = tuple(s // 2 for s in x.shape[2:])
    v = _windows(x, out)
    nan = xp.isnan(v)
    win = v.argmax(axis=-1)
    # torch keeps the last NaN of a window (argmax would give the first)
    last_nan = 7 - nan[..., ::-1].argmax(axis=-1)
    win = xp.where(nan.any(axis=-1), last_nan, win).astype(np.int8)
    y = xp.take_along_axis(v, win[..., None].astype(np.int64), axis=-1)[..., 0]
    return xp.ascontiguousarray(y), win


@GENERIC.register
def max_pool3d_2x2x2_backward(g, win, x_shape):
    """The gradient (``x_shape``) of ``max_pool3d_2x2x2``'s input from its output's, ``g``."""
    xp = namespace(g)
    N, C, Do, Ho, Wo = g.shape
    hit = win[..., None] == xp.arange(8, dtype=np.int8)
    zero = xp.zeros((), dtype=g.dtype)
    # (0.0 + g: -0.0 arrives as +0.0, as torch's sum into zeros)
    vals = xp.where(hit, (g + zero)[..., None], zero)
    gx = xp.zeros(x_shape, dtype=g.dtype)
    t = vals.reshape(N, C, Do, Ho, Wo, 2, 2, 2).transpose(0, 1, 2, 5, 3, 6, 4, 7)
    gx[:, :, :2 * Do, :2 * Ho, :2 * Wo] = t.reshape(N, C, 2 * Do, 2 * Ho, 2 * Wo)
    return gx


@GENERIC.register
def max_pool3d_2x2x2_gather(x, win):
    """Each window's element of input-side ``x`` at its winner (the adjoint of
    the backward: the double backward's formula)."""
    xp = namespace(x)
    v = _windows(x, win.shape[2:])
    return xp.take_along_axis(v, win[..., None].astype(np.int64), axis=-1)[..., 0]
