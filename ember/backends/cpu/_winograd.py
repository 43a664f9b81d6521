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
subtract inputs before the products), by a few units in the last place of
float32: within what the tests allow torch's own algorithms.
"""
import numpy as np

from . import _pool

# A chunk (whole tile rows) holds about this many bytes of transformed input
# and products (16 * (C + O) * tiles), so they stay in the core's L2 between
# the transforms and the GEMMs; but at least _MIN_TILES tiles, so each GEMM
# has some width.
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
    O, C = geo.w4[0], geo.w4[1]
    return C >= _MIN_CHANNELS and O >= _MIN_CHANNELS


_MIN_CHANNELS = 64


def forward(x, w, geo, bias, k, fn, scratch):
    """y = conv(x, w) + bias for a geometry ``applies`` accepts; ``k``: the
    compiled kernels, ``fn``: BLAS ?gemm's address (``_conv._tiled``),
    ``scratch``: where the chunks' buffers come from (``_conv._scratch``)."""
    N, C, H, W = geo.x4
    O = geo.w4[0]
    Ho, Wo = geo.y4[2], geo.y4[3]
    dt = x.dtype
    th, tw = -(-Ho // 2), -(-Wo // 2)
    xf = np.ascontiguousarray(x).reshape(-1)
    u = np.empty(16 * O * C, dt)
    k.wino_weight(np.ascontiguousarray(w, dtype=dt).reshape(-1), u, O, C, dt.type(0.5))
    b = np.empty(0, dt) if bias is None else np.ascontiguousarray(bias, dtype=dt).reshape(-1)
    y = np.empty(geo.y4, dtype=dt)
    yf = y.reshape(-1)
    R = N * th
    want = max(_MIN_TILES, C // 2, _CHUNK_BYTES // (16 * (C + O) * dt.itemsize))
    nr = max(1, min(R, want // tw))
    chunks = -(-R // nr)
    T = nr * tw
    one, zero = dt.type(1), dt.type(0)

    def part(k0, k1):
        v = scratch.get((16 * C * T,), dt)
        m = scratch.get((16 * O * T,), dt)
        buf = np.empty(k.wino_buffer(tw), dt)
        try:
            k.wino_forward(xf, u, b, yf, v, m, buf, C, H, W, O, Ho, Wo, th, tw, geo.pt,
                           geo.pl, nr, R, k0, k1, fn, one, zero)
        finally:
            scratch.put(v)
            scratch.put(m)
    work = 16 * N * th * tw * C * O
    _pool.parallel_for(part, chunks, grain=max(1, _GRAIN * chunks // max(work, 1)))
    return y.reshape(geo.y_shape)
