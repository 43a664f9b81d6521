"""Compiled kernels of 3-D convolutions (float32, hosts with AVX-512) and of
3-D max pooling over 2x2x2 windows (at the end).

The direct kernel of ``_numba`` (``_conv_blocks``, ``_wgrad_blocks``) reads
its input through a table of offsets, one per term of the sum, so it is not
tied to two dimensions: here it runs over a zero-padded *volume*.  For a
stride-1 3-D convolution, output position (d, h, w) of one sample sits at
``d*Hp*Wp + h*Wp + w`` of the padded volume (Dp, Hp, Wp), and kernel offset
(a, b, e) of channel c adds ``c*Dp*Hp*Wp + a*dd*Hp*Wp + b*dh*Wp + e*dw``:
every term is one shifted run of the volume, with no im2col and no depth
unfolding.  A *tile* is output slices d0:d1 of one sample; its positions
are counted in the padded layout (the ``Wp - Wo`` columns after each row
and ``Hp - Ho`` rows after each slice are computed and dropped, or given
zero gradient).  The volume may also be unfolded along w: kw copies of
rows Wo wide, copy e shifted by e*dw (``pad_volumes``), so a row has no
dropped columns (an 8x8 slice: 64 positions instead of 78 rounded to 96);
the kernels below only see the row width ``Wp`` (then Wo) and the offsets.
``ember/backends/cpu/_conv3d.py`` chooses the layout and the tiles and
splits them over the threads.

This module (and so Numba) is imported when a 3-D kernel first runs
(through ``_conv3d._kernels``), never at ``import ember``.
"""
import numpy as np
from numba import njit

from ._numba import (_kernel, _conv_blocks, _wgrad_blocks, _wgrad_sums, _sum_into_zero, _ones_if,
                     _U0, _BLK_O, _BLK_P)


@_kernel
def pad_volumes(x, xq, D, H, W, Dp, Hp, Wr, pf, pt, pl, copies, dw, v0, v1):
    """Volumes v0:v1 of x (V, D, H, W) zero-padded into xq (V, copies, Dp,
    Hp, Wr), ``pf`` slices and ``pt`` rows of zeros before: copy e's column
    j holds the padded column j + e*dw (x's column j + e*dw - pl; zero
    outside x).  One copy of width Wp is the padded volume; ``kw`` copies
    of width Wo are it unfolded along w (see _conv3d._Vol).  Both flat,
    every element of xq written once (unsigned indices: the copies
    vectorise)."""
    uWr = np.uint64(Wr)
    for v in range(v0, v1):
        src = np.uint64(v * D * H * W)
        for c in range(copies):
            sh = c * dw - pl                 # x's column of row position 0
            j0 = min(max(0, -sh), Wr)        # positions j0:j1 read x
            j1 = max(j0, min(Wr, W - sh))
            uj0, uj1 = np.uint64(j0), np.uint64(j1)
            dst = np.uint64((v * copies + c) * Dp * Hp * Wr)
            for d in range(Dp):
                di = d - pf
                for h in range(Hp):
                    row = dst + np.uint64((d * Hp + h) * Wr)
                    hi = h - pt
                    if di < 0 or di >= D or hi < 0 or hi >= H:
                        for e in range(_U0, uWr):
                            xq[row + e] = 0
                        continue
                    s = src + np.uint64((di * H + hi) * W + j0 + sh)
                    for e in range(_U0, uj0):
                        xq[row + e] = 0
                    for e in range(_U0, uj1 - uj0):
                        xq[row + uj0 + e] = x[s + e]
                    for e in range(uj1, uWr):
                        xq[row + e] = 0


@njit(cache=True, nogil=True)
def conv3d_direct_forward(xq, wp, offs, bias, y, out, tiles, t0, t1, sample, plane, Wp, O, Do,
                          Ho, Wo):
    """y (N, O, Do, Ho, Wo) = the stride-1 conv of padded xq (+ bias) on tiles
    t0:t1 (rows (n, d0, d1): output slices d0:d1 of sample n), by
    ``_conv_blocks``.  wp (O8/8, K, 8): the weight by blocks of 8 output
    channels (zero rows past O); offs (K,): each term's offset in xq from
    an output position's; ``sample``: xq's elements per sample, ``plane``:
    Hp*Wp; ``out``: scratch, O8 * a tile's padded positions rounded up to
    32.  xq is read up to 31 elements past a tile's last position (the
    caller leaves room at its end)."""
    for t in range(t0, t1):
        n, d0, d1 = tiles[t, 0], tiles[t, 1], tiles[t, 2]
        T = (d1 - d0 - 1) * plane + (Ho - 1) * Wp + Wo
        TP = (T + _BLK_P - 1) // _BLK_P * _BLK_P
        base = xq.ctypes.data + (n * sample + d0 * plane) * 4
        _conv_blocks(wp, base, offs, out, TP)
        _copy_out(out, y, bias, n, d0, d1, O, Do, Ho, Wo, TP, plane, Wp)


