"""Convolutions on the CPU: im2col buffers built from strided views of NumPy
memory, recycled scratch arrays, and GEMMs split over the intra-op threads.

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
"""
import numpy as np

from .._table import CPU as KERNELS
from . import _pool


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


def _y_view(yc, geo, n):
    """The real outputs inside contiguous GEMM result ``yc`` (O, n*L), as (n, O, Ho, Wo)."""
    it = yc.itemsize
    O, Ho, Wo = geo.y4[1], geo.y4[2], geo.y4[3]
    L = geo.L
    return np.ndarray((n, O, Ho, Wo), yc.dtype, yc, 0, (L * it, n * L * it, geo.row * it, it))


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


def _chunk(geo, itemsize):
    N, C = geo.x4[0], geo.x4[1]
    per = C * geo.w4[2] * geo.w4[3] * geo.L * itemsize
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


def _g_cols(g4, geo, n0, n1):
    """Output gradient chunk as the GEMM's (G, O/G, n*L) operand, in a scratch
    buffer (zero in the wide layout's garbage columns)."""
    n = n1 - n0
    N, O, Ho, Wo = geo.y4
    gc = _scratch.get((O, n * geo.L), g4.dtype)
    if geo.wide:
        Wp, L, it = geo.Wp, geo.L, gc.itemsize
        if Ho > 1 and Wp > Wo:
            # the garbage columns: the last Wp - Wo of every output row but the last
            np.ndarray((O, n, Ho - 1, Wp - Wo), gc.dtype, gc, Wo * it,
                       (n * L * it, L * it, Wp * it, it))[...] = 0
        _y_view(gc, geo, n)[...] = g4[n0:n1]
    else:
        gc.reshape(O, n, Ho, Wo)[...] = g4[n0:n1].transpose(1, 0, 2, 3)
    return gc.reshape(geo.G, O // geo.G, n * geo.L)


def _im2col(xpad, geo, n0, n1):
    """Samples n0:n1 of padded ``xpad`` as the (G, Cg*kh*kw, n*L) GEMM operand,
    copied into a scratch buffer."""
    v = _cols_view(xpad, geo, n0, n1)
    cols = _scratch.get(v.shape, xpad.dtype)
    np.copyto(cols, v)
    O, Cg, kh, kw = geo.w4
    return cols.reshape(geo.G, Cg * kh * kw, (n1 - n0) * geo.L)


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
    xpad, owned = _padded(x, geo)
    y = gw = None
    if need_y:
        y = np.empty(geo.y4, dtype=x.dtype)
        wm = w.reshape(G, O // G, K)
    if g is not None:
        g = g.reshape(geo.y4)
        gw = np.zeros((G, O // G, K), dtype=x.dtype)
    nb = _chunk(geo, x.itemsize)
    kept = [] if keep_cols else None
    for n0 in range(0, N, nb):
        n1 = min(N, n0 + nb)
        n = n1 - n0
        cols = _im2col(xpad, geo, n0, n1)
        if need_y:
            yc = _gemm(wm, cols, _scratch.get((G, O // G, n * geo.L), x.dtype))
            yv = _y_view(yc.reshape(O, n * geo.L), geo, n)
            if bias is not None:
                np.add(yv, bias.reshape(1, O, 1, 1), out=y[n0:n1])
            else:
                y[n0:n1] = yv
            _scratch.put(yc)
        if g is not None:
            gc = _g_cols(g, geo, n0, n1)
            gw += _gemm(gc, cols.transpose(0, 2, 1))
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
        gw = gw.reshape(geo.w_shape)
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
    wt = w.reshape(G, O // G, K).transpose(0, 2, 1)
    gw = gxp = xpad = None
    owned = False
    if x is not None or cols is not None:
        gw = np.zeros((G, O // G, K), dtype=dt)
        if cols is None:
            xpad, owned = _padded(x.reshape(geo.x4), geo)
    if need_x:
        gxp = np.zeros((N, C, geo.Hp, geo.Wp), dtype=dt)
    nb = _chunk(geo, g.itemsize)
    for k, n0 in enumerate(range(0, N, nb)):
        n1 = min(N, n0 + nb)
        n = n1 - n0
        gc = _g_cols(g, geo, n0, n1)
        if gw is not None:
            c = cols[k] if cols is not None else _im2col(xpad, geo, n0, n1)
            gw += _gemm(gc, c.transpose(0, 2, 1))
            _scratch.put(c)
        if need_x:
            target = _cols_view(gxp, geo, n0, n1)
            dcols = _gemm(wt, gc, _scratch.get((G, K, n * geo.L), dt))
            d = dcols.reshape(target.shape)
            # windows overlap across kernel offsets, so add one offset at a time
            # (each a single vectorised add over all channels, samples, pixels)
            for i in range(kh):
                for j in range(kw):
                    t = target[:, i, j]
                    t += d[:, i, j]
            _scratch.put(dcols)
        _scratch.put(gc)
    if owned:
        _scratch.put(xpad)
    gx = None
    if need_x:
        if geo.Hp != H or geo.Wp != W:
            gxp = gxp[:, :, geo.pt:geo.pt + H, geo.pl:geo.pl + W]
        gx = gxp.reshape(geo.x_shape)
    if gw is not None:
        gw = gw.reshape(geo.w_shape)
    return gx, gw
