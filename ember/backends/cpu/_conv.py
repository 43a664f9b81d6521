"""Convolutions on the CPU: im2col buffers built by a compiled pass (or from
strided views of NumPy memory), recycled scratch arrays, and GEMMs split
over the intra-op threads.

``conv2d_apply`` / ``conv2d_scatter`` compute one convolution (geometry
``geo``, see ``ember.nn.functional.conv``) as one GEMM per group and batch
chunk over an *im2col* buffer whose columns follow ``geo``'s layout:

* *wide* (``geo.wide``, stride 1): column ``p = ho * Wp + wo`` runs over
  every padded-width position of the output rows, trimmed after the last
  real output.  Each copy and each scatter-add is then one long contiguous
  run, which NumPy does at memory speed; the ``Wp - Wo`` extra columns per
  row are garbage that is computed and dropped (and given zero gradient).
* *compact*: ``p = ho * Wo + wo`` exactly.

The batch is processed in chunks of about ``geo.chunk_bytes`` of columns,
so the column buffers stay cache-sized, and those buffers are recycled (``_scratch``) instead of freshly allocated.

With the compiled kernels on (float32/64), the columns are always compact
and built by ``_numba.im2col`` straight from the unpadded input (the zeros
of the padding written in the same pass), split by rows over the intra-op
threads; the input gradient's columns go back by ``_numba.col2im``, split
by channels, straight into the gradient (no padded buffer, no crop).  The
wide layout exists for NumPy's copies; a compiled pass needs none of its
extra columns (up to half of the GEMM on small images).
"""
import numpy as np

from .._table import CPU as KERNELS
from . import _jit, _pool


class _Compact:
    """The compact column layout of a geometry (``p = ho * Wo + wo``), as the
    compiled passes build it: the ``wide``, ``L``, ``row`` of ``geo`` with
    ``wide`` False."""
    __slots__ = ("wide", "L", "row")

    def __init__(self, geo):
        self.wide = False
        self.L = geo.y4[2] * geo.y4[3]
        self.row = geo.y4[3]


def _layout(geo, k):
    """The column layout for this call: compact with compiled kernels ``k``,
    else the geometry's own (wide or compact)."""
    return geo if k is None else _Compact(geo)


class _Kept(list):
    """The im2col chunks ``conv2d_apply`` keeps for ``conv2d_scatter``, with
    the layout they were built in (``lay``)."""
    __slots__ = ("lay",)


def _cols_view(xpad, geo, n0, n1):
    """The im2col windows of samples n0:n1 of the contiguous padded input
    ``xpad`` (N, C, Hp, Wp), as a strided view (C, kh, kw, n, L) or
    (C, kh, kw, n, Ho, Wo).  (``np.ndarray`` over the buffer: ~5x cheaper
    than ``as_strided``, and this runs once per chunk.)"""
    sn, sc, srow, it = xpad.strides
    C, kh, kw = xpad.shape[1], geo.w4[2], geo.w4[3]
    if geo.wide:
        return np.ndarray((C, kh, kw, n1 - n0, geo.L), xpad.dtype, xpad, n0 * sn,
                          (sc, geo.dh * srow, geo.dw * it, sn, it))
    Ho, Wo = geo.y4[2], geo.y4[3]
    return np.ndarray((C, kh, kw, n1 - n0, Ho, Wo), xpad.dtype, xpad, n0 * sn,
                      (sc, geo.dh * srow, geo.dw * it, sn, geo.sh * srow, geo.sw * it))


def _y_view(yc, geo, lay, n):
    """The real outputs inside contiguous GEMM result ``yc`` (O, n*L) of layout
    ``lay``, as (n, O, Ho, Wo)."""
    it = yc.itemsize
    O, Ho, Wo = geo.y4[1], geo.y4[2], geo.y4[3]
    L = lay.L
    return np.ndarray((n, O, Ho, Wo), yc.dtype, yc, 0, (L * it, n * L * it, lay.row * it, it))


