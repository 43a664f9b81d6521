"""Winograd F(2x2, 3x3) convolution on the CPU (``_numba.wino_forward``).

A 3x3, stride-1, undilated, ungrouped conv computes each 2x2 block of its
output from the 4x4 input patch under it with 16 multiplies per input and
output channel where the direct sum takes 36: the patch and the kernel are
transformed (a few additions each), multiplied element-wise over the 16
positions, summed over the input channels -- 16 GEMMs (O, C) @ (C, tiles),
the batch folded into the tiles -- and transformed back.  So 2.25x fewer
flops in the GEMMs, paid for by the two transforms' passes over memory;
``_conv.conv2d_apply`` takes it only where it measured faster (``use``).

The rounding differs from the direct sum's (the transforms add and
subtract inputs before the products): on ResNet-18's layers a few 1e-7 of
the outputs' scale in float32, inside the tests' float32 tolerances.  An
inf among the operands would make NaNs in the transforms where the direct
sum gives inf, so the caller sends only finite operands here.
"""
import numpy as np

from . import _pool

# A chunk (whole tile rows) holds about this many bytes of transformed input
# and products (16 * (C + O) * tiles), so they stay in the core's L2 between
# the transforms and the GEMMs; but at least _MIN_TILES tiles, and C/2, so
# each GEMM has some width to reuse its (O, C) operand over.  Measured on one
# EPYC core (forward, ms): ResNet-18-width's 64-channel 32x32 layer 41.6 /
# 41.8 / 42.2 with 256 KiB / 512 KiB / 1 MiB (64 tiles), 49.9 with 256
# tiles; its 512-channel 4x4 layer 46.7 with 64 tiles, 43.2-43.9 with 256.
_CHUNK_BYTES = 1 << 19
_MIN_TILES = 64
# Multiply-adds per thread below which the conv stays on one thread.
_GRAIN = 1 << 20

# Switch (the tests force it on or off; None: the measured rule of ``use``).
FORCE = None


def applies(geo, dtype):
    """Whether Winograd F(2x2, 3x3) can compute the conv of ``geo`` at all."""
    O, Cg, kh, kw = geo.w4
    return (kh == 3 and kw == 3 and geo.sh == 1 and geo.sw == 1 and geo.dh == 1
            and geo.dw == 1 and geo.G == 1 and dtype in (np.float32, np.float64)
            and geo.y4[2] > 0 and geo.y4[3] > 0 and O > 0 and Cg > 0 and geo.x4[0] > 0)


def use(geo, dtype):
    """Whether ``conv2d_apply`` computes the conv of ``geo`` by Winograd."""
    if not applies(geo, dtype):
        return False
    if FORCE is not None:
        return FORCE
    return _enough_channels(geo, dtype)


def use_wgrad(geo, dtype):
    """Whether the weight gradient of the conv of ``geo`` is computed by
    Winograd (``weight_grad``)."""
    if not applies(geo, dtype):
        return False
    if FORCE is not None:
        return FORCE
    if dtype == np.float32:
        return _enough_channels(geo, dtype)
    ch = min(geo.w4[0], geo.w4[1])
    return ch >= _WGRAD_CHANNELS or (ch >= _MIN_CHANNELS
                                     and geo.y4[2] * geo.y4[3] <= _WGRAD_POSITIONS)


def _enough_channels(geo, dtype):
    """Whether the forward of ``geo`` has the channels (and, with
    _MIN_CHANNELS_F32 channels only, the image size) that Winograd pays on."""
    lo, hi = sorted((geo.w4[0], geo.w4[1]))
    if dtype != np.float32:
        return lo >= _MIN_CHANNELS
    return lo >= _MIN_CHANNELS_F32 and (hi >= 2 * _MIN_CHANNELS_F32
                                        or geo.y4[2] * geo.y4[3] >= _F32_FEW_CHANNELS_POSITIONS)


