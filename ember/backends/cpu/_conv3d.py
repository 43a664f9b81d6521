"""3-D convolutions on the CPU: the direct kernel over the padded volume.

A 3-D convolution otherwise runs as the 2-D convolution of its depth
windows (``ember.nn.functional.conv._Geo3``): the input's kd depth slices
per output slice copied side by side as channels, a 2-D conv over them,
and the output transposed back.  Where the direct kernel applies (float32,
stride 1, one group, a host with 512-bit vectors, the compiled kernels on:
``_applies``), these kernels skip all of that: the input is zero-padded
once (one compiled pass, ``_numba3d.pad_volumes``) and the kernel sums
its kd*kh*kw*C shifted runs in registers, writing the output in place
(``_numba3d``'s docstring).  The input gradient of such a conv is this
forward again, over the output gradient with the rotated kernel (the
caller builds that geometry); the weight gradient is the direct weight
gradient over the padded volume the forward kept.

The kernels return None where they do not apply; the caller then takes
the depth-window path (the generic table's versions always return None).
"""
import numpy as np

from .._table import CPU as KERNELS
from . import _jit, _pool
from ._conv import (_scratch, _direct_wgrad_sum, _has_wide_vectors, _all_finite, _BLK_O, _BLK_P,
                    _DIRECT_OUT_BYTES, _DIRECT_WGRAD_BYTES, _DIRECT_THIN_K, _DIRECT_THIN_O,
                    _TILE_GRAIN, _PASS_GRAIN)

_DIRECT3 = True      # (a switch for tests and measurements)
_UNFOLD_WASTE = 0.1  # unfold along w when more columns than this per output are dropped
# The direct weight gradient loads and stores each block's 16 sums once per
# tile, and lays the tile's output gradient out padded: a tile costs about
# this many positions more (one core, bench/workloads.py cnn3d's weight
# gradients: slabs of one slice 2.17 / 2.26 ms, whole samples, 1.12 / 1.22x
# the positions, 1.41 / 1.52 ms)
_WGRAD_TILE_COST = 512
_k3 = None


def _kernels():
    """The compiled 3-D kernels (``_numba3d``), imported on first use."""
    global _k3
    if _k3 is None:
        from . import _numba3d
        _k3 = _numba3d
    return _k3


def _applies(geo, dtype):
    """Whether the direct kernel computes the conv of ``geo`` (a ``_Geo3``)."""
    p = geo.plane
    if not _DIRECT3 or dtype != np.float32 or p.G != 1 or geo.sd != 1 or p.sh != 1 \
            or p.sw != 1 or 0 in geo.x5 or 0 in geo.y5 or 0 in geo.w5:
        return False
    O, C, kd, kh, kw = geo.w5
    if C * kd * kh * kw < _DIRECT_THIN_K and O > _DIRECT_THIN_O:
        return False    # (a thin sum for many outputs: BLAS on columns wins, as in 2-D)
    return _jit.kernels_for(dtype) is not None and _has_wide_vectors()