class _Scratch:
    """Reusable scratch arrays (im2col buffers, GEMM outputs, padded inputs).

    These are big and short-lived; a fresh allocation of that size comes
    from the OS page by page (one fault per 4 KiB on first touch), which
    costs about as much as the copy that fills it.  Arrays handed back with
    ``put`` are kept, per (size, dtype), up to ``cap`` bytes in all, and
    handed out again by ``get``.  Only arrays that never escape to the
    caller go through here.
    """

    def __init__(self, cap):
        self.cap = cap
        self.nbytes = 0
        self._free = {}

    def get(self, shape, dtype):
        n = 1
        for s in shape:
            n *= s
        lst = self._free.get((n, dtype))
        if lst:
            try:
                a = lst.pop()
            except IndexError:      # emptied by another thread meanwhile
                return np.empty(shape, dtype=dtype)
            self.nbytes -= a.nbytes
            return a.reshape(shape)
        return np.empty(shape, dtype=dtype)

    def put(self, a):
        if a is None or self.nbytes + a.nbytes > self.cap:
            return
        self.nbytes += a.nbytes
        self._free.setdefault((a.size, a.dtype), []).append(a.reshape(-1))

    def clear(self):
        self._free.clear()
        self.nbytes = 0


_scratch = _Scratch(1 << 28)


def _padded(x, geo):
    """``x`` (N, C, H, W) zero-padded to (N, C, Hp, Wp), contiguous: ``x``
    itself when no padding is needed (then ``owned`` is False), else a
    scratch buffer the caller returns to ``_scratch``.  Returns (xpad, owned)."""
    N, C, H, W = geo.x4
    if geo.Hp == H and geo.Wp == W:
        return np.ascontiguousarray(x), False
    xpad = _scratch.get((N, C, geo.Hp, geo.Wp), x.dtype)
    pt, pl = geo.pt, geo.pl
    # zero only the border; the interior is overwritten by x
    xpad[:, :, :pt] = 0
    xpad[:, :, pt + H:] = 0
    xpad[:, :, pt:pt + H, :pl] = 0
    xpad[:, :, pt:pt + H, pl + W:] = 0
    xpad[:, :, pt:pt + H, pl:pl + W] = x
    return xpad, True