# Input and output channels both at least this many: the transforms cost a
# pass over the input and the output each whatever the channel count, the
# GEMMs they save grow with it.  Forward time over the other paths' (one
# EPYC core, AVX-512, float32; the input gradient is the same conv): 0.86 on
# 64 channels at 32x32 (batch 64), 0.76 on 128 at 16x16, 0.58 on 256 at
# 8x8, 0.65 on 512 at 4x4, 0.75 on ResNet's 64 at 8x8 (batch 32).  (float64:
# 0.59-0.66 on 64 and 128 channels, batch 32; its transforms are not
# vectorised, so it keeps this bound.)
_MIN_CHANNELS = 64
# float32, since its transforms run as vectors of tiles (the rule above was
# measured before: then 1.26x slower on 32 channels at 16x16, 2.0x on 16 at
# 32x32).  Re-measured on one EPYC core, CPU time, batch 32, against the
# direct kernel (forward / input gradient / weight gradient, Winograd's
# time over the direct path's): 16 channels at 32x32 0.91 / 0.93 / 0.94;
# 32 at 16x16 0.72 / 0.73 / 0.76; 16 -> 32 at 16x16 0.77 / 0.91 / 0.80; 32
# at 8x8 0.43 / 0.69 / 0.93; 32 at 32x32 0.79 / 0.81 / 0.92; 64 at 32x32
# (batch 64) 0.64 / 0.63 / 0.86; but 16 at 16x16 1.01 / 1.07 / 1.07 (a
# tie), 8 channels at 32x32 1.38, the 3-channel stem 1.27 (forward).  So 16
# channels, and where both counts are under 32, images of 1024+ positions.
_MIN_CHANNELS_F32 = 16
_F32_FEW_CHANNELS_POSITIONS = 1024
# The weight gradient's GEMMs sum over the tiles, the transforms cost the
# same as the forward's: against the other paths given what the forward kept
# (one core, ms ratio), 0.64 on 128 channels at 16x16, 0.74 on 256 at 8x8,
# 0.59 on 512 at 4x4, 0.73 on 64 at 8x8; but 1.07-1.26 on 64 at 32x32 (with
# chunks of 64 to 512 tiles).  So, for float64: this many channels, or
# _MIN_CHANNELS on images of this many output positions at most.  float32
# takes it from _MIN_CHANNELS_F32 channels on (measured above, after the
# vectorised transforms: 64 at 32x32 now 0.86).
_WGRAD_CHANNELS = 128
_WGRAD_POSITIONS = 256