class _Vol:
    """The padded-volume layout of a stride-1 3-D conv, and its tiles.

    Rows are ``Wr`` wide: the padded width Wp, or, unfolded along w
    (``copies`` = kw shifted copies of the volume, ``_numba3d.pad_volumes``),
    the output width Wo, so that no column of a row is computed and dropped;
    the copies cost kw passes over the input where the dropped columns cost
    (Wp - Wo) / Wo of the whole sum (unfolded when that is over
    ``_UNFOLD_WASTE``)."""
    __slots__ = ("N", "C", "D", "H", "W", "O", "Do", "Ho", "Wo", "Dp", "Hp", "Wr", "pf", "pt",
                 "pl", "dw", "copies", "plane", "sample", "offs", "fwd", "wgrad")

    def __init__(self, geo):
        p = geo.plane
        self.N, self.C, self.D, self.H, self.W = geo.x5
        O, C, kd, kh, kw = geo.w5
        self.O = O
        _, _, self.Do, self.Ho, self.Wo = geo.y5
        dd, dh, dw = geo.dd, p.dh, p.dw
        # (stride 1: the padded extent is the output's plus the dilated kernel's)
        self.Dp = self.Do + dd * (kd - 1)
        self.Hp = self.Ho + dh * (kh - 1)
        Wp = self.Wo + dw * (kw - 1)
        self.pf, self.pt, self.pl, self.dw = geo.pf, p.pt, p.pl, dw
        unfold = kw > 1 and (Wp - self.Wo) > _UNFOLD_WASTE * self.Wo
        self.copies = kw if unfold else 1
        self.Wr = self.Wo if unfold else Wp
        self.plane = self.Hp * self.Wr
        vol = self.Dp * self.plane
        self.sample = C * self.copies * vol
        c = np.arange(C, dtype=np.int64).reshape(C, 1, 1, 1) * (self.copies * vol)
        a = np.arange(kd, dtype=np.int64).reshape(kd, 1, 1) * (dd * self.plane)
        b = np.arange(kh, dtype=np.int64).reshape(kh, 1) * (dh * self.Wr)
        e = np.arange(kw, dtype=np.int64) * (vol if unfold else dw)
        self.offs = (c + a + b + e).reshape(-1)
        O8 = -(-O // _BLK_O) * _BLK_O
        O4 = -(-O // 4) * 4
        self.fwd = self._tiles(_DIRECT_OUT_BYTES // (O8 * 4), _BLK_P, 0)
        self.wgrad = self._tiles(_DIRECT_WGRAD_BYTES // (O4 * 4), 16, _WGRAD_TILE_COST)

    def _tiles(self, room, blk, per_tile):
        """Tiles (n, d0, d1) of slabs of equal depth whose padded positions
        (rounded up to ``blk``) fit in ``room``, the depth that computes
        the fewest positions in all (the dropped rows and the rounding),
        counting ``per_tile`` more for each tile."""
        def width(nd):
            T = (nd - 1) * self.plane + (self.Ho - 1) * self.Wr + self.Wo
            return -(-T // blk) * blk
        best = None
        for nd in range(1, self.Do + 1):
            if nd > 1 and width(nd) > room:
                break
            nb = -(-self.Do // nd)
            if -(-self.Do // nb) != nd:
                continue        # (only depths that split Do into equal slabs)
            cost = nb * (width(nd) + per_tile)
            if best is None or cost < best[0]:
                best = (cost, nd)
        nd = best[1]
        d0 = np.arange(0, self.Do, nd, dtype=np.int64)
        one = np.stack([d0, np.minimum(d0 + nd, self.Do)], axis=1)
        n = np.repeat(np.arange(self.N, dtype=np.int64), len(d0)).reshape(-1, 1)
        return np.ascontiguousarray(np.concatenate([n, np.tile(one, (self.N, 1))], axis=1))


_VOLS = {}      # _Vol by geometry: made once, read-only (the same few recur every step)


def _vol(geo):
    p = geo.plane
    key = (geo.x5, geo.w5, geo.y5, geo.dd, p.dh, p.dw, geo.pf, p.pt, p.pl, _UNFOLD_WASTE)
    v = _VOLS.get(key)
    if v is None:
        if len(_VOLS) >= 256:
            _VOLS.clear()
        v = _VOLS[key] = _Vol(geo)
    return v


class _PaddedVolume:
    """The padded input a direct forward built, kept for its weight gradient
    (``buf``: the scratch buffer holding it, room for the kernel's reads
    past the end included)."""
    __slots__ = ("buf",)

    def __init__(self, buf):
        self.buf = buf

    def release(self):
        if self.buf is not None:
            _scratch.put(self.buf)
            self.buf = None


def _padded(x, v, k3):
    """x (N, C, D, H, W) zero-padded into a scratch buffer, with ``_BLK_P``
    zeros after it (the kernels read up to a block past a tile's end)."""
    n = v.N * v.sample
    buf = _scratch.get((n + _BLK_P,), x.dtype)
    buf[n:] = 0
    xf = np.ascontiguousarray(x).reshape(-1)
    vols = v.N * v.C
    args = (v.D, v.H, v.W, v.Dp, v.Hp, v.Wr, v.pf, v.pt, v.pl, v.copies, v.dw)
    _pool.parallel_for(lambda a, b: k3.pad_volumes(xf, buf, *args, a, b), vols,
                       grain=max(1, _PASS_GRAIN // max(v.sample // max(v.C, 1), 1)))
    return buf


def _split(tiles, work, kernel):
    """``kernel(t0, t1)`` over the tiles, split between the threads
    (``work``: the conv's multiply-adds)."""
    n = len(tiles)
    _pool.parallel_for(kernel, n, grain=max(1, _TILE_GRAIN * n // max(work, 1)))


@KERNELS.register
def conv3d_direct(x, w, geo, bias=None, keep=False):
    """y = conv3d(x, w) + bias for the geometry ``geo`` (a ``_Geo3``) by the
    direct kernel: (y (N, O, Do, Ho, Wo), kept) where kept is the padded
    input for ``conv3d_direct_wgrad`` when ``keep``, else None.  None where
    the kernel does not apply."""
    if not _applies(geo, x.dtype) or w.dtype != x.dtype:
        return None
    k3 = _kernels()
    v = _vol(geo)
    O, K = v.O, v.offs.size
    dt = x.dtype
    buf = _padded(x, v, k3)
    O8 = -(-O // _BLK_O) * _BLK_O
    # the weight by blocks of 8 output channels: wp[b, k, o] = w[8b + o, k]
    wp = np.zeros((O8, K), dt)
    wp[:O] = w.reshape(O, K)
    wp = np.ascontiguousarray(wp.reshape(O8 // _BLK_O, _BLK_O, K).transpose(0, 2, 1))
    b = np.empty(0, dt) if bias is None else np.ascontiguousarray(bias, dtype=dt).reshape(-1)
    y = np.empty(geo.y5, dtype=dt)
    yf = y.reshape(-1)
    tiles = v.fwd
    TP = -(-int((tiles[0, 2] - tiles[0, 1] - 1) * v.plane + (v.Ho - 1) * v.Wr + v.Wo)
           // _BLK_P) * _BLK_P
    args = (v.sample, v.plane, v.Wr, O, v.Do, v.Ho, v.Wo)

    def part(t0, t1):
        out = _scratch.get((O8 * TP,), dt)
        try:
            k3.conv3d_direct_forward(buf, wp, v.offs, b, yf, out, tiles, t0, t1, *args)
        finally:
            _scratch.put(out)
    try:
        _split(tiles, v.N * O * v.Do * v.Ho * v.Wo * K, part)
    except BaseException:
        _scratch.put(buf)
        raise
    if keep:
        return y, _PaddedVolume(buf)
    _scratch.put(buf)
    return y, None


@KERNELS.register
def conv3d_direct_wgrad(x, g, geo, kept=None):
    """The weight gradient (O, C, kd, kh, kw) of the conv of ``geo`` with
    input ``x`` and output gradient ``g``, by the direct kernel, over the
    padded input ``conv3d_direct`` kept (``kept``, released here either
    way) or one built here.  None where the kernel does not apply."""
    try:
        if not _applies(geo, g.dtype) or x is None or x.dtype != g.dtype:
            return None
        k3 = _kernels()
        if not _all_finite(_jit.kernels_for(x.dtype), np.ascontiguousarray(x).reshape(-1)):
            # the sums also multiply the input at dropped positions by zeros:
            # an inf there would make a NaN torch never computes
            return None
        v = _vol(geo)
        if kept is not None and kept.buf is not None:
            buf, kept.buf = kept.buf, None
        else:
            buf = _padded(x, v, k3)
    finally:
        if kept is not None:
            kept.release()
    tiles = v.wgrad
    TP = -(-int((tiles[0, 2] - tiles[0, 1] - 1) * v.plane + (v.Ho - 1) * v.Wr + v.Wo) // 16) * 16
    try:
        gw = _direct_wgrad_sum(k3.conv3d_direct_wgrad, buf, g, v.offs, tiles, v.O, TP,
                               lambda part, work: _split(tiles, work, part),
                               (v.sample, v.plane, v.Wr, v.O, v.Do, v.Ho, v.Wo))
    finally:
        _scratch.put(buf)
    return gw.reshape(geo.w_shape)