@_kernel
def _copy_out(out, y, bias, n, d0, d1, O, Do, Ho, Wo, TP, plane, Wp):
    """y[n, o, d, h, :] = out[o*TP + (d - d0)*plane + h*Wp : ... + Wo] (+ bias[o])
    for d0 <= d < d1 (y flat)."""
    # (rows as wide as the output, the unfolded layout: a slice's rows are one
    # run, copied at once instead of Ho short copies)
    run, rows = (Ho * Wo, 1) if Wp == Wo else (Wo, Ho)
    urun = np.uint64(run)
    for o in range(O):
        bo = bias[o] if bias.size else np.float32(0)
        for d in range(d0, d1):
            for h in range(rows):
                dst = np.uint64((((n * O + o) * Do + d) * Ho + h) * Wo)
                src = np.uint64(o * TP + (d - d0) * plane + h * Wp)
                for e in range(_U0, urun):
                    y[dst + e] = out[src + e] + bo


@_kernel
def _wide_slices(g, gbuf, n, d0, d1, O, Do, Ho, Wo, TP, plane, Wp):
    """gbuf[o*TP + (d - d0)*plane + h*Wp + w] = g[n, o, d, h, w] for
    d0 <= d < d1 (flat; the other positions are left as they are: zeros)."""
    run, rows = (Ho * Wo, 1) if Wp == Wo else (Wo, Ho)     # (as in _copy_out)
    urun = np.uint64(run)
    for o in range(O):
        for d in range(d0, d1):
            for h in range(rows):
                src = np.uint64((((n * O + o) * Do + d) * Ho + h) * Wo)
                dst = np.uint64(o * TP + (d - d0) * plane + h * Wp)
                for e in range(_U0, urun):
                    gbuf[dst + e] = g[src + e]


