"""Max pooling as formulas over the array namespace (the generic kernels).

The max over a 2-D window is the max over its rows of each row's max, so a
max pool runs as two 1-D stages: along W (kw strided slices of the padded
input, giving (N, C, Hb, Wo)), then along H (kh slices of that, giving
(N, C, Ho, Wo)).  That is kw + kh vectorised steps instead of kh * kw, and
taking the first maximum at both stages picks the first maximum of the
window in row-major order, as torch does.  Each stage records the winning
offset (``arg``), which is all the backward needs.

``geo`` is the op's pooling geometry (``ember.nn.functional.pooling._Geo``):
input ``x4`` (N, C, H, W), output ``y4`` (N, C, Ho, Wo), kernel ``kh, kw``,
stride ``sh, sw``, padding ``ph, pw``, dilation ``dh, dw``, the buffer
``Hb, Wb`` every window fits in, and the caller-visible ``x_shape``.
The helpers ``padded``, ``crop``, ``w_views``, ``h_views`` and ``lowest``
serve the op module's other formulas too.
"""
import math

import numpy as np

from .._registry import namespace
from .._table import GENERIC


def crop(buf, geo):
    """The input-sized part of a padded (N, C, Hb, Wb) buffer."""
    N, C, H, W = geo.x4
    if buf.shape[2] == H and buf.shape[3] == W:
        return buf
    return buf[:, :, geo.ph:geo.ph + H, geo.pw:geo.pw + W]


def padded(x, geo, fill):
    """``x`` in a buffer big enough for every window, padding set to ``fill``."""
    N, C, H, W = geo.x4
    if geo.Hb == H and geo.Wb == W and geo.ph == 0 and geo.pw == 0:
        return x
    buf = namespace(x).full((N, C, geo.Hb, geo.Wb), fill, dtype=x.dtype)
    buf[:, :, geo.ph:geo.ph + H, geo.pw:geo.pw + W] = x
    return buf


def lowest(dtype):
    return -math.inf if dtype.kind == "f" else np.iinfo(dtype).min


def w_views(a, geo):
    """The kw column slices of (n, C, rows, Wb) ``a``, each (n, C, rows, Wo)."""
    Wo, sw, dw = geo.y4[3], geo.sw, geo.dw
    span = (Wo - 1) * sw + 1
    return [a[..., j * dw:j * dw + span:sw] for j in range(geo.kw)]


def h_views(a, geo):
    """The kh row slices of (n, C, Hb, Wo) ``a``, each (n, C, Ho, Wo)."""
    Ho, sh, dh = geo.y4[2], geo.sh, geo.dh
    span = (Ho - 1) * sh + 1
    return [a[:, :, i * dh:i * dh + span:sh] for i in range(geo.kh)]


def _stage_max(views, need_arg):
    """Elementwise max over ``views`` and the index of the first maximum
    (a NaN wins, the last one, as in torch)."""
    xp = namespace(views[0])
    if not need_arg:
        # (no copy of the first view: the first maximum makes the buffer,
        # one pass fewer per stage; inference's 2x2 pools are two passes)
        if len(views) == 1:
            return xp.array(views[0]), None
        best = xp.maximum(views[0], views[1])
        for v in views[2:]:
            xp.maximum(best, v, out=best)
        return best, None
    best = xp.array(views[0])
    k = len(views)
    arg = xp.zeros(best.shape, dtype=np.int8 if k <= 127 else np.int32)
    if k == 2:
        xp.greater(views[1], best, out=arg.view(np.bool_))
        xp.maximum(best, views[1], out=best)
    else:
        for o in range(1, k):
            m = views[o] > best
            xp.copyto(arg, o, where=m)
            xp.maximum(best, views[o], out=best)
    if best.dtype.kind == "f" and xp.isnan(best).any():
        for o in range(k):
            xp.copyto(arg, o, where=xp.isnan(views[o]))
    return best, arg


def _stage_scatter(g, arg, targets):
    """Send ``g`` to the winning view of each position (the stage backward):
    ``targets[o] += g where arg == o``, onto zeros: a winner gets 0.0 + g as
    in torch (-0.0 arrives as +0.0) and every other position nothing, so an
    inf or NaN gradient reaches its winner alone (a product by a 0/1 mask
    would put NaN beside it)."""
    xp = namespace(g)
    if len(targets) == 1:
        targets[0] += g
        return
    zero = xp.zeros((), dtype=g.dtype)
    for o, t in enumerate(targets):
        t += xp.where(arg == o, g, zero)


@GENERIC.register
def max_pool2d(x, geo, need_idx):
    """Max pooling of ``x`` (N, C, H, W) with pooling geometry ``geo``: (y, idx),
    y (N, C, Ho, Wo) the window maxima, idx the two stages' winning offsets
    (a1 (N, C, Hb, Wo) along W, a2 (N, C, Ho, Wo) along H) or None when not
    ``need_idx``."""
    buf = padded(x, geo, lowest(x.dtype))
    m1, a1 = _stage_max(w_views(buf, geo), need_idx)
    y, a2 = _stage_max(h_views(m1, geo), need_idx)
    return y, ((a1, a2) if need_idx else None)


@GENERIC.register
def max_pool2d_backward(g, idx, geo):
    """The max-pool backward: each output gradient goes to its window's winner
    (``idx`` from ``max_pool2d``); returns the input gradient in ``geo.x_shape``."""
    a1, a2 = idx
    g = g.reshape(geo.y4)
    N, C, H, W = geo.x4
    xp = namespace(g)
    gm1 = xp.zeros((N, C, geo.Hb, geo.y4[3]), dtype=g.dtype)
    _stage_scatter(g, a2, h_views(gm1, geo))
    buf = xp.zeros((N, C, geo.Hb, geo.Wb), dtype=g.dtype)
    _stage_scatter(gm1, a1, w_views(buf, geo))
    return crop(buf, geo).reshape(geo.x_shape)


