"""Convolutions on the CPU, on one of three paths:

* *tiled* (the compiled kernels on, and NumPy's BLAS callable from compiled
  code, ``_tiled``): the convolution as cache-sized tiles, each an im2col
  buffer of a band of output rows (or a few small images) built in L2 and
  multiplied there by single-thread BLAS (``_numba.conv_tiles_*``; for
  float32 with AVX-512, or thin products with AVX2, by the direct kernel's
  register blocks, see ``_TILE_BLOCKS``); or, for
  stride-1 convs with 8-64 channels per group, as shifted GEMMs over the
  padded input with no im2col at all (``_numba.conv_shift_*``); or, for
  float32 on a CPU with AVX-512 where it measured faster (``_direct``),
  by the *direct* kernels, which read the padded input as the shifted
  GEMMs do but keep each block of sums in vector registers instead of
  calling BLAS (``_numba.conv_direct_*``).  The threads split the tiles
  by whole samples.  The forward keeps for the weight gradient what it
  built (the tiles' columns, or the padded input), when the op asks
  (``keep_cols``).  See "the tiled path" below.  A 3x3 stride-1 conv
  with 16+ channels (float32; float64 64+) runs instead as Winograd
  F(2x2, 3x3) (``_winograd``: 16 GEMMs between two compiled transforms,
  2.25x fewer multiplies), and
  so does its weight gradient where that measured faster
  (``_winograd.use_wgrad``; else one of the paths above, building its own
  operands).
* *chunked* (compiled kernels, BLAS not callable from them) and *NumPy*:
  one GEMM per group and batch chunk over an *im2col* buffer, described
  next.

``conv2d_apply`` / ``conv2d_scatter`` on the chunked and NumPy paths
compute one convolution (geometry ``geo``, see ``ember.nn.functional.conv``)
as one GEMM per group and batch chunk over an *im2col* buffer whose columns
follow ``geo``'s layout:

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
import math

import numpy as np

from .._table import CPU as KERNELS
from . import _jit, _pool, _winograd


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


def _padded(x, geo, out=None):
    """``x`` (N, C, H, W) zero-padded to (N, C, Hp, Wp), contiguous: ``x``
    itself when no padding is needed (then ``owned`` is False), else a
    scratch buffer the caller returns to ``_scratch``, or ``out`` when
    given (always written).  Returns (xpad, owned)."""
    N, C, H, W = geo.x4
    if out is None and geo.Hp == H and geo.Wp == W:
        return np.ascontiguousarray(x), False
    xpad = _scratch.get((N, C, geo.Hp, geo.Wp), x.dtype) if out is None else out
    owned = out is None
    pt, pl = geo.pt, geo.pl
    k = _jit.kernels_for(x.dtype)
    if k is not None:
        # one compiled pass (NumPy's five slice assignments below pass over
        # the buffer twice), split by planes over the threads
        # (as native jobs: no GIL hand-off)
        xf, pf = np.ascontiguousarray(x).reshape(-1), xpad.reshape(-1)
        Hp, Wp = geo.Hp, geo.Wp
        if pf.dtype != xf.dtype or not _plane_pass(k.pad_planes_run, N * C, Hp * Wp, xf, pf, H,
                                                   W, Hp, Wp, pt, pl):
            k.pad_planes(xf, pf, H, W, Hp, Wp, pt, pl, 0, N * C, pf.dtype.type(0))
        return xpad, owned
    # zero only the border; the interior is overwritten by x
    xpad[:, :, :pt] = 0
    xpad[:, :, pt + H:] = 0
    xpad[:, :, pt:pt + H, :pl] = 0
    xpad[:, :, pt:pt + H, pl + W:] = 0
    xpad[:, :, pt:pt + H, pl:pl + W] = x
    return xpad, owned


def _plane_pass(run, planes, plane_size, *args):
    """A plane copy's ``_numba.*_run`` split over the threads as native jobs
    when each thread gets ``_PASS_GRAIN`` elements of output; False (nothing
    done) when it stays on this thread."""
    parts = min(_pool.get_num_threads(), planes // max(1, _PASS_GRAIN // max(plane_size, 1)))
    return parts > 1 and _pool.run_native(run, parts, _jit.module().pass_address(), *args)


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
                                                   geo.pl, r0, r1, cols.dtype.type(0)),
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


# ---- the tiled path: im2col + GEMM per cache-sized tile, in compiled code -------------
# With the compiled kernels and NumPy's BLAS callable from them, a convolution
# runs as tiles (see ember/backends/cpu/_numba.py, conv_tiles_*): the columns
# of a few output rows (or a few small images) at a time, built in a buffer
# that stays in L2 and multiplied there, the GEMM writing straight into the
# NCHW output.  No batch-sized column buffer, no transposed copies of the
# output or its gradient, and the weight gradient rebuilds its columns tile by
# tile instead of keeping the forward's.  The tiles are split between the
# intra-op threads by whole samples; each thread has its own buffers (and, for
# the weight gradient, its own partial sum, added up at the end).

# Tile sizes, measured with NumPy's OpenBLAS on an AMD EPYC: its sgemm runs a
# product of M*N*K <= ~1e6 without packing its operands, at ~110 GFLOP/s
# where the packed path reaches 40-90 (ResNet's 16-channel layers: 40).  So a
# tile takes as many columns as keep the per-group product under _SMALL_MNK;
# when even _TILE_MIN columns would not (wide layers), it takes columns worth
# _TILE_BYTES, well inside a core's L2, and the packed path runs at its best.
_SMALL_MNK = 1000000
_TILE_MIN = 64
_TILE_BYTES = 1 << 18
# ... but at least this many columns (positions): on the deepest layers (K =
# 4608, ResNet-18-width's 512-channel 4x4 convs, batch 32) the forward ran
# 29.2-32.1 ms with 128, 27.3-27.9 with 512 (fewer, larger products); the
# weight gradient and the other wide layers (256-channel 8x8, the strided
# ones, 1x1 shortcuts, ResNet's 64-channel 8x8) the same within noise.
_TILE_WIDE_MIN = 512
# ... but that unpacked path is the one of OpenBLAS's AVX-512 kernels; its
# Haswell/Zen ones (CPUs without AVX-512) pack every product, so there a few
# samples in one small tile only add copies: the forward's output out of the
# tile, and the weight gradient's gather of the output gradient into it (one
# sample's is read where it lies).  There a sample of at least this many
# positions is a tile of its own (or its bands).  One Zen 3 core, ms,
# forward / input gradient / weight gradient, grouped -> one sample, best of
# 7 alternating, loaded: ResNet's stem 1.26 / - / 1.20 -> 1.13 / - / 0.89;
# its 1x1 16->32 shortcut (7 samples per tile) 0.50 / 0.60 / 0.50 -> 0.47 /
# 0.57 / 0.22, its 32->64 one 0.27 / 0.33 / 0.25 -> 0.28 / 0.24 / 0.19;
# LeNet's 1-channel 5x5 conv 1.03 / 1.12 / 1.18 -> 0.98 / 0.99 / 0.94.  (Not
# the wide layers' tiles, of _TILE_WIDE_MIN columns: ResNet's 32->64 strided
# conv, 8 samples of 64 positions per tile, forward 1.68 -> 2.30 as one.)
_OWN_TILE_POSITIONS = 64
# ... and as those kernels pack every product, _SMALL_MNK's bound (the
# products OpenBLAS's AVX-512 kernels run unpacked) does not hold there:
# products _PACKED_MNK_SCALE times as large pay the packing's fixed cost
# less often.  Of the workloads' layers only ResNet's strided 3x3 convs'
# tiles change: the 16 -> 32 one's bands of 128 columns become whole samples
# of 256, the 32 -> 64 one's wide tiles of 8 samples become one sample each
# (the other layers' tiles are whole samples or wide either way).  One loaded
# Zen 3 core, CPU time, ms, forward + weight gradient / input gradient: the
# 16 -> 32 conv 5.78 / 2.25 -> 5.39 / 2.44 (median of 11 alternating); the
# 32 -> 64 one 4.24 / 1.86 -> 3.94 / 1.77, its forward 1.99 -> 1.86 (median
# of 15; unlike the one-sample tiles of the wide rule above, measured 1.68
# -> 2.30 on that forward).
_PACKED_MNK_SCALE = 2


def _own_tile_positions():
    """The positions of a sample that makes it a small tile of its own."""
    return (1 << 62) if _has_wide_vectors() else _OWN_TILE_POSITIONS


def _small_mnk():
    """The largest product a small tile makes (see ``_SMALL_MNK``)."""
    return _SMALL_MNK if _has_wide_vectors() else _SMALL_MNK * _PACKED_MNK_SCALE


# Multiply-adds per thread below which a convolution stays on one thread.
_TILE_GRAIN = 1 << 20
# Up to this many tiles, _Tiles._bands builds its table from a Python list.
_FEW_TILES = 16


def _tiled(dtype):
    """(compiled kernels, address of BLAS ?gemm) for the tiled path, or None."""
    k = _jit.kernels_for(dtype)
    if k is None:
        return None
    fn = _pool.gemm_address(dtype)
    return None if fn is None else (k, fn)


class _Tiles:
    """The tiles of a geometry: ``rows`` (n, 4) int64 of (s0, s1, h0, h1);
    ``starts``: the first tile of each *unit* (a run of tiles covering whole
    samples, the grain of the thread split) and the end; ``cols``: the
    largest tile's column count.  ``shift``: tiles for the shifted-GEMM
    kernels (bands of one sample, columns counted in the wide layout)."""

    def __init__(self, geo, Kg, itemsize, shift=False):
        N = geo.x4[0]
        Og = geo.w4[0] // geo.G
        Ho, Wo = geo.y4[2], geo.y4[3]
        L = Ho * Wo
        if shift:
            Cg = geo.x4[1] // geo.G
            want = max(_SMALL_MNK // max(Og * Cg, 1), 4 * _TILE_MIN)
            Wq = _phase_shape(geo)[2]
            nh = max(1, min(Ho, (want - Wo) // Wq + 1))
            nh = self._bands(N, Ho, nh)
            self.cols = (nh - 1) * Wq + Wo
            return
        want = _small_mnk() // max(Og * Kg, 1)
        small = want >= _TILE_MIN
        if not small:
            want = max(_TILE_WIDE_MIN, _TILE_BYTES // max(Kg * geo.G * itemsize, 1))
        if L >= want or N == 1 or (small and L >= _own_tile_positions()):
            # bands of rows of one sample (a sample is one unit)
            nh = max(1, min(Ho, want // max(Wo, 1)))
            nh = self._bands(N, Ho, nh)
            self.cols = nh * Wo
        else:
            # several whole samples per tile (each tile is a unit)
            n = max(1, min(N, want // max(L, 1)))
            s0 = np.arange(0, N, n, dtype=np.int64)
            z = np.zeros_like(s0)
            self.rows = np.stack([s0, np.minimum(s0 + n, N), z, z + Ho], axis=1)
            self.starts = np.arange(len(s0) + 1, dtype=np.int64)
            self.cols = n * L

    def _bands(self, N, Ho, nh):
        """Bands of at most ``nh`` rows of each sample; returns the band height."""
        nb = -(-Ho // nh)
        nh = -(-Ho // nb)       # (bands of equal height: no thin last band)
        nb = -(-Ho // nh)
        if N * nb <= _FEW_TILES:
            # (a few tiles, e.g. batch-1 inference: one list is ~8 us cheaper
            # than the five NumPy calls below, a tenth of a small conv's time)
            self.rows = np.array([(s, s + 1, h0, min(h0 + nh, Ho))
                                  for s in range(N) for h0 in range(0, Ho, nh)], dtype=np.int64)
            self.starts = np.array(range(0, N * nb + 1, nb), dtype=np.int64)
            return nh
        s = np.repeat(np.arange(N, dtype=np.int64), nb)
        h0 = np.tile(np.arange(0, Ho, nh, dtype=np.int64), N)
        self.rows = np.stack([s, s + 1, h0, np.minimum(h0 + nh, Ho)], axis=1)
        self.starts = np.arange(0, N * nb + 1, nb, dtype=np.int64)
        return nh

    def offsets(self, K, Wo):
        """Where each tile's (K, T) columns start in a buffer holding every
        tile's, one after another; the last entry is the buffer's size."""
        r = self.rows
        T = (r[:, 1] - r[:, 0]) * (r[:, 3] - r[:, 2]) * Wo
        offs = np.zeros(len(r) + 1, dtype=np.int64)
        np.cumsum(T * K, out=offs[1:])
        return offs

    def run(self, kernel, work):
        """``kernel(t0, t1)`` over the tiles, split by units between the
        threads; ``work``: multiply-adds of the whole convolution."""
        units = len(self.starts) - 1
        st = self.starts
        grain = max(1, _TILE_GRAIN * units // max(work, 1))
        _pool.parallel_for(lambda a, b: kernel(st[a], st[b]), units, grain=grain)


# When a conv runs as shifted GEMMs (measured against the im2col tiles on the
# workloads' layers, one thread): they compute (Ho-1)*Wq + Wo columns per
# sample for Ho*Wo outputs (Wq: the padded width over the stride), so small
# images waste more than _SHIFT_WASTE; with few channels per group their
# K = C/G products are too thin, and with many (here above 64) BLAS's packed
# path on the tiles' one long-K product wins (0.75-0.9x the time on
# ResNet-18's 128-512 channel layers).  Strided convs run them no faster
# than the tiles, so by default only stride 1 does (the phase split that
# makes them work strided stays: tested, and a switch away).
_SHIFT_WASTE = 1.3
_SHIFT_MIN_CHANNELS = 8
_SHIFT_MAX_CHANNELS = 64
_SHIFT_STRIDED = False
_SHIFT_WGRAD_PIXELS = 128


def _phase_shape(geo):
    """(sh*sw, Hq, Wq): the stride phases of the padded input."""
    return geo.sh * geo.sw, -(-geo.Hp // geo.sh), -(-geo.Wp // geo.sw)


def _shifted(geo):
    """Whether a conv runs as shifted GEMMs (see _numba.conv_shift_forward)."""
    Ho, Wo = geo.y4[2], geo.y4[3]
    O, Cg, kh, kw = geo.w4
    _, _, Wq = _phase_shape(geo)
    strided = geo.sh > 1 or geo.sw > 1
    if strided and (not _SHIFT_STRIDED or kh * kw == 1):
        return False
    return Ho * Wo > 0 and _SHIFT_MIN_CHANNELS <= Cg <= _SHIFT_MAX_CHANNELS \
        and (Ho - 1) * Wq + Wo <= _SHIFT_WASTE * Ho * Wo


def _shifted_wgrad(geo):
    """Whether the weight gradient runs as shifted GEMMs: on small images their
    long, narrow products (K = a band of pixels, few outputs) lose to the
    im2col tiles' (measured: 8x8 images at 0.6-0.7x)."""
    return _shifted(geo) and geo.y4[2] * geo.y4[3] >= _SHIFT_WGRAD_PIXELS