@njit(cache=True, nogil=True)
def conv3d_direct_wgrad(xq, g, offs, gwt, gbuf, red, tiles, t0, t1, sample, plane, Wp, O, Do,
                        Ho, Wo):
    """gwt (K4, O4) += the weight gradient, transposed, of the stride-1 conv of
    padded xq (read as ``conv3d_direct_forward`` reads it; ``offs`` (K4,)
    padded to a multiple of 4 by repeating an entry) with output gradient g
    (N, O, Do, Ho, Wo) (flat), over tiles t0:t1, by ``_wgrad_blocks``.
    ``gbuf``: scratch for a tile of g in the padded layout, (O4, TP), zeros
    at the dropped positions and in rows O..O4; ``red``: zeros, (O4/4 *
    K4/4 * 256,): each block's 16 vector sums, added up at the end."""
    K4, O4 = gwt.shape
    for t in range(t0, t1):
        n, d0, d1 = tiles[t, 0], tiles[t, 1], tiles[t, 2]
        T = (d1 - d0 - 1) * plane + (Ho - 1) * Wp + Wo
        TP = (T + 15) // 16 * 16
        gbuf[:O4 * TP] = 0
        _wide_slices(g, gbuf, n, d0, d1, O, Do, Ho, Wo, TP, plane, Wp)
        base = xq.ctypes.data + (n * sample + d0 * plane) * 4
        _wgrad_blocks(gbuf.ctypes.data, TP, 0, base, 0, offs, K4, O4, TP // 16, 1, red)
    _wgrad_sums(red, gwt)


# ---- max pooling over 2x2x2 windows at stride 2 ------------------------------------------
# (ember/backends/generic/pooling3d.py's formulas, one pass each.)  The
# winner is 4*a + 2*b + c for depth a, row b, column c of the window.

@_kernel
def _nan_winner(v0, v1, v2, v3, v4, v5, v6, v7):
    """(winner, max) by torch's rule, in window order: a value wins when it is
    larger than the maximum so far or NaN (so the last NaN wins)."""
    m, k = v0, 0
    vs = (v1, v2, v3, v4, v5, v6, v7)
    for i in range(7):
        v = vs[i]
        if v > m or v != v:
            m, k = v, i + 1
    return k, m


@_kernel
def max_pool2x2x2_forward(x, y, win, p0, p1):
    """Volumes p0:p1 of x (P, D, H, W) -> y (P, Do, Ho, Wo) and the winners
    ``win`` (int8, that shape).  A row of windows first runs as a tournament
    of plain comparisons (the first maximum: a tie keeps the left value),
    which vectorises, summing its values on the side; only when that sum is
    NaN (a NaN, or inf and -inf, in the row) is it redone by the NaN rule."""
    Do, Ho, Wo = y.shape[1], y.shape[2], y.shape[3]
    for p in range(p0, p1):
        for od in range(Do):
            for oh in range(Ho):
                r0, r1 = x[p, 2 * od, 2 * oh], x[p, 2 * od, 2 * oh + 1]
                r2, r3 = x[p, 2 * od + 1, 2 * oh], x[p, 2 * od + 1, 2 * oh + 1]
                yo, wo_ = y[p, od, oh], win[p, od, oh]
                chk = r0[0] - r0[0]
                for w in range(Wo):
                    v0, v1, v2, v3 = r0[2 * w], r0[2 * w + 1], r1[2 * w], r1[2 * w + 1]
                    v4, v5, v6, v7 = r2[2 * w], r2[2 * w + 1], r3[2 * w], r3[2 * w + 1]
                    chk += ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7))
                    t = v1 > v0
                    m0, i0 = (v1, 1) if t else (v0, 0)
                    t = v3 > v2
                    m1, i1 = (v3, 3) if t else (v2, 2)
                    t = v5 > v4
                    m2, i2 = (v5, 5) if t else (v4, 4)
                    t = v7 > v6
                    m3, i3 = (v7, 7) if t else (v6, 6)
                    t = m1 > m0
                    n0, j0 = (m1, i1) if t else (m0, i0)
                    t = m3 > m2
                    n1, j1 = (m3, i3) if t else (m2, i2)
                    t = n1 > n0
                    yo[w] = n1 if t else n0
                    wo_[w] = j1 if t else j0
                if chk != chk:
                    for w in range(Wo):
                        k, m = _nan_winner(r0[2 * w], r0[2 * w + 1], r1[2 * w], r1[2 * w + 1],
                                           r2[2 * w], r2[2 * w + 1], r3[2 * w], r3[2 * w + 1])
                        yo[w], wo_[w] = m, k


@_kernel
def max_pool2x2x2_backward(g, win, gx, p0, p1):
    """The backward of max_pool2x2x2_forward, written, not added: volumes
    p0:p1 of gx (P, D, H, W) get g (P, Do, Ho, Wo) at each window's winner
    (0.0 + g, as torch) and +0.0 everywhere else, the slices, rows and
    columns no window covers included (so gx needs no zeroing pass first).
    g and gx come as the unsigned integers of their bits, each value g's
    bits masked by its winner test, without a branch (as selects on the
    random winners it compiled to mispredicted branches, 2.6x slower; see
    _numba.max_pool2x2_backward)."""
    D, H, W = gx.shape[1], gx.shape[2], gx.shape[3]
    Do, Ho, Wo = g.shape[1], g.shape[2], g.shape[3]
    sign = np.uint64(1) << np.uint64(8 * g.itemsize - 1)
    for p in range(p0, p1):
        for d in range(D):
            od, a = d // 2, d % 2
            for h in range(H):
                row = gx[p, d, h]
                oh, b = h // 2, h % 2
                if od >= Do or oh >= Ho:
                    for w in range(W):
                        row[w] = _U0
                    continue
                gr, wr = g[p, od, oh], win[p, od, oh]
                base = 4 * a + 2 * b
                for w in range(Wo):
                    v, k = _sum_into_zero(gr[w], sign), wr[w]
                    row[2 * w] = v & _ones_if(k == base)
                    row[2 * w + 1] = v & _ones_if(k == base + 1)
                for w in range(2 * Wo, W):
                    row[w] = _U0