def _chunks(geo, dt, th, tw):
    """(tile rows per chunk, chunks, tiles per full chunk) of a conv (the
    sizes above)."""
    N, C, O = geo.x4[0], geo.x4[1], geo.w4[0]
    R = N * th
    want = max(_MIN_TILES, C // 2, _CHUNK_BYTES // (16 * (C + O) * dt.itemsize))
    nr = max(1, min(R, want // tw))
    threads = _pool.get_num_threads()
    if threads > 1 and 16 * R * tw * C * O >= 2 * _GRAIN:
        # (at least a chunk per thread: ResNet-18-width's 512-channel layer
        # would be one chunk)
        nr = min(nr, -(-R // threads))
    return nr, -(-R // nr), nr * tw


# Planes per native job below which the input's padding copy stays on one thread
# (as _conv's plane copies).
_PAD_GRAIN = 1 << 15


def _padded(x, geo, th, tw, k, scratch):
    """The input zero-padded as the transforms read it: (N, C, 2*th + 2,
    2*tw + 2) flat, in a scratch buffer the caller hands back, ``x`` at row
    ``pt``, column ``pl`` of each plane (the plane holds every tile's 4x4
    patch).  One compiled pass, split by planes over the threads as native
    jobs.  (The transforms copied each tile row's four padded input rows
    into a small buffer before: ~2x the time of this pass plus the vector
    transform reading the padded rows in place.)"""
    N, C, H, W = geo.x4
    Hp, Wp = 2 * th + 2, 2 * tw + 2
    xp = scratch.get((N * C * Hp * Wp,), x.dtype)
    xf = np.ascontiguousarray(x).reshape(-1)
    planes = N * C
    parts = min(_pool.get_num_threads(), planes // max(1, _PAD_GRAIN // (Hp * Wp)))
    if not (parts > 1 and _pool.run_native(k.pad_planes_run, parts, k.pass_address(), xf, xp,
                                           H, W, Hp, Wp, geo.pt, geo.pl)):
        k.pad_planes(xf, xp, H, W, Hp, Wp, geo.pt, geo.pl, 0, planes, xp.dtype.type(0))
    return xp


def forward(x, w, geo, bias, k, fn, scratch, keep=False):
    """(y, xp): y = conv(x, w) + bias for a geometry ``applies`` accepts;
    ``k``: the compiled kernels, ``fn``: BLAS ?gemm's address
    (``_conv._tiled``), ``scratch``: where the chunks' buffers come from
    (``_conv._scratch``).  With ``keep``, xp is the padded input it read
    (a scratch buffer the caller hands back; ``weight_grad`` reads the
    same), else None."""
    N, C = geo.x4[0], geo.x4[1]
    O = geo.w4[0]
    Ho, Wo = geo.y4[2], geo.y4[3]
    dt = x.dtype
    th, tw = -(-Ho // 2), -(-Wo // 2)
    u = np.empty(16 * O * C, dt)
    k.wino_weight(np.ascontiguousarray(w, dtype=dt).reshape(-1), u, O, C, dt.type(0.5))
    b = np.empty(0, dt) if bias is None else np.ascontiguousarray(bias, dtype=dt).reshape(-1)
    y = np.empty(geo.y4, dtype=dt)
    yf = y.reshape(-1)
    R = N * th
    nr, chunks, T = _chunks(geo, dt, th, tw)
    one, zero = dt.type(1), dt.type(0)

    xp = _padded(x, geo, th, tw, k, scratch)
    Hp, Wp = 2 * th + 2, 2 * tw + 2

    def part(k0, k1):
        v = scratch.get((16 * C * T,), dt)
        m = scratch.get((16 * O * T,), dt)
        try:
            k.wino_forward(xp, u, b, yf, v, m, C, Hp, Wp, O, Ho, Wo, th, tw, nr, R, k0, k1, fn,
                           one, zero)
        finally:
            scratch.put(v)
            scratch.put(m)
    work = 16 * N * th * tw * C * O
    try:
        _pool.parallel_for(part, chunks, grain=max(1, _GRAIN * chunks // max(work, 1)))
    except BaseException:
        scratch.put(xp)
        raise
    if keep:
        return y.reshape(geo.y_shape), xp
    scratch.put(xp)
    return y.reshape(geo.y_shape), None


def weight_grad(x, g, geo, k, fn, scratch, xp=None):
    """The weight gradient (O, C, 3, 3) of the conv of ``x`` with output
    gradient ``g``, for a geometry ``applies`` accepts (arguments as
    ``forward``'s; ``xp``: the padded input the forward kept, left to the
    caller, or None: made here)."""
    N, C = geo.x4[0], geo.x4[1]
    O = geo.w4[0]
    Ho, Wo = geo.y4[2], geo.y4[3]
    dt = x.dtype
    th, tw = -(-Ho // 2), -(-Wo // 2)
    gf = np.ascontiguousarray(g).reshape(-1)
    nr, chunks, T = _chunks(geo, dt, th, tw)
    one = dt.type(1)
    parts = _pool.Partials()

    owned = xp is None
    if owned:
        xp = _padded(x, geo, th, tw, k, scratch)
    Hp, Wp = 2 * th + 2, 2 * tw + 2

    def part(k0, k1):
        du = np.zeros(16 * O * C, dt)
        v = scratch.get((16 * C * T,), dt)
        m = scratch.get((16 * O * T,), dt)
        try:
            k.wino_wgrad(xp, gf, du, v, m, C, Hp, Wp, O, Ho, Wo, th, tw, nr, N * th, k0, k1, fn,
                         one)
        finally:
            scratch.put(v)
            scratch.put(m)
        parts.add(k0, du)
    work = 16 * N * th * tw * C * O
    try:
        _pool.parallel_for(part, chunks, grain=max(1, _GRAIN * chunks // max(work, 1)))
    finally:
        if owned:
            scratch.put(xp)
    du = parts.total()
    gw = np.empty(O * C * 9, dt)
    k.wino_weight_grad(du, gw, O, C, dt.type(0.5))
    return gw.reshape(geo.w_shape)