def _phased(x, geo, out=None):
    """The zero-padded input split into its stride phases, (N, C, sh*sw, Hq,
    Wq) contiguous (see _numba's shifted GEMMs), and whether it is a scratch
    buffer the caller hands back; written into ``out`` (that shape) when
    given (then not "owned")."""
    if geo.sh == 1 and geo.sw == 1:
        return _padded(x, geo, None if out is None else out.reshape(geo.x4[:2] + (geo.Hp, geo.Wp)))
    N, C, H, W = geo.x4
    P, Hq, Wq = _phase_shape(geo)
    xq = _scratch.get((N, C, P, Hq, Wq), x.dtype) if out is None else out
    k = _jit.kernels_for(x.dtype)
    if k is not None and xq.dtype == x.dtype and xq.flags.c_contiguous:
        # one compiled pass split by planes over the threads (the NumPy copies
        # below run on one thread: ~0.3 ms of resnet's first strided conv)
        xf, qf = np.ascontiguousarray(x).reshape(-1), xq.reshape(-1)
        sh, sw, pt, pl = geo.sh, geo.sw, geo.pt, geo.pl
        if not _plane_pass(k.phase_planes_run, N * C, P * Hq * Wq, xf, qf, H, W, sh, sw, Hq, Wq,
                           pt, pl):
            k.phase_planes(xf, qf, H, W, sh, sw, Hq, Wq, pt, pl, 0, N * C, qf.dtype.type(0))
        return xq, out is None
    xq.fill(0)
    for p in range(geo.sh):
        # padded rows a*sh + p hold input rows a*sh + p - pt: the a in range
        a0 = max(0, -(-(geo.pt - p) // geo.sh))
        a1 = min(Hq, (H - 1 + geo.pt - p) // geo.sh + 1)
        for q in range(geo.sw):
            b0 = max(0, -(-(geo.pl - q) // geo.sw))
            b1 = min(Wq, (W - 1 + geo.pl - q) // geo.sw + 1)
            if a1 > a0 and b1 > b0:
                h0, w0 = a0 * geo.sh + p - geo.pt, b0 * geo.sw + q - geo.pl
                xq[:, :, p * geo.sw + q, a0:a1, b0:b1] = \
                    x[:, :, h0:h0 + (a1 - a0 - 1) * geo.sh + 1:geo.sh,
                      w0:w0 + (b1 - b0 - 1) * geo.sw + 1:geo.sw]
    return xq, out is None


# The tiles of each geometry made so far: a tile table depends only on the
# shapes (and the tile-size settings, part of the key so a test that changes
# them gets new tables), and building one takes ~10 NumPy calls, done ~16
# times per resnet step on the main thread while the pool waits.  The tables
# are only read (by the kernels and ``run``), never written.
_TILES = {}


def _tiles(geo, Kg, itemsize, shift=False):
    """``_Tiles(geo, Kg, itemsize, shift)``, made once per geometry."""
    key = (geo.x4, geo.w4, geo.y4, geo.G, geo.sh, geo.sw, geo.Hp, geo.Wp, Kg, itemsize, shift,
           _SMALL_MNK, _TILE_MIN, _TILE_WIDE_MIN, _TILE_BYTES, _FEW_TILES, _own_tile_positions())
    t = _TILES.get(key)
    if t is None:
        if len(_TILES) >= 256:
            _TILES.clear()
        t = _TILES[key] = _Tiles(geo, Kg, itemsize, shift)
    return t


def _shift_tiles(geo, itemsize):
    return _tiles(geo, 0, itemsize, shift=True)


class _PhasedInput:
    """The phased (zero-padded) input a shifted-GEMM or direct forward built,
    kept for its weight gradient, which reads the same (``xq``; ``buf``: the
    scratch buffer holding it, to hand back, or None when ``xq`` is ``x``
    itself; ``room``: whether ``buf`` has the direct kernels' room after
    ``xq``; ``x``: the conv input, as ``_TileCols.x``)."""
    __slots__ = ("xq", "buf", "x", "room")

    def __init__(self, xq, buf, x, room=False):
        self.xq, self.buf, self.x, self.room = xq, buf, x, room

    def release(self):
        if self.buf is not None:
            _scratch.put(self.buf)
        self.xq = self.buf = None


def _shift_forward(x, w, geo, bias, k, fn, keep=False):
    """y = conv(x, w) + bias as shifted GEMMs over the phased input; with
    ``keep`` also that input, as a ``_PhasedInput`` (else None)."""
    N, C, H, W = geo.x4
    O, Cg, kh, kw = geo.w4
    Ho, Wo = geo.y4[2], geo.y4[3]
    _, Hq, Wq = _phase_shape(geo)
    dt = x.dtype
    xq, owned = _phased(x, geo)
    xqf = xq.reshape(-1)
    wr = np.ascontiguousarray(w.reshape(O, Cg, kh, kw).transpose(2, 3, 0, 1)).reshape(-1, Cg)
    b = np.empty(0, dt) if bias is None else np.ascontiguousarray(bias, dtype=dt).reshape(-1)
    tiles = _shift_tiles(geo, dt.itemsize)
    y = np.empty(geo.y4, dtype=dt)
    yf = y.reshape(-1)
    one, zero = dt.type(1), dt.type(0)
    rows = tiles.rows

    def part(t0, t1):
        out = _scratch.get((O * tiles.cols,), dt)
        try:
            k.conv_shift_forward(xqf, wr, b, yf, out, rows, t0, t1, C, Hq, Wq, Ho, Wo, kh, kw,
                                 geo.sh, geo.sw, geo.dh, geo.dw, geo.G, fn, one, zero)
        finally:
            _scratch.put(out)
    try:
        tiles.run(part, N * O * Ho * Wo * Cg * kh * kw)
    finally:
        if owned and not keep:
            _scratch.put(xq)
    return y.reshape(geo.y_shape), (_PhasedInput(xq, xq if owned else None, x) if keep else None)


def _shift_wgrad(x, g, geo, k, fn, kept=None):
    """The weight gradient of a conv as shifted GEMMs over the phased input:
    the forward's (``kept``, a ``_PhasedInput``, released here) when given."""
    N, C, H, W = geo.x4
    O, Cg, kh, kw = geo.w4
    Ho, Wo = geo.y4[2], geo.y4[3]
    _, Hq, Wq = _phase_shape(geo)
    G = geo.G
    Og = O // G
    dt = g.dtype
    if kept is not None:
        xq, owned = kept.xq, False
    else:
        xq, owned = _phased(x, geo)
    xqf = xq.reshape(-1)
    gf = np.ascontiguousarray(g).reshape(-1)
    tiles = _shift_tiles(geo, dt.itemsize)
    one, zero = dt.type(1), dt.type(0)
    rows = tiles.rows
    parts = _pool.Partials()

    def part(t0, t1):
        gwt = np.zeros((kh * kw * G * Cg, Og), dt)
        buf = _scratch.get((O * tiles.cols,), dt)
        try:
            k.conv_shift_wgrad(xqf, gf, gwt, buf, rows, t0, t1, C, Hq, Wq, O, Ho, Wo, kh, kw,
                               geo.sh, geo.sw, geo.dh, geo.dw, G, fn, one, zero)
        finally:
            _scratch.put(buf)
        parts.add(t0, gwt)
    try:
        tiles.run(part, N * O * Ho * Wo * Cg * kh * kw)
    finally:
        if owned:
            _scratch.put(xq)
        if kept is not None:
            kept.release()
    gwt = parts.total()
    # (i, j, group, c, o) -> (group, o, c, i, j)
    gw = gwt.reshape(kh, kw, G, Cg, Og).transpose(2, 4, 3, 0, 1)
    return np.ascontiguousarray(gw).reshape(geo.w_shape)


class _TileCols:
    """The im2col columns of every tile of a conv's forward (``buf``, tile t's
    at ``offs[t]``), kept for its weight gradient: the tiled weight gradient
    then runs its GEMMs on them instead of rebuilding them (im2col costs
    about as much as the GEMM on small images).  ``tiles``: the tiling they
    were built for; ``x``: the conv input they were built from (for a
    backward that cannot use them: the kernels switched off meanwhile)."""
    __slots__ = ("buf", "offs", "tiles", "x")

    def __init__(self, buf, offs, tiles, x):
        self.buf, self.offs, self.tiles, self.x = buf, offs, tiles, x

    def release(self):
        """Hand the buffer back to the scratch pool (once; it is not read again)."""
        if self.buf is not None:
            _scratch.put(self.buf)
            self.buf = None


class _WinoInput:
    """The padded input a Winograd forward read (``xp``, a scratch buffer),
    kept for its weight gradient, which reads the same; ``x``: the conv
    input, as ``_TileCols.x``."""
    __slots__ = ("xp", "x")

    def __init__(self, xp, x):
        self.xp, self.x = xp, x

    def release(self):
        if self.xp is not None:
            _scratch.put(self.xp)
            self.xp = None


_NO_OFFS = np.zeros(0, dtype=np.int64)
_KEEP_TILES = True
_KEEP_PHASED = True
# Kept columns are written out of L2 to memory and read back by the weight
# gradient: kh*kw / (sh*sw) times the input, each way, where rebuilding them
# reads the input once.  With OpenBLAS's Zen kernels (no AVX-512) a strided
# conv's rebuilt tiles measured faster (one loaded Zen 3 core, CPU time, ms,
# median of 15 alternating, forward + weight gradient, with the larger tiles
# of _PACKED_MNK_SCALE): ResNet's 16 -> 32 3x3 stride-2 conv 4.85 -> 4.56, its
# 32 -> 64 one 3.41 -> 3.05 (ResNet-18-width's strided 64 -> 128, 128 ->
# 256, 256 -> 512 ones, batch 64, median of 5: 90.0 / 71.0 / 74.7 ->
# 79.9 / 67.0 / 79.5); but ResNet's 1x1 stride-2 shortcuts (columns a
# quarter of the input) 1.56 -> 1.65 and 0.50 -> 0.59 (median of 7), and the
# 3-channel stem (stride 1) 3.05 -> 3.16 (11), so those keep theirs.


def _keep_tiles(geo):
    """Whether a tiled forward asked to keep its columns for the weight
    gradient keeps them (see above)."""
    if not _KEEP_TILES:
        return False
    strided = geo.sh * geo.sw > 1 and geo.w4[2] * geo.w4[3] > 1
    return not strided or _has_wide_vectors()


# ---- the direct kernel (float32, AVX-512): the shifted GEMMs' reads, summed in registers ----
# (_numba.conv_direct_forward.)  Where the CPU has 512-bit vectors (16 of
# them hold a block's sums; 256-bit ones would not fit in registers), a
# float32 conv's forward, and so a stride-1 conv's input gradient, runs it
# when it beats the BLAS paths.  Measured per layer on the workloads' convs
# (bench/conv_layers.py shapes, one EPYC core), its time over theirs:
# stride 1 with little waste 0.56-0.86 (1 to 128 channels, 8x8 to 32x32);
# LeNet's 16-channel 12x12 conv, 1.5x waste, 0.75 (its im2col tiles have
# short rows); but 1.05-1.6 on 8x8 and 4x4 images of 64-512 channels (the
# 32-position blocks waste up to half), 1.12-1.6 strided with 64+ channels
# (the phase split costs a copy; 16 channels: 0.77), 1.36 on a 3-channel
# stem with 64 outputs (a thin K = 27 sum per output: BLAS on the columns
# wins), and 1.7-2.4 on strided 1x1 convs (one phase of four used).
# Tried and dropped (ms, one core, the forward of ResNet-18-width's 64-channel
# 32x32 / 128-channel 16x16 convs): summing k in chunks of 8-64 input
# channels so a chunk's weights and input rows stay in L1, 48.3-49.9 /
# 49.5-51.4 against 48.7 / 49.6 unchunked (the streaming reads are
# prefetched well: no gain); blocks of 8 x 48 positions (24 sums in
# registers), 50.3 / 25.7 (batch 32) against 50.8 / 24.5, the same.
_DIRECT = True
_BLK_O, _BLK_P = 8, 32          # (_numba's block: output channels x positions)
_DIRECT_OUT_BYTES = 1 << 18     # a tile's output block at most this large (stays in L2)
_DIRECT_WASTE = 1.25            # positions computed per output, at most (rounded to blocks)
_DIRECT_FEW_CHANNELS = 32       # ... or 1.5 with this many input channels or fewer
_DIRECT_STRIDED_CHANNELS = 16   # strided: this many input channels at most
_DIRECT_THIN_K = 64             # a sum over fewer terms than this ...
_DIRECT_THIN_O = 16             # ... only with this many outputs or fewer
# Its weight gradient (_numba.conv_direct_wgrad), where the forward runs it,
# measured against the shifted GEMMs' or im2col tiles': 0.56-0.87 on the
# ResNet and LeNet layers but LeNet's 12x12 one (1.16: 96 positions per
# sample make short sums), so only with this many positions per sample.
_DIRECT_WGRAD_POSITIONS = 128
# Its bands: a wide output gradient (O rounded up to 4, by the band's wide
# positions) of at most this many bytes, so each block's sum over positions
# is long (the block loads and stores its 16 sums once per band).  One core,
# ms at 64 KiB / 256 KiB / 512 KiB+ (whole samples): ResNet-18-width's
# 128-channel 16x16 conv 77.7 / 57.1 / 54.8, its 64-channel 32x32 conv 59.0
# / 52.5 / 49.0; ResNet's 16- and 32-channel layers alike at all three.
_DIRECT_WGRAD_BYTES = 1 << 19
# (Tried: several small samples summed in one call, for longer sums: LeNet's
# 12x12 conv 2.46 -> 1.80 ms, ResNet's 64-channel 8x8 3.55 -> 2.34, but
# neither then beats its im2col tiles with the forward's columns kept (LeNet:
# direct forward 1.63 + 1.80 against tiled 2.07 + 1.28), so not kept.)
# Where the weight gradient then takes the im2col tiles, they would rebuild
# the columns the direct forward never made: in training (the forward asked
# to keep them) the tiled forward runs instead and keeps its columns.
# LeNet's 12x12 conv, forward + weight gradient: direct forward and tiles
# rebuilding columns 1.63 + 2.38 ms, tiled forward keeping them 2.12 + 1.46
# (bench/conv_layers.py: 4.00 -> 3.44); the whole LeNet step, toggled in one
# process, 8.89 -> 8.87 ms (within noise).
_DIRECT_FWD_KEEPS_TILES = True
_has_wide_vectors = _jit.wide_vectors      # (the direct kernels need them)


def _direct(geo, dtype):
    """Whether the forward of ``geo`` runs the direct kernel (the rules and
    their measurements above)."""
    if not _DIRECT or dtype != np.float32 or geo.G != 1:
        return False
    O, Cg, kh, kw = geo.w4
    Ho, Wo = geo.y4[2], geo.y4[3]
    if kh * kw == 1 or Ho * Wo == 0:
        return False
    if Cg * kh * kw < _DIRECT_THIN_K and O > _DIRECT_THIN_O:
        return False
    Wq = _phase_shape(geo)[2]
    waste = -(-((Ho - 1) * Wq + Wo) // _BLK_P) * _BLK_P / (Ho * Wo)
    if geo.sh > 1 or geo.sw > 1:
        ok = Cg <= _DIRECT_STRIDED_CHANNELS and waste <= _DIRECT_WASTE
    else:
        ok = waste <= _DIRECT_WASTE or (Cg <= _DIRECT_FEW_CHANNELS and waste <= 1.5)
    return ok and _has_wide_vectors()


def _direct_forward(x, w, geo, bias, k, keep=False):
    """y = conv(x, w) + bias by the direct kernel; with ``keep`` also the
    phased input it read, as a ``_PhasedInput`` (else None)."""
    N, C, H, W = geo.x4
    O, Cg, kh, kw = geo.w4
    Ho, Wo = geo.y4[2], geo.y4[3]
    P, Hq, Wq = _phase_shape(geo)
    dt = x.dtype
    xq, buf = _direct_phased(x, geo)
    offs = _direct_offsets(geo)
    # the weight by blocks of 8 output channels: wp[b, k, o] = w[8b + o, k]
    K = C * kh * kw
    O8 = -(-O // _BLK_O) * _BLK_O
    wp = _pack8(w.reshape(O, K), "o")
    b = np.empty(0, dt) if bias is None else np.ascontiguousarray(bias, dtype=dt).reshape(-1)
    # bands of rows of one sample whose output block stays in L2
    tiles, nh = _direct_bands(geo, (_DIRECT_OUT_BYTES // (O8 * dt.itemsize) - Wo) // Wq + 1)
    TP = -(-((nh - 1) * Wq + Wo) // _BLK_P) * _BLK_P
    y = np.empty(geo.y4, dtype=dt)
    yf = y.reshape(-1)
    rows = tiles.rows

    def part(t0, t1):
        out = _scratch.get((O8 * TP,), dt)
        try:
            k.conv_direct_forward(buf, wp, offs, b, yf, out, rows, t0, t1, C * P * Hq * Wq, Wq,
                                  O, Ho, Wo)
        finally:
            _scratch.put(out)
    try:
        tiles.run(part, N * O * Ho * Wo * K)
    except BaseException:
        _scratch.put(buf)
        raise
    if keep:
        return y.reshape(geo.y_shape), _PhasedInput(xq, buf, x, room=True)
    _scratch.put(buf)
    return y.reshape(geo.y_shape), None


def _direct_phased(x, geo):
    """The phased input as the direct kernels read it: in a scratch buffer
    ``buf`` with ``_BLK_P`` zeros after it (room for a last block's reads
    past the end).  Returns (xq, buf)."""
    N, C = geo.x4[0], geo.x4[1]
    P, Hq, Wq = _phase_shape(geo)
    n = N * C * P * Hq * Wq
    buf = _scratch.get((n + _BLK_P,), x.dtype)
    buf[n:] = 0
    xq, _ = _phased(x, geo, out=buf[:n].reshape(N, C, P, Hq, Wq))
    return xq, buf


_OFFSETS = {}     # _direct_offsets' tables by geometry: the same few recur every step


def _direct_offsets(geo):
    """offs[k], k = (c*kh + i)*kw + j: where kernel offset (i, j) of channel c
    reads the phased input (its stride phase's plane, shifted), relative to
    an output position's place there.  Kept per geometry (read-only): made
    anew it took ~17 us, more than a batch-1 LeNet conv's kernel."""
    C, kh, kw = geo.x4[1], geo.w4[2], geo.w4[3]
    P, Hq, Wq = _phase_shape(geo)
    key = (C, kh, kw, P, Hq, Wq, geo.dh, geo.dw, geo.sh, geo.sw)
    offs = _OFFSETS.get(key)
    if offs is None:
        i = np.arange(kh).reshape(kh, 1)
        j = np.arange(kw).reshape(1, kw)
        ph = ((i * geo.dh) % geo.sh) * geo.sw + (j * geo.dw) % geo.sw
        ij = ph * Hq * Wq + (i * geo.dh // geo.sh) * Wq + j * geo.dw // geo.sw
        offs = (np.arange(C, dtype=np.int64).reshape(C, 1, 1) * (P * Hq * Wq) + ij).reshape(-1)
        offs.flags.writeable = False
        if len(_OFFSETS) < 256:
            _OFFSETS[key] = offs
    return offs


def _direct_bands(geo, rows_per):
    """Tiles of bands of one sample, each at most ``rows_per`` output rows
    (at least one), of equal height."""
    key = (geo.x4[0], geo.y4[2], max(1, min(geo.y4[2], rows_per)), _FEW_TILES)
    got = _BANDS.get(key)
    if got is None:     # (made once per shape, as _tiles' tables)
        tiles = _Tiles.__new__(_Tiles)
        nh = tiles._bands(*key[:3])
        if len(_BANDS) >= 256:
            _BANDS.clear()
        got = _BANDS[key] = (tiles, nh)
    return got


_BANDS = {}       # _direct_bands' tiles by (N, Ho, rows per band)


def _offsets4(offs):
    """(offs padded to a multiple of 4 entries by repeating its last, its
    true length K): the weight gradient's blocks take 4 offsets at a time
    (the repeated ones' sums land in rows K.. of the result, dropped)."""
    K = offs.size
    K4 = -(-K // 4) * 4
    return np.concatenate([offs, np.repeat(offs[-1:], K4 - K)]), K


def _direct_wgrad_sum(kernel, xq, g, offs, tiles, O, TP, run, rest):
    """The weight gradient (O, K) of a direct-kernel conv (2-D or 3-D), the
    threads' parts summed: ``kernel(xq, g, offs4, gwt, gbuf, red, tiles, t0,
    t1, *rest)`` adds tiles t0:t1's sums into its part gwt (K4, O4), and
    ``run(part, work)`` calls ``part(t0, t1)`` over the tiles (offsets
    padded by ``_offsets4``); TP: a tile's output-gradient positions, a
    multiple of 16."""
    offs, K = _offsets4(offs)
    K4 = offs.size
    O4 = -(-O // 4) * 4
    dt = g.dtype
    gf = np.ascontiguousarray(g).reshape(-1)
    parts = _pool.Partials()

    def part(t0, t1):
        gwt = np.zeros((K4, O4), dt)
        gbuf = _scratch.get((O4 * TP,), dt)
        # (16x the weight: a recycled buffer zeroed here rather than fresh
        # pages faulted in each call, as _compact_wgrad's)
        red = _scratch.get((O4 * K4 * 16,), dt)
        red.fill(0)
        try:
            kernel(xq, gf, offs, gwt, gbuf, red, tiles, t0, t1, *rest)
        finally:
            _scratch.put(gbuf)
            _scratch.put(red)
        parts.add(t0, gwt)
    run(part, g.size * K)
    gwt = parts.total()
    return np.ascontiguousarray(gwt[:K, :O].T)


def _direct_wgrad(x, g, geo, k, kept=None):
    """The weight gradient of a conv by the direct kernel, over the phased
    input the forward kept (``kept``, a ``_PhasedInput``, released here) or
    one built here."""
    C, O = geo.x4[1], geo.w4[0]
    Ho, Wo = geo.y4[2], geo.y4[3]
    P, Hq, Wq = _phase_shape(geo)
    dt = g.dtype
    if kept is not None and kept.room:
        xq, buf = kept.xq, kept.buf
        kept.buf = None     # (handed back below)
    else:
        xq, buf = _direct_phased(x, geo)
    if kept is not None:
        kept.release()
    O4 = -(-O // 4) * 4
    # bands whose wide output gradient (O4 rows) stays in L1/L2
    tiles, nh = _direct_bands(geo, (_DIRECT_WGRAD_BYTES // (O4 * dt.itemsize) - Wo) // Wq + 1)
    TP = -(-((nh - 1) * Wq + Wo) // 16) * 16
    try:
        gw = _direct_wgrad_sum(k.conv_direct_wgrad, buf, g, _direct_offsets(geo), tiles.rows, O,
                               TP, tiles.run, (C * P * Hq * Wq, Wq, O, Ho, Wo))
    finally:
        _scratch.put(buf)
    return gw.reshape(geo.w_shape)


# ---- the direct kernel on column-shifted copies: small images, wide kernels ----------------
# (_numba.conv_compact_*.)  The wide layout's wasted positions (Wq - Wo per
# output row) grow with the kernel's width on small images: LeNet's 5x5 conv
# of 12x12 images computes 96 positions per 64 outputs, its 28x28 one 672
# per 576.  Copying the input kw times, each copy shifted by one kernel
# column and cut to the output's width, makes each tap's reads one run over
# the compact positions: nothing wasted but the rounding to whole blocks,
# for kw copies of the input (kept for the weight gradient, which then sums
# over the compact positions too, several samples per block call; the input
# gradient is the forward's adjoint, ``_compact_dgrad``).
# Measured on LeNet's convs (bench/conv_layers.py, one core, CPU time, ms,
# forward / input gradient / weight gradient, before -> after, torch 2.13
# alongside): the 16-channel 12x12 one 2.17 / 1.49 / 1.74 (im2col tiles
# keeping their columns) -> 1.17 / 1.37 / 1.14 (torch 1.03 / 1.07 / 1.32);
# the 1-channel 28x28 one 0.41 / - / 0.61 (wide direct) -> 0.38 / - / 0.34
# (torch 0.40 / - / 0.46).  The forward's blocks run at ~110 GFLOP/s, the
# rate of _conv_block.  With AVX2 and FMA (the blocks' narrow forms; one
# loaded Zen 3 core, CPU time, ms, alternating in one process, against the
# im2col tiles): the 12x12 conv's forward + weight gradient 9.06 -> 7.12,
# input gradient 2.87 -> 2.25; the 28x28 one's forward + weight gradient
# 3.94 -> 2.77.
_COMPACT = True
_COMPACT_MIN_KW = 5             # kernels at least this wide (the copies cost kw x the input)
_COMPACT_MIN_SAVED = 1          # ... saving at least this many blocks of positions per sample
_COMPACT_WGRAD_BYTES = 1 << 18  # samples per weight-gradient chunk: copies + gradient this big
_WG_O = 4                       # (_numba's weight-gradient block: 4 output channels x 4 taps)
_COMPACT_DGRAD_ADDS = True      # input gradient: the blocks add into the copies' gradient
_COMPACT_NARROW = True          # with 256-bit vectors too (AVX2 and FMA; see above)


def _compact(geo, dtype):
    """Whether a conv runs the direct kernel on column-shifted copies: where
    the direct kernel may run at all, vertical stride 1, a kernel at least
    ``_COMPACT_MIN_KW`` wide, and ``_COMPACT_MIN_SAVED`` blocks of positions
    fewer per sample than the wide layout's; with AVX-512, or with AVX2 and
    FMA (``_COMPACT_NARROW``)."""
    if not (_COMPACT and _DIRECT) or dtype != np.float32 or geo.G != 1 or geo.sh != 1:
        return False
    O, Cg, kh, kw = geo.w4
    Ho, Wo = geo.y4[2], geo.y4[3]
    L = Ho * Wo
    if kw < _COMPACT_MIN_KW or L == 0 or (Cg * kh * kw < _DIRECT_THIN_K and O > _DIRECT_THIN_O):
        return False
    Wq = _phase_shape(geo)[2]
    wide = -(-((Ho - 1) * Wq + Wo) // _BLK_P)     # (blocks per sample, each layout)
    compact = -(-L // _BLK_P)
    if wide - compact < _COMPACT_MIN_SAVED:
        return False
    return _has_wide_vectors() or (_COMPACT_NARROW and _jit.fma_vectors())


class _ShiftedInput:
    """The column-shifted copies a compact forward built (``xs``, (N, C, kw,
    Hp, Wo), in the scratch buffer ``buf``), kept for its weight gradient;
    ``x``: the conv input, as ``_TileCols.x``."""
    __slots__ = ("xs", "buf", "x")

    def __init__(self, xs, buf, x):
        self.xs, self.buf, self.x = xs, buf, x

    def release(self):
        if self.buf is not None:
            _scratch.put(self.buf)
        self.xs = self.buf = None


def _shifted_copies(x, geo, k):
    """The column-shifted copies of ``x`` (see above) in a scratch buffer with
    ``_BLK_P`` zeros after them (room for a last block's reads past the
    end).  Returns (xs flat, buf)."""
    N, C, H, W = geo.x4
    kw, Hp, Wo = geo.w4[3], geo.Hp, geo.y4[3]
    n = N * C * kw * Hp * Wo
    buf = _scratch.get((n + _BLK_P,), x.dtype)
    buf[n:] = 0
    xs = buf[:n]
    xf = np.ascontiguousarray(x).reshape(-1)
    _pool.parallel_for(lambda p0, p1: k.column_shifts(xf, xs, H, W, Hp, Wo, kw, geo.sw, geo.dw,
                                                      geo.pt, geo.pl, p0, p1),
                       N * C, grain=max(1, _PASS_GRAIN // max(kw * Hp * Wo, 1)))
    return xs, buf


def _compact_offsets(geo):
    """offs[t]: where tap t starts in a sample's column-shifted copies, the
    taps in the order the compact kernels take them, (c, j, i) (tap (i, j)
    of channel c: row i*dh of copy (c, j); ``_taps_order`` puts a weight
    in it).  So the offsets ascend and a block's consecutive taps read
    overlapping runs, Wo elements apart (the weight gradient's 4-tap blocks
    read 40 elements a step instead of 4 runs of 16 in 4 copies: 5-15%
    faster on LeNet's convs, the forward 2-6%, alternating A/B on a loaded
    machine)."""
    C, kh, kw = geo.x4[1], geo.w4[2], geo.w4[3]
    Hp, Wo = geo.Hp, geo.y4[3]
    key = ("compact", C, kh, kw, Hp, Wo, geo.dh)
    offs = _OFFSETS.get(key)
    if offs is None:
        c = np.arange(C, dtype=np.int64).reshape(C, 1, 1)
        j = np.arange(kw, dtype=np.int64).reshape(1, kw, 1)
        i = np.arange(kh, dtype=np.int64).reshape(1, 1, kh)
        offs = (((c * kw + j) * Hp + i * geo.dh) * Wo).reshape(-1)
        offs.flags.writeable = False
        if len(_OFFSETS) < 256:
            _OFFSETS[key] = offs
    return offs


def _taps_order(w, geo):
    """The weight (O, C, kh, kw) as (O, C, kw, kh): its taps in
    ``_compact_offsets``' order (a strided view)."""
    O, Cg, kh, kw = geo.w4
    return w.reshape(O, Cg, kh, kw).transpose(0, 1, 3, 2)


def _pack8(wm, rows):
    """A weight matrix ``wm`` (O, K), taps in im2col order, in the register
    blocks' operand layout, zero past the last: ``rows`` "o" (blocks of 8
    output channels, a forward's) gives (O8/8, K, 8), [b, k, o] = wm[8b + o, k];
    "k" (blocks of 8 taps, an input gradient's) gives (K8/8, O, 8),
    [b, o, t] = wm[o, 8b + t].  (``_blocks_of_8`` is the same for the compact
    kernels' tap order.)"""
    O, K = wm.shape
    if rows == "o":
        O8 = -(-O // _BLK_O) * _BLK_O
        wp = np.zeros((O8, K), wm.dtype)
        wp[:O] = wm
        return np.ascontiguousarray(wp.reshape(O8 // _BLK_O, _BLK_O, K).transpose(0, 2, 1))
    K8 = -(-K // _BLK_O) * _BLK_O
    ap = np.zeros((O, K8), wm.dtype)
    ap[:, :K] = wm
    return np.ascontiguousarray(ap.reshape(O, K8 // _BLK_O, _BLK_O).transpose(1, 0, 2))


def _tile_blocks(geo, dtype, terms, ld):
    """Whether the tiled path multiplies by the register blocks (``_TILE_BLOCKS``):
    with 256-bit vectors only on products that sum ``terms`` <= ``_NARROW_TERMS``
    rows of an operand ``ld`` floats apart that fit in L1's sets (see there)."""
    if not (_TILE_BLOCKS and dtype == np.float32 and geo.G == 1):
        return False
    if _has_wide_vectors():
        return True
    return _jit.fma_vectors() and terms <= _NARROW_TERMS \
        and terms <= _L1_WAYS * (_L1_WAY_FLOATS // math.gcd(ld, _L1_WAY_FLOATS))


def _blocks_of_8(a, geo, rows):
    """The weight in the direct kernel's blocks of 8 (``_conv_block``'s A):
    ``rows`` "o" (output channels, the forward's) or "k" (taps, the input
    gradient's), zero past the last; the taps in ``_compact_offsets``'
    order.  Forward: (O8/8, K, 8), [b, t, o] = w[8b + o, t]; input gradient:
    (K8/8, O, 8), [b, o, t] = w[o, 8b + t].  One strided copy when the
    count is a multiple of 8."""
    O, Cg, kh, kw = geo.w4
    K = Cg * kh * kw
    # (into arrays of the taps' axes: reshaping the strided view to K taps
    # would copy it first; the forward's block copy from the 5-axis view,
    # 31 -> 12 us on LeNet's 12x12 conv, was most of a batch of one's forward)
    wt = _taps_order(a, geo)                            # (O, Cg, kw, kh), a view
    if rows == "o":
        O8 = -(-O // _BLK_O) * _BLK_O
        if O8 == O:
            wp = np.empty((O // _BLK_O, Cg, kw, kh, _BLK_O), a.dtype)
            wp[...] = a.reshape(O // _BLK_O, _BLK_O, Cg, kh, kw).transpose(0, 2, 4, 3, 1)
            return wp.reshape(O // _BLK_O, K, _BLK_O)
        wp = np.zeros((O8, K), a.dtype)
        wp[:O].reshape(O, Cg, kw, kh)[...] = wt
        return np.ascontiguousarray(wp.reshape(O8 // _BLK_O, _BLK_O, K).transpose(0, 2, 1))
    K8 = -(-K // _BLK_O) * _BLK_O
    ap = np.zeros((O, K8), a.dtype)
    ap[:, :K].reshape(O, Cg, kw, kh)[...] = wt
    return np.ascontiguousarray(ap.reshape(O, K8 // _BLK_O, _BLK_O).transpose(1, 0, 2))


def _compact_forward(x, w, geo, bias, k, keep=False):
    """y = conv(x, w) + bias by the direct kernel on column-shifted copies;
    with ``keep`` also those copies, as a ``_ShiftedInput`` (else None)."""
    N, C, H, W = geo.x4
    O, Cg, kh, kw = geo.w4
    L = geo.y4[2] * geo.y4[3]
    dt = x.dtype
    xs, buf = _shifted_copies(x, geo, k)
    offs = _compact_offsets(geo)
    K = C * kh * kw
    O8 = -(-O // _BLK_O) * _BLK_O
    wp = _blocks_of_8(w, geo, "o")
    b = np.empty(0, dt) if bias is None else np.ascontiguousarray(bias, dtype=dt).reshape(-1)
    LP = -(-L // _BLK_P) * _BLK_P
    S = C * kw * geo.Hp * geo.y4[3]
    y = np.empty(geo.y4, dtype=dt)
    yf = y.reshape(-1)

    def part(s0, s1):
        out = _scratch.get((O8 * LP,), dt)
        try:
            k.conv_compact_forward(xs, wp, offs, b, yf, out, s0, s1, S, O, L)
        finally:
            _scratch.put(out)
    try:
        _pool.parallel_for(part, N, grain=max(1, _TILE_GRAIN // max(O * L * K, 1)))
    except BaseException:
        _scratch.put(buf)
        raise
    if keep:
        return y.reshape(geo.y_shape), _ShiftedInput(xs, buf, x)
    _scratch.put(buf)
    return y.reshape(geo.y_shape), None


def _compact_wgrad(x, g, geo, k, kept=None):
    """The weight gradient of a conv by the direct kernel on column-shifted
    copies: the forward's (``kept``, a ``_ShiftedInput``, released here)
    or ones built here."""
    N, C, H, W = geo.x4
    O, Cg, kh, kw = geo.w4
    L = geo.y4[2] * geo.y4[3]
    dt = g.dtype
    if kept is not None:
        xs, buf = kept.xs, kept.buf
        kept.buf = None     # (handed back below)
        kept.release()
    else:
        xs, buf = _shifted_copies(x, geo, k)
    offs, K = _offsets4(_compact_offsets(geo))
    K4 = offs.size
    O4 = -(-O // _WG_O) * _WG_O
    L16 = -(-L // 16) * 16
    if L16 == L and O4 == O:
        gf = np.ascontiguousarray(g).reshape(-1)
    else:
        # rows O..O4 and positions L..L16 zero (the blocks read them)
        gp = np.zeros((N, O4, L16), dt)
        gp[:, :O, :L] = g.reshape(N, O, L)
        gf = gp.reshape(-1)
    S = C * kw * geo.Hp * geo.y4[3]
    chunk = max(1, _COMPACT_WGRAD_BYTES // ((S + O4 * L16) * dt.itemsize))
    parts = _pool.Partials()

    def part(s0, s1):
        gwt = np.zeros((K4, O4), dt)
        # (the blocks' vector sums: 16x the weight, 0.8 MB on LeNet's 12x12
        # conv, so a recycled buffer rather than fresh pages each step)
        red = _scratch.get((O4 * K4 * 16,), dt)
        red.fill(0)
        try:
            k.conv_compact_wgrad(xs, gf, offs, gwt, red, s0, s1, S, O4 * L16, L16, L16 // 16,
                                 chunk)
        finally:
            _scratch.put(red)
        parts.add(s0, gwt)
    try:
        _pool.parallel_for(part, N, grain=max(1, _TILE_GRAIN // max(O * L * K, 1)))
    finally:
        _scratch.put(buf)
    gwt = parts.total()
    gw = np.empty(geo.w4, dt)
    _taps_order(gw, geo)[...] = gwt[:K, :O].T.reshape(O, Cg, kw, kh)
    return gw.reshape(geo.w_shape)


def _compact_dgrad(g, w, geo, k):
    """The input gradient of output gradient ``g`` for a conv on the compact
    path: its forward's adjoint, per sample (``_numba.conv_compact_dgrad``):
    w^T g by the direct kernel's blocks, each tap's row added onto the
    copy it read, the copies folded back onto the input.  No im2col index
    arithmetic per output row, and the thin (K = O) products run in
    registers instead of BLAS.  (LeNet's 12x12 conv: 1.62 -> 1.46 ms against
    the im2col tiles' GEMM + col2im, alternating, on a loaded machine; the
    blocks adding their sums into the copies' gradient themselves, where
    Ho*Wo is a multiple of 32, a further 1.62 -> 1.53 ms.)"""
    N, C, H, W = geo.x4
    O, Cg, kh, kw = geo.w4
    Ho, Wo = geo.y4[2], geo.y4[3]
    L = Ho * Wo
    dt = g.dtype
    offs = _compact_offsets(geo)
    K = offs.size
    K8 = -(-K // _BLK_O) * _BLK_O
    LP = -(-L // _BLK_P) * _BLK_P
    ap = _blocks_of_8(w, geo, "k")
    if L == LP:
        gf, gS = np.ascontiguousarray(g).reshape(-1), O * L
        # (the last block of the last sample ends at the array's end)
    else:
        # positions L..LP zero, and room for the blocks' reads
        gp = np.zeros((N, O, LP), dt)
        gp[:, :, :L] = g.reshape(N, O, L)
        gf, gS = gp.reshape(-1), O * LP
    goffs = np.arange(O, dtype=np.int64) * (gS // O)
    gx = np.zeros(geo.x4, dtype=dt)
    gxf = gx.reshape(-1)
    S = C * kw * geo.Hp * Wo

    if L == LP and _COMPACT_DGRAD_ADDS:
        # the blocks add into the copies' gradient themselves; the taps past
        # K (zero weights) into a spare run after it
        coffs = np.concatenate([offs, np.full(K8 - K, S, np.int64)])
        dcols_size = 0
    else:
        coffs, dcols_size = _NO_OFFS, K8 * LP

    def part(s0, s1):
        dxs = _scratch.get((S + LP,), dt)
        dcols = _scratch.get((dcols_size,), dt)
        try:
            k.conv_compact_dgrad(gf, ap, goffs, offs, coffs, gxf, dxs, dcols, s0, s1, gS, L, C,
                                 H, W, geo.Hp, Wo, kw, geo.sw, geo.dw, geo.pt, geo.pl)
        finally:
            _scratch.put(dxs)
            _scratch.put(dcols)
    _pool.parallel_for(part, N, grain=max(1, _TILE_GRAIN // max(O * L * K, 1)))
    return gx.reshape(geo.x_shape)


# The tiles' products by the direct kernel's register blocks on their columns
# (_numba.conv_tiles_forward_blocks, conv_tiles_dgrad_blocks) rather than
# BLAS, for float32 with one group where the CPU has 512-bit vectors.  The
# forward's products alone (one EPYC core, GFLOP/s, BLAS -> blocks, O x K x
# tile columns): 64 x 288 x 512 (ResNet's 32 -> 64 strided conv) 100 -> 116,
# 32 x 144 x 512 80 -> 115, 32 x 16 x 2048 (its 1x1 shortcut) 43 -> 103,
# 64 x 32 x 1024 62 -> 112.  The input gradient's, whole (ms, BLAS -> blocks,
# best of 12 alternating): the strided 32 -> 64 conv 1.20 -> 1.07 (tiles of 512
# columns), its 1x1 shortcut 0.34 -> 0.29 (1792); but the 16 -> 32 strided
# conv 1.26 -> 1.34 (bands of 128 columns: short), so only on tiles of at
# least _DGRAD_BLOCKS_COLS columns.
_TILE_BLOCKS = True
_DGRAD_BLOCKS_COLS = 256
# On a CPU with 256-bit vectors (AVX2 + FMA, no AVX-512) the blocks are summed
# as 8 x 8 pieces (_numba._conv_block) at about BLAS's rate on long sums, so
# there only the thin products take them, where BLAS runs at half its rate.
# Measured on the workloads' layers (one Zen 3 core, ms, BLAS -> blocks,
# best of 9 alternating, loaded machine): ResNet's 1x1 16 -> 32 strided
# shortcut forward 0.43 -> 0.31, its input gradient 0.48 -> 0.44 (a sum over
# 32 output channels), its 32 -> 64 one's forward 0.31 -> 0.25; LeNet's
# 1-channel 5x5 conv forward (K = 25) 1.16 -> 0.92; but K or O = 64 the
# same or slower, and 144-576 (3x3 of 16-64 channels) 1.1-1.6x slower
# (the blocks' products alone: 35-70 GFLOP/s to OpenBLAS's 50-75; twelve
# sums per piece instead of eight, 50-71, still short of it).  A tile's
# rows ld floats apart fall in only 1024 / gcd(ld, 1024) of L1's sets (8
# ways each), and where the blocks' column of rows does not fit there their
# reads miss: ResNet's 3-channel stem's tiles of 2048 columns (27 rows in 8
# lines' room) ran 1.13 -> 1.44 (1.60 -> 2.16 its input gradient), so not
# those.
_NARROW_TERMS = 32
_L1_WAY_FLOATS = 1024       # (a 32 KiB 8-way L1: its sets repeat every 4 KiB)
_L1_WAYS = 8


def _tiled_forward(x, w, geo, bias, k, fn, keep=False):
    """y = conv(x, w) + bias on the tiled path; with ``keep`` also the columns
    of every tile, as a ``_TileCols`` (else None)."""
    N, C, H, W = geo.x4
    O, Cg, kh, kw = geo.w4
    Ho, Wo = geo.y4[2], geo.y4[3]
    Kg = Cg * kh * kw
    dt = x.dtype
    xf = np.ascontiguousarray(x).reshape(-1)
    b = np.empty(0, dt) if bias is None else np.ascontiguousarray(bias, dtype=dt).reshape(-1)
    tiles = _tiles(geo, Kg, dt.itemsize)
    y = np.empty(geo.y4, dtype=dt)
    yf = y.reshape(-1)
    one, zero = dt.type(1), dt.type(0)
    rows = tiles.rows
    blocks = _tile_blocks(geo, dt, Kg, tiles.cols)
    if blocks:
        # (the blocks read up to _BLK_P - 1 columns past a tile's last: room after the columns)
        room = _BLK_P
        O8 = -(-O // _BLK_O) * _BLK_O
        wp = _pack8(w.reshape(O, Kg), "o")
        out_size = O8 * (-(-tiles.cols // _BLK_P) * _BLK_P)
    else:
        room = 0
        wm = np.ascontiguousarray(w.reshape(O, Kg))
        out_size = O * tiles.cols
    kept = None
    if keep:
        offs = tiles.offsets(Kg * geo.G, Wo)
        kept = _TileCols(_scratch.get((int(offs[-1]) + room,), dt), offs, tiles, x)

    def part(t0, t1):
        cols = kept.buf if kept else _scratch.get((Kg * geo.G * tiles.cols + room,), dt)
        out = _scratch.get((out_size,), dt)
        try:
            if blocks:
                k.conv_tiles_forward_blocks(xf, wp, b, yf, cols, out, np.empty(Kg, np.int64),
                                            rows, kept.offs if kept else _NO_OFFS, t0, t1, C, H,
                                            W, O, Ho, Wo, kh, kw, geo.sh, geo.sw, geo.dh,
                                            geo.dw, geo.pt, geo.pl, zero)
            else:
                k.conv_tiles_forward(xf, wm, b, yf, cols, out, rows,
                                     kept.offs if kept else _NO_OFFS, t0, t1, C, H, W, Ho, Wo,
                                     kh, kw, geo.sh, geo.sw, geo.dh, geo.dw, geo.pt, geo.pl,
                                     geo.G, fn, one, zero)
        finally:
            if not kept:
                _scratch.put(cols)
            _scratch.put(out)
    tiles.run(part, N * O * Ho * Wo * Kg)
    return y.reshape(geo.y_shape), kept


def _tiled_wgrad(x, g, geo, k, fn, kept=None):
    """The weight gradient of the conv of ``x`` with output gradient ``g``,
    tiled: on the forward's columns ``kept`` (a ``_TileCols``, released
    here) when given, else building each tile's."""
    N, C, H, W = geo.x4
    O, Cg, kh, kw = geo.w4
    Ho, Wo = geo.y4[2], geo.y4[3]
    G = geo.G
    Kg, Og = Cg * kh * kw, O // G
    dt = x.dtype
    xf = np.ascontiguousarray(x).reshape(-1)
    gf = np.ascontiguousarray(g).reshape(-1)
    tiles = kept.tiles if kept else _tiles(geo, Kg, dt.itemsize)
    one = dt.type(1)
    rows = tiles.rows
    parts = _pool.Partials()

    def part(t0, t1):
        gwt = np.zeros((G, Kg, Og), dt)
        cols = kept.buf if kept else _scratch.get((Kg * G * tiles.cols,), dt)
        buf = _scratch.get((O * tiles.cols,), dt)
        try:
            k.conv_tiles_wgrad(xf, gf, gwt, cols, buf, rows, kept.offs if kept else _NO_OFFS,
                               t0, t1, C, H, W, O, Ho, Wo, kh, kw, geo.sh, geo.sw, geo.dh,
                               geo.dw, geo.pt, geo.pl, G, fn, one, dt.type(0))
        finally:
            if not kept:
                _scratch.put(cols)
            _scratch.put(buf)
        parts.add(t0, gwt)
    try:
        tiles.run(part, N * O * Ho * Wo * Kg)
    finally:
        if kept:
            kept.release()
    gwt = parts.total()
    return np.ascontiguousarray(gwt.transpose(0, 2, 1)).reshape(geo.w_shape)


def _tiled_dgrad(g, w, geo, k, fn):
    """The input gradient of output gradient ``g`` (GEMM + col2im per tile)."""
    N, C, H, W = geo.x4
    O, Cg, kh, kw = geo.w4
    Ho, Wo = geo.y4[2], geo.y4[3]
    Kg = Cg * kh * kw
    dt = g.dtype
    gf = np.ascontiguousarray(g).reshape(-1)
    tiles = _tiles(geo, Kg, dt.itemsize)
    gx = np.empty(geo.x4, dtype=dt)
    gxf = gx.reshape(-1)
    one, zero = dt.type(1), dt.type(0)
    rows = tiles.rows
    TP = -(-tiles.cols // _BLK_P) * _BLK_P
    blocks = _tile_blocks(geo, dt, O, TP) and tiles.cols >= _DGRAD_BLOCKS_COLS
    if blocks:
        # the weight by blocks of 8 taps (the blocks' rows), zero past the last
        K8 = -(-Kg // _BLK_O) * _BLK_O
        ap = _pack8(w.reshape(O, Kg), "k")
        cols_size, buf_size = K8 * TP, O * TP
    else:
        wm = np.ascontiguousarray(w.reshape(O, Kg))
        cols_size, buf_size = Kg * geo.G * tiles.cols, O * tiles.cols

    def part(t0, t1):
        # Each thread zeroes the samples its tiles add into (whole samples of
        # their own: see _Tiles.run): a zeroed gx made up front was a pass
        # over the whole input gradient on the calling thread alone.
        if t1 > t0:
            gx[rows[t0, 0]:rows[t1 - 1, 1]] = 0
        cols = _scratch.get((cols_size,), dt)
        buf = _scratch.get((buf_size,), dt)
        try:
            if blocks:
                k.conv_tiles_dgrad_blocks(gf, ap, gxf, cols, buf, np.empty(O, np.int64), rows,
                                          t0, t1, C, H, W, O, Ho, Wo, kh, kw, geo.sh, geo.sw,
                                          geo.dh, geo.dw, geo.pt, geo.pl)
            else:
                k.conv_tiles_dgrad(gf, wm, gxf, cols, buf, rows, t0, t1, C, H, W, Ho, Wo, kh,
                                   kw, geo.sh, geo.sw, geo.dh, geo.dw, geo.pt, geo.pl, geo.G, fn,
                                   one, zero)
        finally:
            _scratch.put(cols)
            _scratch.put(buf)
    tiles.run(part, N * O * Ho * Wo * Kg)
    return gx.reshape(geo.x_shape)


def _wgrad_path(geo, dtype):
    """How the tiled path computes a weight gradient: "direct", "shift" or "tiles"."""
    if _direct(geo, dtype) and (geo.y4[2] - 1) * _phase_shape(geo)[2] + geo.y4[3] \
            >= _DIRECT_WGRAD_POSITIONS:
        return "direct"
    return "shift" if _shifted_wgrad(geo) else "tiles"


def _all_finite(k, flat):
    """Whether flat holds no inf or NaN: the compiled pass, split over the
    threads when large (~0.4 ms per resnet step on one thread otherwise)."""
    parts = _pool.flat_parts(flat.size)
    found = None
    if parts > 1:       # (as native jobs: no GIL hand-off)
        found = _pool.run_native(k.all_finite_run, parts, k.pass_address(), flat,
                                 answer=k.all_finite_answer)
    return k.all_finite(flat) if found is None else found


def _flat(a):
    """``a`` as a flat contiguous array (a copy only when it is strided)."""
    return np.ascontiguousarray(a).reshape(-1)


def _wgrad(x, g, geo, tk, kept=None):
    """The weight gradient on the tiled path (``tk``: ``_tiled``'s), on what
    the forward kept (released here) when it suits the path.

    Winograd and the direct and shifted sums compute products torch never
    does (Winograd's transforms add and subtract inputs; the others multiply
    the input at the wide layout's dropped positions by zeros), so an inf
    or NaN among the operands would come out where torch's sum has none, or
    as a NaN where it has an inf.  Each of those products still lands in
    the (small) result, so rather than checking the operands beforehand (a
    pass over the input and the output gradient, 0.4-0.9 ms per resnet
    step), their result is checked afterwards: finite means they met no inf
    or NaN, and it stands; else the im2col tiles, which compute exactly
    torch's products, compute it again (rare: non-finite operands, or an
    overflow in Winograd's transforms)."""
    k = tk[0]
    if _winograd.use_wgrad(geo, g.dtype):
        xf, gf = _flat(x).reshape(geo.x4), _flat(g).reshape(geo.y4)
        xp = kept.xp if isinstance(kept, _WinoInput) else None
        gw = _winograd.weight_grad(xf, gf, geo, *tk, _scratch, xp=xp)
        if _all_finite(k, gw.reshape(-1)):
            if kept is not None:
                kept.release()
            return gw
    if isinstance(kept, _WinoInput):
        kept.release()
        kept = None
    if _compact(geo, g.dtype):
        L = geo.y4[2] * geo.y4[3]
        # (with Ho*Wo not a multiple of 16, the blocks multiply copies past a
        # sample's last position by zeros: an inf there would make a NaN)
        if L % 16 == 0 or _all_finite(k, np.ascontiguousarray(x).reshape(-1)):
            if kept is not None and not isinstance(kept, _ShiftedInput):
                kept.release()
                kept = None
            return _compact_wgrad(x, g, geo, k, kept)
    if isinstance(kept, _ShiftedInput):
        kept.release()
        kept = None
    path = _wgrad_path(geo, g.dtype)
    if path != "tiles":
        if not isinstance(kept, _PhasedInput):
            if kept is not None:
                kept.release()
            kept = None
        if path == "direct":
            gw = _direct_wgrad(x, g, geo, k, kept)
        else:
            gw = _shift_wgrad(x, g, geo, *tk, kept=kept)
        if _all_finite(k, gw.reshape(-1)):
            return gw
        kept = None     # (released by the path that took it)
    if isinstance(kept, _TileCols):
        return _tiled_wgrad(x, g, geo, *tk, kept=kept)
    if kept is not None:
        kept.release()
    return _tiled_wgrad(x, g, geo, *tk)


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
    tk = _tiled(x.dtype) if K and O else None    # (BLAS refuses a zero leading dimension)
    if tk is not None:
        # kept for the weight gradient, when asked: the im2col tiles' columns,
        # or the shifted GEMMs' padded input (when those compute it too)
        y = gw = kept = None
        keep = keep_cols and g is None
        wino = need_y and _winograd.use(geo, x.dtype)
        if wino:
            x, w = _flat(x).reshape(geo.x4), _flat(w).reshape(geo.w4)
            wino = _all_finite(tk[0], x.reshape(-1)) and _all_finite(tk[0], w.reshape(-1))
        if wino:
            # (3x3 stride 1 with many channels: 2.25x fewer multiplies.  Its
            # transforms add and subtract inputs before the products: an inf
            # there would make NaNs where the direct sum gives inf, so only
            # finite operands take it.  It keeps its padded input for the
            # weight gradient, when that runs Winograd too.)
            y, xp = _winograd.forward(x, w, geo, bias, *tk, _scratch,
                                      keep=keep and _winograd.use_wgrad(geo, x.dtype))
            if xp is not None:
                kept = _WinoInput(xp, x)
        elif need_y:
            direct = _direct(geo, x.dtype)
            if _compact(geo, x.dtype):
                # (its copies serve the compact weight gradient)
                y, kept = _compact_forward(x, w, geo, bias, tk[0], keep=keep and _KEEP_PHASED)
            elif direct and keep and _KEEP_TILES and _DIRECT_FWD_KEEPS_TILES \
                    and _wgrad_path(geo, x.dtype) == "tiles":
                # (the tiles' columns then serve the weight gradient)
                y, kept = _tiled_forward(x, w, geo, bias, *tk, keep=True)
            elif direct:
                # (its padded input serves the direct or shifted weight gradient)
                y, kept = _direct_forward(x, w, geo, bias, tk[0], keep=keep and _KEEP_PHASED
                                          and _wgrad_path(geo, x.dtype) != "tiles")
            elif _shifted(geo):
                y, kept = _shift_forward(x, w, geo, bias, *tk, keep=keep and _KEEP_PHASED
                                         and _wgrad_path(geo, x.dtype) == "shift")
            else:
                y, kept = _tiled_forward(x, w, geo, bias, *tk, keep=keep and _keep_tiles(geo))
        if g is not None:
            gw = _wgrad(x, g.reshape(geo.y4), geo, tk)
        return y, gw, kept
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
    tk = _tiled(dt) if K and O else None
    # (what the tiled path kept, or chunks the chunked path kept)
    tile_cols = cols if isinstance(cols, (_TileCols, _PhasedInput, _ShiftedInput, _WinoInput)) \
        else None
    if tile_cols is not None:
        cols = None
        if x is None:
            x = tile_cols.x
    if tk is not None and not cols:
        # (kept chunks, from before the kernels were switched on, take the path below)
        gx = None
        if need_x:
            gx = _compact_dgrad(g, w, geo, tk[0]) if _compact(geo, dt) \
                else _tiled_dgrad(g, w, geo, *tk)
        gw = None
        if x is not None:
            gw = _wgrad(x.reshape(geo.x4), g, geo, tk, tile_cols)
        return gx, gw
    if tile_cols is not None:
        # tiles kept before the kernels were switched off: the weight gradient
        # is computed from their x below instead
        tile_cols.release()
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