def _chunk(geo, lay, itemsize):
    N, C = geo.x4[0], geo.x4[1]
    per = C * geo.w4[2] * geo.w4[3] * lay.L * itemsize
    return max(1, min(N, geo.chunk_bytes // max(per, 1)))


def _gemm(a, b, out=None):
    """Per-group matrix product of (G, m, k) and (G, k, n) stacks, into ``out``
    (G, m, n) when given."""
    if a.shape[0] == 1:
        if out is None:
            return _pool.matmul(a[0], b[0])[None]
        _pool.matmul(a[0], b[0], out=out[0])
        return out
    return _pool.matmul(a, b, out=out)


class _WeightGrad:
    """The weight gradient summed over batch chunks, computed transposed:
    ``cols (G, K, n) @ gc^T`` is a GEMM with many rows and the long axis
    inner to both operands, which BLAS runs at 1.5-2x the rate of the
    natural ``gc (G, O/G, n) @ cols^T`` (few rows, long reduction; measured
    with OpenBLAS: 41 vs 80 GFLOP/s on ResNet's 16x144x3258 shape)."""

    def __init__(self, geo, dtype):
        O, Cg, kh, kw = geo.w4
        self.geo = geo
        self.t = np.zeros((geo.G, Cg * kh * kw, O // geo.G), dtype=dtype)
        self.first = True

    def add(self, gc, cols):
        if self.first:
            _gemm(cols, gc.transpose(0, 2, 1), self.t)
            self.first = False
        else:
            part = _gemm(cols, gc.transpose(0, 2, 1), _scratch.get(self.t.shape, self.t.dtype))
            self.t += part
            _scratch.put(part)

    def result(self):
        return np.ascontiguousarray(self.t.transpose(0, 2, 1)).reshape(self.geo.w_shape)


def _g_cols(g4, geo, lay, n0, n1):
    """Output gradient chunk as the GEMM's (G, O/G, n*L) operand of layout
    ``lay``, in a scratch buffer (zero in the wide layout's garbage columns)."""
    n = n1 - n0
    N, O, Ho, Wo = geo.y4
    gc = _scratch.get((O, n * lay.L), g4.dtype)
    if lay.wide:
        Wp, L, it = geo.Wp, geo.L, gc.itemsize
        if Ho > 1 and Wp > Wo:
            # the garbage columns: the last Wp - Wo of every output row but the last
            np.ndarray((O, n, Ho - 1, Wp - Wo), gc.dtype, gc, Wo * it,
                       (n * L * it, L * it, Wp * it, it))[...] = 0
        _y_view(gc, geo, lay, n)[...] = g4[n0:n1]
    else:
        gc.reshape(O, n, Ho, Wo)[...] = g4[n0:n1].transpose(1, 0, 2, 3)
    return gc.reshape(geo.G, O // geo.G, n * lay.L)


# Column elements per thread below which a compiled im2col/col2im stays on one thread.
_PASS_GRAIN = 1 << 15


def _im2col(src, geo, lay, n0, n1, k):
    """Samples n0:n1 as the (G, Cg*kh*kw, n*L) GEMM operand of layout ``lay``,
    in a scratch buffer: with compiled kernels ``k`` one pass over the
    unpadded input ``src``, else a copy of the strided view of padded ``src``."""
    O, Cg, kh, kw = geo.w4
    n = n1 - n0
    if k is not None:
        C, Ho, Wo = geo.x4[1], geo.y4[2], geo.y4[3]
        cols = _scratch.get((C * kh * kw, n, Ho, Wo), src.dtype)
        row = n * Ho * Wo
        H, W = geo.x4[2], geo.x4[3]
        xf, cf = src.reshape(-1), cols.reshape(-1)
        _pool.parallel_for(lambda r0, r1: k.im2col(xf, cf, C, H, W, n0, n, Ho, Wo, kh, kw,
                                                   geo.sh, geo.sw, geo.dh, geo.dw, geo.pt,
                                                   geo.pl, r0, r1),
                           C * kh * kw, grain=max(1, _PASS_GRAIN // max(row, 1)))
    else:
        v = _cols_view(src, geo, n0, n1)
        cols = _scratch.get(v.shape, src.dtype)
        np.copyto(cols, v)
    return cols.reshape(geo.G, Cg * kh * kw, n * lay.L)


def _col2im(dcols, gx, geo, n0, n1, k):
    """gx (N, C, H, W) += the columns ``dcols`` (G, Cg*kh*kw, n*L, compact) of
    samples n0:n1 sent back to the input positions they came from."""
    N, C, H, W = geo.x4
    kh, kw, Ho, Wo = geo.w4[2], geo.w4[3], geo.y4[2], geo.y4[3]
    n = n1 - n0
    d, gf = dcols.reshape(-1), gx.reshape(-1)
    per = n * kh * kw * Ho * Wo
    _pool.parallel_for(lambda c0, c1: k.col2im(d, gf, C, H, W, n0, n, Ho, Wo, kh, kw, geo.sh,
                                               geo.sw, geo.dh, geo.dw, geo.pt, geo.pl, c0, c1),
                       C, grain=max(1, _PASS_GRAIN // max(per, 1)))


@KERNELS.register
def conv2d_apply(x, w, geo, g=None, need_y=True, bias=None, keep_cols=False):
    """Run the im2col GEMMs over ``x``: the forward output ``y`` (if
    ``need_y``), and, when output gradient ``g`` is given, the weight
    gradient.  Returns (y, gw, kept): with ``keep_cols`` the im2col chunks,
    for ``conv2d_scatter(cols=kept)``, which recycles them; else None."""
    N, C, H, W = geo.x4
    O, Cg, kh, kw = geo.w4
    G = geo.G
    K = Cg * kh * kw
    x = x.reshape(geo.x4)
    k = _jit.kernels_for(x.dtype)
    lay = _layout(geo, k)
    if k is not None:
        xpad, owned = np.ascontiguousarray(x), False
    else:
        xpad, owned = _padded(x, geo)
    y = gw = None
    if need_y:
        y = np.empty(geo.y4, dtype=x.dtype)
        wm = w.reshape(G, O // G, K)
    if g is not None:
        g = g.reshape(geo.y4)
        gw = _WeightGrad(geo, x.dtype)
    nb = _chunk(geo, lay, x.itemsize)
    kept = None
    if keep_cols:
        kept = _Kept()
        kept.lay = lay
    for n0 in range(0, N, nb):
        n1 = min(N, n0 + nb)
        n = n1 - n0
        cols = _im2col(xpad, geo, lay, n0, n1, k)
        if need_y:
            yc = _gemm(wm, cols, _scratch.get((G, O // G, n * lay.L), x.dtype))
            yv = _y_view(yc.reshape(O, n * lay.L), geo, lay, n)
            if bias is not None:
                np.add(yv, bias.reshape(1, O, 1, 1), out=y[n0:n1])
            else:
                y[n0:n1] = yv
            _scratch.put(yc)
        if g is not None:
            gc = _g_cols(g, geo, lay, n0, n1)
            gw.add(gc, cols)
            _scratch.put(gc)
        if kept is not None:
            kept.append(cols)
        else:
            _scratch.put(cols)
    if owned:
        _scratch.put(xpad)
    if y is not None:
        y = y.reshape(geo.y_shape)
    if gw is not None:
        gw = gw.result()
    return y, gw, kept


@KERNELS.register
def conv2d_scatter(g, w, geo, x=None, need_x=True, cols=None):
    """The col2im side: the input gradient of a conv (== a transposed conv
    of ``g``), and, when conv input ``x`` (or its im2col chunks ``cols``
    kept by ``conv2d_apply``, which this recycles) is given, the weight
    gradient too.  Returns (gx, gw)."""
    N, C, H, W = geo.x4
    O, Cg, kh, kw = geo.w4
    G = geo.G
    K = Cg * kh * kw
    g = g.reshape(geo.y4)
    dt = g.dtype
    k = _jit.kernels_for(dt)
    lay = _layout(geo, k)
    # the weight gradient's columns: kept ones in the layout they were built
    # in (the kernels may have been switched since), else built here
    lay_w = cols.lay if cols is not None else lay
    wt = w.reshape(G, O // G, K).transpose(0, 2, 1)
    gw = gxp = gx = xpad = None
    owned = False
    if x is not None or cols is not None:
        gw = _WeightGrad(geo, dt)
        if cols is None:
            if k is not None:
                xpad = np.ascontiguousarray(x.reshape(geo.x4))
            else:
                xpad, owned = _padded(x.reshape(geo.x4), geo)
    if need_x:
        if k is not None:
            gx = np.zeros(geo.x4, dtype=dt)
        else:
            gxp = np.zeros((N, C, geo.Hp, geo.Wp), dtype=dt)
    nb = _chunk(geo, lay_w, g.itemsize)
    for i, n0 in enumerate(range(0, N, nb)):
        n1 = min(N, n0 + nb)
        n = n1 - n0
        gc = _g_cols(g, geo, lay_w, n0, n1)
        if gw is not None:
            c = cols[i] if cols is not None else _im2col(xpad, geo, lay, n0, n1, k)
            gw.add(gc, c)
            _scratch.put(c)
        if need_x:
            if lay_w is not lay:
                _scratch.put(gc)
                gc = _g_cols(g, geo, lay, n0, n1)
            dcols = _gemm(wt, gc, _scratch.get((G, K, n * lay.L), dt))
            if k is not None:
                _col2im(dcols, gx, geo, n0, n1, k)
            else:
                target = _cols_view(gxp, geo, n0, n1)
                d = dcols.reshape(target.shape)
                # windows overlap across kernel offsets, so add one offset at a time
                # (each a single vectorised add over all channels, samples, pixels)
                for a in range(kh):
                    for b in range(kw):
                        t = target[:, a, b]
                        t += d[:, a, b]
            _scratch.put(dcols)
        _scratch.put(gc)
    if owned:
        _scratch.put(xpad)
    if need_x:
        if gx is None:
            gx = gxp
            if geo.Hp != H or geo.Wp != W:
                gx = gxp[:, :, geo.pt:geo.pt + H, geo.pl:geo.pl + W]
        gx = gx.reshape(geo.x_shape)
    if gw is not None:
        gw = gw.result()
    return gx, gw
