"""Convolutions as formulas over the array namespace: im2col by slicing, one
batched matmul per call, col2im as one slice-add per kernel offset.

``geo`` is the op's geometry (``ember.nn.functional.conv._Geo``): input
``x4`` (N, C, H, W), output ``y4`` (N, O, Ho, Wo), weight ``w4``
(O, C/G, kh, kw), groups ``G``, stride ``sh, sw``, dilation ``dh, dw``,
padding ``pt, pl``, the padded size ``Hp, Wp`` and the caller-visible
``x_shape, y_shape, w_shape``.  The im2col columns here are always compact,
``p = ho * Wo + wo`` (the CPU's wide layout needs strided views of raw
memory); plain slicing works in every namespace.
"""
from .._registry import namespace
from .._table import GENERIC


def _padded(x4, geo):
    """``x4`` zero-padded to (N, C, Hp, Wp) (``x4`` itself when unpadded)."""
    N, C, H, W = geo.x4
    if geo.Hp == H and geo.Wp == W:
        return x4
    xpad = namespace(x4).zeros((N, C, geo.Hp, geo.Wp), dtype=x4.dtype)
    xpad[:, :, geo.pt:geo.pt + H, geo.pl:geo.pl + W] = x4
    return xpad


def _window(a, geo, i, j):
    """Kernel offset (i, j) of every window of padded ``a`` (N, C, Hp, Wp): (N, C, Ho, Wo)."""
    Ho, Wo = geo.y4[2], geo.y4[3]
    r, c = i * geo.dh, j * geo.dw
    return a[:, :, r:r + (Ho - 1) * geo.sh + 1:geo.sh, c:c + (Wo - 1) * geo.sw + 1:geo.sw]


def _im2col(xpad, geo):
    """Padded input (N, C, Hp, Wp) as the (G, C/G*kh*kw, N*Ho*Wo) GEMM operand."""
    N, _, Ho, Wo = geo.y4
    _, Cg, kh, kw = geo.w4
    C = xpad.shape[1]
    cols = namespace(xpad).empty((C, kh, kw, N, Ho, Wo), dtype=xpad.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = _window(xpad, geo, i, j).transpose(1, 0, 2, 3)
    return cols.reshape(geo.G, Cg * kh * kw, N * Ho * Wo)


def _out_cols(g, geo):
    """Output gradient (N, O, Ho, Wo) as the (G, O/G, N*Ho*Wo) GEMM operand."""
    N, O, Ho, Wo = geo.y4
    return g.reshape(geo.y4).transpose(1, 0, 2, 3).reshape(geo.G, O // geo.G, N * Ho * Wo)


@GENERIC.register
def conv2d_apply(x, w, geo, g=None, need_y=True, bias=None, keep_cols=False):
    """The conv of ``x`` (N, C, H, W) with ``w`` (+ ``bias``) if ``need_y``,
    and, given output gradient ``g``, the weight gradient.  Returns
    (y, gw, kept): with ``keep_cols`` the im2col operand, for
    ``conv2d_scatter(cols=kept)``; else None."""
    xp = namespace(x)
    N, O, Ho, Wo = geo.y4
    _, Cg, kh, kw = geo.w4
    G = geo.G
    cols = _im2col(_padded(x.reshape(geo.x4), geo), geo)
    y = gw = None
    if need_y:
        yc = xp.matmul(w.reshape(G, O // G, Cg * kh * kw), cols)
        y4 = yc.reshape(O, N, Ho, Wo).transpose(1, 0, 2, 3)
        if bias is not None:
            y4 = y4 + bias.reshape(1, O, 1, 1)
        y = xp.ascontiguousarray(y4).reshape(geo.y_shape)
    if g is not None:
        gw = xp.matmul(_out_cols(g, geo), cols.transpose(0, 2, 1)).reshape(geo.w_shape)
    return y, gw, ([cols] if keep_cols else None)


@GENERIC.register
def conv2d_scatter(g, w, geo, x=None, need_x=True, cols=None):
    """The col2im side: the input gradient of a conv (== a transposed conv
    of ``g``) if ``need_x``, and, given conv input ``x`` (or the ``cols``
    kept by ``conv2d_apply``), the weight gradient.  Returns (gx, gw)."""
    xp = namespace(g)
    N, C, H, W = geo.x4
    O, Cg, kh, kw = geo.w4
    G = geo.G
    gc = _out_cols(g, geo)
    gx = gw = None
    if x is not None or cols is not None:
        c = cols[0] if cols is not None else _im2col(_padded(x.reshape(geo.x4), geo), geo)
        gw = xp.matmul(gc, c.transpose(0, 2, 1)).reshape(geo.w_shape)
    if need_x:
        Ho, Wo = geo.y4[2], geo.y4[3]
        wt = w.reshape(G, O // G, Cg * kh * kw).transpose(0, 2, 1)
        d = xp.matmul(wt, gc).reshape(C, kh, kw, N, Ho, Wo)
        gxp = xp.zeros((N, C, geo.Hp, geo.Wp), dtype=g.dtype)
        # windows overlap across kernel offsets, so add one offset at a time
        for i in range(kh):
            for j in range(kw):
                t = _window(gxp, geo, i, j)
                t += d[:, i, j].transpose(1, 0, 2, 3)
        gx = gxp[:, :, geo.pt:geo.pt + H, geo.pl:geo.pl + W].reshape(geo.x_shape)
    return gx, gw


@GENERIC.register
def conv3d_direct(x, w, geo, bias=None, keep=False):
    """A 3-D conv (geometry ``geo``, ``ember.nn.functional.conv._Geo3``) by a
    backend's direct kernel: (y, kept), or None where the backend has none
    (here: the caller runs it as the 2-D conv of its depth windows)."""
    return None


@GENERIC.register
def conv3d_direct_wgrad(x, g, geo, kept=None):
    """The weight gradient of ``conv3d_direct``'s conv, or None where the
    backend has no such kernel (here).  ``kept``: what ``conv3d_direct``
    kept, released either way."""
    if kept is not None:
        kept.release()
    return None
