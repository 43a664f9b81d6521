"""Compiled kernels for the hot ops NumPy can only do in many passes.

NumPy makes one pass over memory per ufunc call, and a broadcast against a
short row (a per-row mean, a per-feature weight) costs it ~2.5x a flat pass.
Layer norm, GELU, the softmax backward and the optimizer updates are chains
of such passes: 3 to 20 of them where torch runs one fused loop.  With Numba installed
(``pip install ember[fast]``), these functions replace those chains with one
loop each, compiled on first use and cached on disk.  ``ember._jit.kernels()``
hands this module out, or None without Numba (or with ``EMBER_JIT=0``): every
caller keeps its NumPy path, and the tests check that both agree.

The loops are plain Python over arrays, each the formula in its docstring.
Compiler flags allow reordering sums (so a row sum runs on SIMD lanes, as
torch's does) but keep IEEE NaN/inf semantics: NaN and inf come out where
torch puts them.  Scalars arrive as NumPy scalars of the arrays' dtype, so
float32 data is computed in float32, as in torch.  exp inside a float32
loop is ``_exp32``, arithmetic the compiler vectorises (a call to libm's expf
would run one element at a time); other transcendentals are called per row,
or stay in NumPy.
"""
import threading

import numpy as np
from llvmlite import ir
from numba import carray, cfunc, njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

# reassoc: sums may be reordered (vectorised); contract: a*b+c may fuse;
# nsz: the sign of a zero may differ.  Not nnan/ninf: NaN and inf propagate.
_FLAGS = {"reassoc", "contract", "nsz"}


def _kernel(fn):
    return njit(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy")(fn)


def _exact(fn):
    """A kernel without fast-math: every operation rounds as written (the
    optimizer updates, which must match the NumPy path bit for bit)."""
    return njit(cache=True, nogil=True, error_model="numpy")(fn)


# ---- layer norm / RMS norm over the rows of a 2-D array --------------------------------

@_kernel
def norm_rows_forward(x, w, b, eps, one, inv_d, center, y, xhat, rstd):
    """Per row i:  mu = mean(x_i) (0 when not ``center``: RMS norm),
    rstd_i = 1 / sqrt(mean((x_i - mu)^2) + eps),  xhat_i = (x_i - mu) * rstd_i,
    y_i = xhat_i * w + b  (w, b: (D,) or None; xhat None: not stored, for
    no_grad).  eps, one = 1, inv_d = 1 / D come as scalars of x's dtype."""
    R, D = x.shape
    zero = one - one
    for i in range(R):
        mu = zero
        if center:
            s = zero
            for j in range(D):
                s += x[i, j]
            mu = s * inv_d
        ss = zero
        for j in range(D):
            d = x[i, j] - mu
            ss += d * d
        r = one / np.sqrt(ss * inv_d + eps)
        rstd[i] = r
        for j in range(D):
            h = (x[i, j] - mu) * r
            if xhat is not None:
                xhat[i, j] = h
            if w is not None:
                h = h * w[j]
            if b is not None:
                h = h + b[j]
            y[i, j] = h


@_kernel
def norm_rows_backward(g, xhat, rstd, w, one, inv_d, center, gx, gw, gb):
    """The backward of norm_rows_forward.  Per row, with dxhat = g * w:
    gx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))  (no
    mean(dxhat) term for RMS norm);  gw = sum_i g * xhat,  gb = sum_i g.
    gw / gb may be None (no weight / bias); w None means all ones."""
    R, D = g.shape
    zero = one - one
    if gw is not None:
        gw[:] = zero
    if gb is not None:
        gb[:] = zero
    for i in range(R):
        a = zero
        c = zero
        for j in range(D):
            dh = g[i, j] if w is None else g[i, j] * w[j]
            a += dh
            c += dh * xhat[i, j]
        if gw is not None:
            for j in range(D):
                gw[j] += g[i, j] * xhat[i, j]
        if gb is not None:
            for j in range(D):
                gb[j] += g[i, j]
        a = a * inv_d if center else zero
        c = c * inv_d
        r = rstd[i]
        for j in range(D):
            dh = g[i, j] if w is None else g[i, j] * w[j]
            gx[i, j] = (dh - a - xhat[i, j] * c) * r


# ---- batch norm: statistics per channel of an (N, C, S) array --------------------------

# Each call computes the channels c0:c1 (whole channels: every statistic is
# one thread's), so the intra-op threads split a batch norm by channel ranges.
# Two loop orders.  With long rows (S >= _BN_LONG) each channel's N * S
# elements are summed, then re-read from the cache, one channel at a time.  With
# short rows (a 4x4 feature map: 16 values, one cache line per (n, c)) that
# order jumps a whole sample's stride for every 64 bytes; the loops then run in
# memory order, with the per-channel sums in (C,) arrays.

_BN_LONG = 256


@_kernel
def norm_channels_forward(x, w, b, eps, one, inv_m, y, mean, var, rstd, c0, c1):
    """Per channel c of c0:c1, over the N * S elements x[:, c, :]:  mean_c,
    biased var_c, rstd_c = 1 / sqrt(var_c + eps),
    y = (x - mean_c) * (rstd_c * w_c) + b_c  (w, b: (C,) or None).
    The statistics take one pass over x (then one for y): the sums of
    d = x - k and d^2, k the mean of the channel's first rows (_bn_shift),
    each row's sums in x's dtype and the rows' in float64 (torch sums in
    double too), var = mean(d^2) - mean(d)^2.  k is the mean of at least
    min(M, 256) of the values, so mean(d)^2 is at most M / 256 times var (and
    at most N times, for rows of 256 or more): the subtraction loses at most
    that factor of the sums' precision.  A channel whose statistics come out
    inf or NaN is redone in two passes (mean, then the centred squares), so
    an inf gives the mean inf as torch's does.
    (The backward takes x and mean, not the centred x: one array less to
    write, and to allocate, per call.)"""
    N, S = x.shape[0], x.shape[2]
    zero = one - one
    inv64 = 1.0 / (N * S)
    ks = np.empty(c1 - c0, x.dtype)       # (the shifts, rounded to x's dtype)
    sums = np.zeros(c1 - c0, np.float64)
    squares = np.zeros(c1 - c0, np.float64)
    if S >= _BN_LONG:
        for c in range(c0, c1):
            i = c - c0
            ks[i] = _bn_shift(x, c, zero)
            _bn_row_sums(x, c, 0, N, ks[i], zero, sums, squares, i)
            _bn_stats(x, c, ks[i], sums[i], squares[i], inv64, eps, one, inv_m, mean, var, rstd)
            # (at once, while the channel is still in cache)
            _bn_affine(x, w, b, mean, rstd, zero, y, c, 0, N)
        return
    for c in range(c0, c1):
        ks[c - c0] = _bn_shift(x, c, zero)
    for n in range(N):
        for c in range(c0, c1):
            _bn_row_sums(x, c, n, n + 1, ks[c - c0], zero, sums, squares, c - c0)
    for c in range(c0, c1):
        i = c - c0
        _bn_stats(x, c, ks[i], sums[i], squares[i], inv64, eps, one, inv_m, mean, var, rstd)
    for n in range(N):
        for c in range(c0, c1):
            _bn_affine(x, w, b, mean, rstd, zero, y, c, n, n + 1)


@njit(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy", inline="always")
def _bn_shift(x, c, zero):
    """A rough mean of channel c (float64): the mean of its first rows,
    at least 256 values (or all of them)."""
    N, S = x.shape[0], x.shape[2]
    r = min(N, (S + 255) // S)
    t = 0.0
    for n in range(r):
        s = zero
        for j in range(S):
            s += x[n, c, j]
        t += s
    return t / (r * S)


@njit(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy", inline="always")
def _bn_row_sums(x, c, n0, n1, k, zero, sums, squares, i):
    """sums[i] += sum(x[n0:n1, c] - k), squares[i] += sum((x[n0:n1, c] - k)^2):
    each row in x's dtype, added in float64."""
    for n in range(n0, n1):
        s = zero
        ss = zero
        for j in range(x.shape[2]):
            d = x[n, c, j] - k
            s += d
            ss += d * d
        sums[i] += s
        squares[i] += ss


@njit(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy", inline="always")
def _bn_stats(x, c, k, s, ss, inv64, eps, one, inv_m, mean, var, rstd):
    """mean[c], var[c] (biased) and rstd[c] of channel c from the sums of
    d = x - k and d^2, rounded to the arrays' dtype; a channel whose sums are
    not finite (an inf or NaN in it) in two passes instead."""
    mu = s * inv64
    v = ss * inv64 - mu * mu
    if np.isfinite(mu) and np.isfinite(v):
        if v < 0.0:          # (rounding)
            v = 0.0
        mean[c] = k + mu
        var[c] = v
    else:
        N, S = x.shape[0], x.shape[2]
        zero = one - one
        t = zero
        for n in range(N):
            for j in range(S):
                t += x[n, c, j]
        m = t * inv_m
        t = zero
        for n in range(N):
            for j in range(S):
                d = x[n, c, j] - m
                t += d * d
        mean[c] = m
        var[c] = t * inv_m
    rstd[c] = one / np.sqrt(var[c] + eps)


@njit(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy", inline="always")
def _bn_affine(x, w, b, mean, rstd, zero, y, c, n0, n1):
    """y[n0:n1, c] = (x - mean_c) * (rstd_c * w_c) + b_c."""
    mu = mean[c]
    scale = rstd[c] if w is None else rstd[c] * w[c]
    shift = zero if b is None else b[c]
    for n in range(n0, n1):
        for j in range(x.shape[2]):
            y[n, c, j] = (x[n, c, j] - mu) * scale + shift


@_kernel
def norm_channels_backward(g, x, mean, rstd, w, inv_m, gx, gw, gb, c0, c1):
    """The backward of norm_channels_forward, for channels c0:c1.  Per
    channel, with xc = x - mean, sg = sum(g), sgx = rstd * sum(g * xc) and
    a = rstd * w:
    gx = a * (g - sg / M) - xc * (a * rstd * sgx / M),  gw = sgx,  gb = sg.
    (``mean`` all zeros when ``x`` is already centred.)  ``gw`` and ``gb``
    may be None; with short rows the sums go through scratch arrays."""
    N, C, S = g.shape
    zero = inv_m - inv_m      # (not from rstd: a channel of NaN has rstd NaN)
    sgs = np.empty(C, g.dtype)
    sgxs = np.empty(C, g.dtype)
    if S >= _BN_LONG:
        for c in range(c0, c1):
            mu = mean[c]
            sg = zero
            sgx = zero
            for n in range(N):
                for j in range(S):
                    sg += g[n, c, j]
                    sgx += g[n, c, j] * (x[n, c, j] - mu)
            sgs[c] = sg
            sgxs[c] = sgx * rstd[c]
            # (at once, while the channel is still in cache)
            _bn_grad(g, x, mean, rstd, w, sgs, sgxs, inv_m, gx, c, 0, N)
    else:
        for c in range(c0, c1):
            sgs[c] = zero
            sgxs[c] = zero
        for n in range(N):
            for c in range(c0, c1):
                mu = mean[c]
                sg = zero
                sgx = zero
                for j in range(S):
                    sg += g[n, c, j]
                    sgx += g[n, c, j] * (x[n, c, j] - mu)
                sgs[c] += sg
                sgxs[c] += sgx
        for c in range(c0, c1):
            sgxs[c] *= rstd[c]
        for n in range(N):
            for c in range(c0, c1):
                _bn_grad(g, x, mean, rstd, w, sgs, sgxs, inv_m, gx, c, n, n + 1)
    for c in range(c0, c1):
        if gw is not None:
            gw[c] = sgxs[c]
        if gb is not None:
            gb[c] = sgs[c]


@njit(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy", inline="always")
def _bn_grad(g, x, mean, rstd, w, sgs, sgxs, inv_m, gx, c, n0, n1):
    """gx[n0:n1, c] of norm_channels_backward, from the channel's sums."""
    r = rstd[c]
    mu = mean[c]
    a = r if w is None else r * w[c]
    k1 = sgs[c] * inv_m
    k2 = a * r * sgxs[c] * inv_m
    for n in range(n0, n1):
        for j in range(g.shape[2]):
            gx[n, c, j] = a * (g[n, c, j] - k1) - (x[n, c, j] - mu) * k2


@_kernel
def channel_affine(x, scale, shift, y, r0):
    """y[i] = x[i] * scale[c] + shift[c] for the rows i of (R, S) views of an
    (N, C, S) array, c = (r0 + i) % C (r0: the first row's index in the
    whole array): eval-mode batch norm in one pass."""
    R, S = x.shape
    C = scale.shape[0]
    for i in range(R):
        c = (r0 + i) % C
        a = scale[c]
        b = shift[c]
        for j in range(S):
            y[i, j] = x[i, j] * a + b


# ---- exp for float32, inside a loop ---------------------------------------------------
# np.exp is a separate pass over memory; a compiled loop calling libm's expf
# runs one element at a time.  _exp32 is exp as plain arithmetic, which the
# compiler vectorises inside the calling loop:
#   exp(v) = 2^n * exp(r),  n = round(v / ln 2),  r = v - n ln 2 in [-ln2/2, ln2/2]
# with n ln 2 subtracted in two parts (ln 2 = hi + lo, n * hi exact) and exp(r)
# by its degree-7 Taylor polynomial (truncation error < 1e-8).  2^n is built
# from its bits, in two factors so that results down to the subnormals come out
# right.  Relative error < 1e-7 over the float32 range (NumPy's own expf: ~2e-7);
# inf, -inf, NaN and the overflow / underflow bounds give what expf gives.  Its
# own flags exclude "reassoc", which could merge the two-part subtraction.

_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)         # 355/512: n * _LN2_HI is exact for |n| < 2^15
_LN2_LO = np.float32(-2.12194440e-4)      # ln 2 - _LN2_HI
_EXP_MAX = np.float32(88.72283)           # exp overflows above
_EXP_MIN = np.float32(-103.97208)         # exp is 0 below (half the smallest subnormal)
_TAYLOR = tuple(np.float32(1.0 / np.prod(np.arange(1.0, k + 1))) for k in range(8))
_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_FHALF = np.float32(0.5)
_FINF = np.float32(np.inf)
_I127 = np.int32(127)
_I23 = np.int32(23)
_I1 = np.int32(1)


@njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
def _exp32_scaled(c):
    """exp(c) for a float32 c in [_EXP_MIN, _EXP_MAX] (see above).  Called,
    not inlined by Numba: LLVM inlines it keeping its own flags inside the
    fast-math GELU, where Numba's inline="always" would reassociate the
    two-part subtraction (measured: GELU off by an ulp here and there)."""
    n = np.floor(c * _LOG2E + _FHALF)
    r = (c - n * _LN2_HI) - n * _LN2_LO
    t = _TAYLOR
    p = t[0] + r * (t[1] + r * (t[2] + r * (t[3] + r * (t[4] + r * (t[5] + r * (t[6] + r * t[7]))))))
    k = np.int32(n)
    k1 = k >> _I1                               # 2^n = 2^k1 * 2^(n - k1), both normal
    s1 = np.int32((k1 + _I127) << _I23).view(np.float32)
    s2 = np.int32((k - k1 + _I127) << _I23).view(np.float32)
    return (p * s1) * s2


@njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
def _exp32(v):
    """exp(v) for a float32 v, as vectorisable arithmetic (see above)."""
    c = v
    if c > _EXP_MAX:
        c = _EXP_MAX
    if c < _EXP_MIN:
        c = _F0     # (any value whose result is normal: subnormal arithmetic is slow)
    y = _exp32_scaled(c)
    if v > _EXP_MAX:
        y = _FINF
    if v < _EXP_MIN:
        y = _F0
    if v != v:
        y = v
    return y


# ---- GELU (exact), float32 ---------------------------------------------------------------
# Phi(x) = 0.5 erfc(-x / sqrt 2), with erfc from Abramowitz & Stegun 7.1.26
# (|error| < 1.5e-7, the formula torch's vectorised CPU kernel uses too):
#   h = 0.5 erfc(|x| / sqrt 2) = t (a1 + t (a2 + ... + t a5)) exp(-x^2 / 2),
#   t = 1 / (1 + p |x| / sqrt 2),   Phi(x) = 1 - h for x >= 0, h for x < 0.

_P = np.float32(0.3275911 / np.sqrt(2.0))
_A1, _A2, _A3, _A4, _A5 = (np.float32(0.5 * c) for c in (
    0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))
_HALF = np.float32(-0.5)
_ONE = np.float32(1.0)
_INV_SQRT_2PI = np.float32(1.0 / np.sqrt(2.0 * np.pi))


@njit(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy", inline="always")
def _gelu_cdf(v):
    """(Phi(v), exp(-v^2 / 2)) of a float32 ``v``, as above.  exp's argument
    is never positive, so only _exp32's lower bound is checked (NaN passes
    through): a GPT MLP's 64 x 512 ~20% faster than with _exp32's five
    checks, with the same bits."""
    a = v * v * _HALF
    c = a
    if c < _EXP_MIN:
        c = _F0     # (as _exp32: a normal result, then 0)
    e = _exp32_scaled(c)
    if a < _EXP_MIN:
        e = _F0
    t = _ONE / (_ONE + _P * abs(v))
    h = t * (_A1 + t * (_A2 + t * (_A3 + t * (_A4 + t * _A5)))) * e
    return (_ONE - h if v >= 0 else h), e


@_kernel
def gelu_forward(x, y, dy):
    """Over flat float32 arrays, with e = exp(-x^2 / 2):  y = x Phi(x) and
    dy = dy/dx = Phi(x) + x pdf(x), saved for the backward (a single multiply).
    An empty ``dy`` (no_grad: nothing will read it): y only, the same bits,
    without the derivative's work and stores."""
    if dy.size == 0:
        for i in range(x.size):
            v = x[i]
            cdf, e = _gelu_cdf(v)
            y[i] = v * cdf
        return
    for i in range(x.size):
        v = x[i]
        cdf, e = _gelu_cdf(v)
        y[i] = v * cdf
        dy[i] = cdf + v * e * _INV_SQRT_2PI


# ---- softmax along the rows of a 2-D array ---------------------------------------------

@njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
def _shifted(v, m, c):
    """(v - m) - c, in that order (as torch's log_softmax; "reassoc" could
    make it v - (m + c), which loses digits when |v| is large)."""
    return (v - m) - c


_SUM_LOW = np.float32(1e-25)
_SUM_HIGH = np.float32(1e30)


@_kernel
def softmax_rows(x, y, log, shift):
    """Per row of the float32 (R, D) ``x``: e = exp(x - m), s = sum(e);
    y = e / s, or y = x - m - log(s) with ``log``.  m is the row max with
    ``shift``; without it (the caller saw every x below 80) m = 0, which
    saves a pass, and a row whose sum leaves [1e-25, 1e30] is redone with
    its max.  A row holding NaN gives NaN, as does an all -inf row
    (exp(-inf - -inf)), as in torch."""
    R, D = x.shape
    for i in range(R):
        m = _F0
        for attempt in range(2):
            if shift or attempt:
                m = -_FINF
                for j in range(D):
                    if x[i, j] > m:
                        m = x[i, j]
            s = _F0
            if log:
                for j in range(D):
                    s += _exp32(x[i, j] - m)
            else:
                for j in range(D):
                    e = _exp32(x[i, j] - m)
                    y[i, j] = e
                    s += e
            if shift or attempt or (s >= _SUM_LOW and s <= _SUM_HIGH) or s != s:
                break
        if log:
            ls = np.log(s)
            for j in range(D):
                y[i, j] = _shifted(x[i, j], m, ls)
        else:
            f = _F1 / s
            for j in range(D):
                y[i, j] *= f


@_kernel
def softmax_rows_masked(s, bias, width):
    """Attention's softmax, in place on the float32 scores ``s`` (R, S).  Row
    i uses row r = i % L of ``bias`` (L, S) (0 / -inf entries; None: no mask)
    and sees only its first width[r] keys (``width`` (L,): the keys past it
    are masked, so they are neither read nor exponentiated; they get 0):
        s_i[:n] = exp(a - m) / sum(exp(a - m)),  a = s_i[:n] + b_r[:n].
    m = 0 first (attention scores are small, and this saves the row-max
    pass); a row whose sum leaves [1e-25, 1e30] is redone with its max, so
    large scores and NaN come out as with the max.  A row masked everywhere
    gets zeros (torch's safe softmax)."""
    R, S = s.shape
    L = width.shape[0]
    e = np.empty(S, np.float32)
    for i in range(R):
        r = i % L
        n = width[r]
        m = _F0
        d = _F0
        for attempt in range(2):
            if attempt:
                m = -_FINF
                for j in range(n):
                    a = s[i, j]
                    if bias is not None:
                        a += bias[r, j]
                    if a > m:
                        m = a
                if m == -_FINF:
                    m = _F0          # (all masked: exp(-inf) = 0 everywhere)
            d = _F0
            for j in range(n):
                a = s[i, j]
                if bias is not None:
                    a += bias[r, j]
                x = _exp32(a - m)
                e[j] = x
                d += x
            if attempt or (d >= _SUM_LOW and d <= _SUM_HIGH):
                break
        f = _F1 / d if d != _F0 else _F0
        for j in range(n):
            s[i, j] = e[j] * f
        for j in range(n, S):
            s[i, j] = _F0


@_exact
def relu_forward(x, y):
    """y = 0 where x < 0, else x, over flat arrays: torch's relu (NaN and -0.0
    pass through).  One pass; NumPy's maximum(x, 0) is ~3x slower (its NaN
    handling) and turns -0.0 into 0."""
    for i in range(x.size):
        v = x[i]
        y[i] = 0 if v < 0 else v


@_exact
def rows_add(x, b):
    """x_i += b for each row i: a bias over the rows of a linear layer's output
    (NumPy's broadcast add against a short row runs ~3x slower)."""
    R, D = x.shape
    for i in range(R):
        for j in range(D):
            x[i, j] += b[j]


@_kernel
def rows_scale(e, f):
    """e_i *= f_i for each row i (softmax's normalisation: f = 1 / row sums)."""
    R, D = e.shape
    for i in range(R):
        r = f[i]
        for j in range(D):
            e[i, j] *= r


@_kernel
def softmax_rows_backward(g, y, gx):
    """gx_i = y_i * (g_i - sum(g_i * y_i)) per row.  gx may be g itself (each
    row is read first)."""
    R, D = g.shape
    for i in range(R):
        c = g[i, 0] * y[i, 0]
        for j in range(1, D):
            c += g[i, j] * y[i, j]
        for j in range(D):
            gx[i, j] = y[i, j] * (g[i, j] - c)


@_kernel
def attention_softmax_backward(g, p, width, scale):
    """The backward of ``softmax_rows_masked`` to the unscaled scores, in
    place on the float32 (R, S) ``g``: g_i[:n] = scale * p_i * (g_i -
    sum(g_i * p_i)) over the first n = width[i % L] keys, 0 past them
    (where p is 0; g is not read there)."""
    R, S = g.shape
    L = width.shape[0]
    for i in range(R):
        n = width[i % L]
        c = _F0
        for j in range(n):
            c += g[i, j] * p[i, j]
        for j in range(n):
            g[i, j] = scale * p[i, j] * (g[i, j] - c)
        for j in range(n, S):
            g[i, j] = _F0


# ---- LLVM IR: the pieces the intrinsics share ----------------------------------------------
# Some kernels below are written as LLVM IR (Numba ``@intrinsic``s) where a
# loop does not compile to the vector code wanted: shuffles of lanes, a
# block of sums held in registers over a whole loop, masked loads and
# stores.  They read and write float32 vectors unaligned at addresses passed
# as int64, built from these pieces.

def _ir_vec_ptr(builder, base, at, vt):
    """A pointer to a vector of type ``vt`` at float pointer ``base`` + ``at``
    (an int64 value, elements)."""
    return builder.bitcast(builder.gep(base, [at]), vt.as_pointer())


def _ir_load(builder, ptr):
    """The vector at ``ptr``, read unaligned (alignment 4: a float's)."""
    ld = builder.load(ptr)
    ld.align = 4
    return ld


def _ir_store(builder, val, ptr):
    """The vector ``val`` written at ``ptr``, unaligned."""
    st = builder.store(val, ptr)
    st.align = 4


def _ir_lanes(picks):
    """A shuffle mask: the lanes ``picks`` of two vectors joined (the first
    vector's lanes numbered from 0, the second's after them)."""
    picks = list(picks)
    return ir.Constant(ir.VectorType(ir.IntType(32), len(picks)), picks)


def _ir_splat(builder, value, n):
    """<n x T>: the scalar ``value`` (of type T) in every lane: put in lane 0,
    then shuffled into all n (what LLVM turns into one broadcast)."""
    undef = ir.Constant(ir.VectorType(value.type, n), ir.Undefined)
    lane0 = builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(lane0, undef, _ir_lanes([0] * n))


def _ir_fma(builder, vt):
    """LLVM's fused multiply-add of float32 vectors of type ``vt``:
    fma(a, b, c) = a*b + c, rounded once."""
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt, vt, vt]),
                                          "llvm.fma.v%df32" % vt.count)


def _ir_loop_head(builder, entry, inits):
    """At the top of a counted loop's body block (entered from ``entry``): the
    counter (from 0) and one accumulator per initial value in ``inits``, as
    phis (LLVM wants them first in the block).  Returns (counter, accs)."""
    i64 = ir.IntType(64)
    k = builder.phi(i64)
    k.add_incoming(ir.Constant(i64, 0), entry)
    accs = []
    for v in inits:
        a = builder.phi(v.type)
        a.add_incoming(v, entry)
        accs.append(a)
    return k, accs


def _ir_loop_latch(builder, k, accs, new, n, loop, done):
    """The end of that loop's body (the builder in its last block): the
    accumulators take their ``new`` values, the counter steps by one, the
    body runs again from ``loop`` (its top) while it is below ``n``; the
    builder is left at ``done``.  Returns the stepped counter (the count of
    runs, where ``done`` follows the last)."""
    end = builder.block
    k1 = builder.add(k, ir.Constant(k.type, 1))
    k.add_incoming(k1, end)
    for a, b in zip(accs, new):
        a.add_incoming(b, end)
    builder.cbranch(builder.icmp_signed("<", k1, n), loop, done)
    builder.position_at_end(done)
    return k1


class _IRVec:
    """LLVM vectors of float32 read and written at int64 addresses
    (unaligned) for the intrinsics below (the strided rows' split and merge,
    Winograd's transforms)."""

    def __init__(self, builder, lanes):
        self.b = builder        # (an llvmlite IRBuilder)
        self.L = lanes          # floats per vector
        self.f32, self.i32, self.i64 = ir.FloatType(), ir.IntType(32), ir.IntType(64)
        self.ops = (builder.fadd, builder.fsub, builder.fneg)

    def ptr(self, addr, off=None, n=None):
        """A <n x float> pointer at float32 address ``addr`` + ``off`` (an
        int64 value, elements)."""
        p = self.b.inttoptr(addr, self.f32.as_pointer())
        if off is not None:
            p = self.b.gep(p, [off])
        return self.b.bitcast(p, ir.VectorType(self.f32, n or self.L).as_pointer())

    def load(self, addr, off=None, n=None):
        return _ir_load(self.b, self.ptr(addr, off, n))

    def store(self, val, addr, off=None):
        _ir_store(self.b, val, self.ptr(addr, off, val.type.count))

    def at(self, stride, k):
        """The offset k * stride (stride an int64 value)."""
        return self.b.mul(stride, ir.Constant(self.i64, k))

    def shuffle(self, a, b, idx):
        return self.b.shuffle_vector(a, b, _ir_lanes(idx))

    def halves(self, wide):
        """(even lanes, odd lanes) of a 2L-lane vector: columns 2j and 2j + 1."""
        L = self.L
        return (self.shuffle(wide, wide, list(range(0, 2 * L, 2))),
                self.shuffle(wide, wide, list(range(1, 2 * L, 2))))


# ---- convolution: im2col and its adjoint (col2im) -----------------------------------------
# The columns of a 2-D convolution, compact layout (see ember/nn/functional/conv.py):
#   cols[r, s, ho, wo] = x[n0 + s, c, ho*sh + i*dh - pt, wo*sw + j*dw - pl]   (0 outside x)
# with row r = (c*kh + i)*kw + j.  Reading x unpadded and writing the zeros
# here replaces a padded copy of x.  The arrays come flat and are indexed
# with unsigned integers: with signed ones Numba checks every index for
# wrap-around, which keeps the short row copies from vectorising (measured
# 7x slower on ResNet's 3x3 convs).

@njit(cache=True, nogil=True)
def _conv_span(off, s, size, n_out):
    """The outputs o in [lo, hi) whose input position o*s + off lies in [0, size)."""
    lo = 0 if off >= 0 else (s - 1 - off) // s
    hi = (size - off + s - 1) // s if size > off else 0
    if hi > n_out:
        hi = n_out
    if lo > hi:
        lo = hi
    return lo, hi


_U0 = np.uint64(0)


@intrinsic
def _split_row3(typingctx, src, dst, T, n8):
    """The three taps of a stride-2, 1-padded, 3-wide window along one input
    row of 16*n8 floats at address ``src``: float32 rows dst (x[2w - 1], zero
    at w = 0), dst + T (x[2w]), dst + 2T (x[2w + 1]), w < 8*n8.  Per 8
    outputs two 8-float loads, their even and odd lanes shuffled apart, and
    the odd ones shifted by one lane for the first row.  (As a loop, the
    stride-2 reads compile to scalar loads and stores.)"""
    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        src_, dst_, T_, n8_ = args
        V = _IRVec(builder, 8)
        entry = builder.block
        loop = builder.append_basic_block("split.loop")
        done = builder.append_basic_block("split.done")
        builder.cbranch(builder.icmp_signed(">", n8_, ir.Constant(i64, 0)), loop, done)
        builder.position_at_end(loop)
        k, (prev,) = _ir_loop_head(builder, entry, [ir.Constant(ir.VectorType(V.f32, 8), None)])
        at = V.at(k, 16)
        lo = V.load(src_, at)
        hi = V.load(src_, builder.add(at, ir.Constant(i64, 8)))
        odd = V.shuffle(lo, hi, range(1, 16, 2))
        out = V.at(k, 8)
        for row, v in ((0, V.shuffle(prev, odd, range(7, 15))),
                       (1, V.shuffle(lo, hi, range(0, 16, 2))), (2, odd)):
            V.store(v, dst_, builder.add(out, V.at(T_, row)))
        _ir_loop_latch(builder, k, [prev], [odd], n8_, loop, done)
        return context.get_dummy_value()
    return types.void(types.int64, types.int64, types.int64, types.int64), codegen


@njit(cache=True, nogil=True)
def _im2col_split3(x, cols, C, H, W, s0, n, h0, nh, Wo, kh, sh, dh, pt, r0, r1, zero):
    """``_im2col_rows`` for rows r0:r1 (whole triples: the three taps of a
    kernel row) of a float32 conv 3 wide, horizontal stride 2, dilation 1,
    1 padded column, W = 2*Wo, Wo a multiple of 8, by ``_split_row3``."""
    T = n * nh * Wo
    for r in range(r0, r1, 3):
        c = r // (kh * 3)
        i = (r // 3) % kh
        for s in range(n):
            plane = ((s0 + s) * C + c) * H * W
            for hh in range(nh):
                d = r * T + (s * nh + hh) * Wo
                h = (h0 + hh) * sh + i * dh - pt
                if h < 0 or h >= H:
                    for j in range(3):
                        for wo in range(Wo):
                            cols[d + j * T + wo] = zero
                    continue
                _split_row3(x.ctypes.data + 4 * (plane + h * W), cols.ctypes.data + 4 * d, T,
                            Wo // 8)


@_kernel
def _im2col_rows(x, cols, C, H, W, s0, n, h0, nh, Wo, kh, kw, sh, sw, dh, dw, pt, pl, r0, r1,
                 zero):
    """Rows r0:r1 of cols (C*kh*kw, n, nh, Wo): the windows of output rows
    h0:h0+nh of samples s0:s0+n of x (N, C, H, W) (both flat, C-ordered;
    zeros in the padding).  The zeros are stores of ``zero``, 0 in cols'
    dtype passed in (as ``pad_planes``'): a literal 0 makes each row's short
    runs of padding a memset call."""
    if x.itemsize == 4 and kw == 3 and sw == 2 and dw == 1 and pl == 1 and W == 2 * Wo \
            and Wo % 8 == 0 and r0 % 3 == 0 and r1 % 3 == 0:
        _im2col_split3(x, cols, C, H, W, s0, n, h0, nh, Wo, kh, sh, dh, pt, r0, r1, zero)
        return
    usw = np.uint64(sw)
    uWo = np.uint64(Wo)
    T = n * nh * Wo
    for r in range(r0, r1):
        c = r // (kh * kw)
        i = (r // kw) % kh
        j = r % kw
        off = j * dw - pl
        lo, hi = _conv_span(off, sw, W, Wo)
        ulo, uhi = np.uint64(lo), np.uint64(hi)
        for s in range(n):
            plane = ((s0 + s) * C + c) * H * W
            for hh in range(nh):
                d = np.uint64(r * T + (s * nh + hh) * Wo)
                h = (h0 + hh) * sh + i * dh - pt
                if h < 0 or h >= H:
                    for wo in range(_U0, uWo):
                        cols[d + wo] = zero
                    continue
                b = plane + h * W + off      # (>= 0 from wo = lo on)
                for wo in range(_U0, ulo):
                    cols[d + wo] = zero
                if sw == 1:
                    ub = np.uint64(b + lo) - ulo
                    for wo in range(ulo, uhi):
                        cols[d + wo] = x[ub + wo]
                else:
                    ub = np.uint64(b + lo * sw) - ulo * usw
                    for wo in range(ulo, uhi):
                        cols[d + wo] = x[ub + wo * usw]
                for wo in range(uhi, uWo):
                    cols[d + wo] = zero


@_kernel
def im2col(x, cols, C, H, W, n0, n, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, r0, r1, zero):
    """Rows r0:r1 of cols (C*kh*kw, n, Ho, Wo) from x (N, C, H, W), as above
    (both flat, C-ordered): every output row of samples n0:n0+n."""
    _im2col_rows(x, cols, C, H, W, n0, n, 0, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, r0, r1,
                 zero)


@intrinsic
def _merge_row3(typingctx, src, T, dst, n8):
    """The adjoint of ``_split_row3``: the input row of 16*n8 floats at
    address ``dst`` += the three rows at ``src`` (T apart) where they were
    read from: x[2w] += r1[w], x[2w + 1] += r0[w + 1] then += r2[w] (r0[0]
    fell in the padding).  Per 8 outputs: the row's two 8-float vectors
    split into even and odd lanes, added to, and interleaved back.  (The
    additions in the scalar loop's order: the same bits.)"""
    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        src_, T_, dst_, n8_ = args
        V = _IRVec(builder, 8)

        def body(k, cur0, nxt0):
            at = V.at(k, 16)
            at_hi = builder.add(at, ir.Constant(i64, 8))
            lo, hi = V.load(dst_, at), V.load(dst_, at_hi)
            out = V.at(k, 8)
            r1 = V.load(src_, builder.add(out, T_))
            r2 = V.load(src_, builder.add(out, V.at(T_, 2)))
            even = builder.fadd(V.shuffle(lo, hi, range(0, 16, 2)), r1)
            odd = builder.fadd(V.shuffle(lo, hi, range(1, 16, 2)),
                               V.shuffle(cur0, nxt0, range(1, 9)))
            odd = builder.fadd(odd, r2)
            for at_, mask in ((at, [0, 8, 1, 9, 2, 10, 3, 11]),       # (even, odd) interleaved
                              (at_hi, [4, 12, 5, 13, 6, 14, 7, 15])):
                V.store(V.shuffle(even, odd, mask), dst_, at_)

        # chunks 0 .. n8-2 read r0's next chunk; the last one, zeros past r0's end
        last = builder.sub(n8_, ir.Constant(i64, 1))
        first0 = V.load(src_)
        entry = builder.block
        loop = builder.append_basic_block("merge.loop")
        tail = builder.append_basic_block("merge.tail")
        builder.cbranch(builder.icmp_signed(">", last, ir.Constant(i64, 0)), loop, tail)
        builder.position_at_end(loop)
        k, (cur0,) = _ir_loop_head(builder, entry, [first0])
        nxt0 = V.load(src_, V.at(builder.add(k, ir.Constant(i64, 1)), 8))
        body(k, cur0, nxt0)
        k1 = _ir_loop_latch(builder, k, [cur0], [nxt0], last, loop, tail)
        kt = builder.phi(i64)
        kt.add_incoming(ir.Constant(i64, 0), entry)
        kt.add_incoming(k1, loop)
        ct = builder.phi(first0.type)
        ct.add_incoming(first0, entry)
        ct.add_incoming(nxt0, loop)
        body(kt, ct, ir.Constant(first0.type, None))
        return context.get_dummy_value()
    return types.void(types.int64, types.int64, types.int64, types.int64), codegen


@njit(cache=True, nogil=True)
def _col2im_merge3(cols, gx, C, H, W, s0, n, h0, nh, Wo, kh, sh, dh, pt, c0, c1, T):
    """``_col2im_rows`` for a conv as ``_im2col_split3``'s, by ``_merge_row3``
    (each input element's additions in the same order)."""
    for c in range(c0, c1):
        for s in range(n):
            plane = ((s0 + s) * C + c) * H * W
            for i in range(kh):
                r = (c * kh + i) * 3
                for hh in range(nh):
                    h = (h0 + hh) * sh + i * dh - pt
                    if h < 0 or h >= H:
                        continue
                    _merge_row3(cols.ctypes.data + 4 * (r * T + (s * nh + hh) * Wo), T,
                                gx.ctypes.data + 4 * (plane + h * W), Wo // 8)


@_kernel
def _col2im_rows(cols, gx, C, H, W, s0, n, h0, nh, Wo, kh, kw, sh, sw, dh, dw, pt, pl, c0, c1,
                 T):
    """The adjoint of ``_im2col_rows`` for channels c0:c1 of the columns
    (C*kh*kw, n, nh, Wo) of output rows h0:h0+nh of samples s0:s0+n, rows
    T elements apart (at least n*nh*Wo): gx[s0 + s, c, ...] += each column
    entry at the input position it was read from (windows overlap, so
    entries add, in the order (i, j, row) for every input element;
    positions in the padding are dropped).  Flat arrays."""
    if cols.itemsize == 4 and kw == 3 and sw == 2 and dw == 1 and pl == 1 and W == 2 * Wo \
            and Wo % 8 == 0:
        _col2im_merge3(cols, gx, C, H, W, s0, n, h0, nh, Wo, kh, sh, dh, pt, c0, c1, T)
        return
    usw = np.uint64(sw)
    for c in range(c0, c1):
        for s in range(n):
            plane = ((s0 + s) * C + c) * H * W
            for i in range(kh):
                for j in range(kw):
                    r = (c * kh + i) * kw + j
                    off = j * dw - pl
                    lo, hi = _conv_span(off, sw, W, Wo)
                    ulo, uhi = np.uint64(lo), np.uint64(hi)
                    for hh in range(nh):
                        h = (h0 + hh) * sh + i * dh - pt
                        if h < 0 or h >= H:
                            continue
                        d = np.uint64(r * T + (s * nh + hh) * Wo)
                        b = plane + h * W + off
                        if sw == 1:
                            ub = np.uint64(b + lo) - ulo
                            for wo in range(ulo, uhi):
                                gx[ub + wo] += cols[d + wo]
                        else:
                            ub = np.uint64(b + lo * sw) - ulo * usw
                            for wo in range(ulo, uhi):
                                gx[ub + wo * usw] += cols[d + wo]


@_kernel
def col2im(cols, gx, C, H, W, n0, n, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, c0, c1):
    """The adjoint of im2col for channels c0:c1 (every output row of samples
    n0:n0+n).  Flat arrays."""
    _col2im_rows(cols, gx, C, H, W, n0, n, 0, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, c0, c1,
                 n * Ho * Wo)


@_kernel
def pad_planes(x, xp, H, W, Hp, Wp, pt, pl, p0, p1, zero):
    """Planes p0:p1 of xp (P, Hp, Wp) = those of x (P, H, W) with ``pt`` rows
    and ``pl`` columns of zeros before them and the rest of (Hp, Wp) after
    (both flat): a zero-padded copy in one pass, each element written once.
    The zeros between two rows (one row's right columns and the next one's
    left, one run) are stores of ``zero``, 0 of xp's dtype passed in: a
    literal 0 makes each such short run a memset call, which on rows of 8 to
    32 values cost more than the copy (ResNet's planes, in cache: 32x32
    125 -> 85 us, 16x16 143 -> 107, 8x8 136 -> 76)."""
    uW = np.uint64(W)
    gap = np.uint64(Wp - W)
    for p in range(p0, p1):
        src = np.uint64(p * H * W)
        dst = np.uint64(p * Hp * Wp)
        d = dst + np.uint64(pt * Wp + (pl if H else 0))
        for e in range(dst, d):         # the top rows, the first row's left columns
            xp[e] = 0
        for h in range(H):
            if h:
                for e in range(_U0, gap):
                    xp[d + e] = zero
                d += gap
            b = src + np.uint64(h * W)
            for e in range(_U0, uW):
                xp[d + e] = x[b + e]
            d += uW
        for e in range(d, dst + np.uint64(Hp * Wp)):   # the last row's right columns, below
            xp[e] = 0



@_kernel
def phase_planes(x, xq, H, W, sh, sw, Hq, Wq, pt, pl, p0, p1, zero):
    """Planes p0:p1 of xq (P, sh*sw, Hq, Wq) = those of x (P, H, W) zero-padded
    (``pt`` rows, ``pl`` columns before) and split into stride phases: phase
    (p, q) row a, column b holds padded row a*sh + p, column b*sw + q (zero
    outside x).  Both flat; every element written once (a strided conv's
    shifted-GEMM / direct input, see _conv._phased).  Each row's in-range
    columns b0:b1 are found once, so the copy loop has no branch (unsigned
    indices: no negative-index checks).  The zeros are stores of ``zero``
    (0 in xq's dtype), not memset calls: see ``pad_planes``."""
    uWq = np.uint64(Wq)
    usw = np.uint64(sw)
    for c in range(p0, p1):
        src = np.uint64(c * H * W)
        for p in range(sh):
            for q in range(sw):
                base = np.uint64(((c * sh + p) * sw + q) * Hq * Wq)
                # columns b with 0 <= b*sw + q - pl < W
                b0 = min(max(0, -((q - pl) // sw)), Wq)
                b1 = max(b0, min(Wq, (W - 1 + pl - q) // sw + 1))
                ub0, ub1 = np.uint64(b0), np.uint64(b1)
                for a in range(Hq):
                    row = base + np.uint64(a) * uWq
                    h = a * sh + p - pt
                    if h < 0 or h >= H:
                        for b in range(_U0, uWq):
                            xq[row + b] = zero
                        continue
                    for b in range(_U0, ub0):
                        xq[row + b] = zero
                    # x column b*sw + q - pl, for b >= b0 (>= 0 there)
                    s0 = src + np.uint64(h * W + b0 * sw + q - pl)
                    for b in range(_U0, ub1 - ub0):
                        xq[row + ub0 + b] = x[s0 + b * usw]
                    for b in range(ub1, uWq):
                        xq[row + b] = zero

# ---- convolution as cache-sized tiles: im2col + GEMM per tile --------------------------------
# (ember/backends/cpu/_conv.py's tiled path.)  A "tile" is output rows h0:h1 of
# samples s0:s1 (several whole samples when an image is small, else a band of
# rows of one sample); its columns (K, n, rows, Wo) are built into a buffer
# that stays in the core's L2 cache and multiplied at once by single-thread
# BLAS, called here without the GIL.  A 9x-expanded im2col buffer for the whole
# batch never goes to memory, and BLAS reads its operand from cache: OpenBLAS
# runs ResNet's 16-channel GEMMs at ~2x the rate of one big product that way.
# When a tile is one sample, the GEMM writes straight into the NCHW output
# (or reads the NCHW output gradient) with a leading dimension of Ho*Wo.


def _gemm_codegen(beta_given):
    """The codegen of ``_cblas_gemm`` (beta 0) or ``_cblas_gemm_beta``: the
    call, CblasRowMajor (101) first and the two transposes as C ints."""
    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        f = context.get_value_type(signature.args[6])
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, f, i64, i64,
                                              i64, i64, f, i64, i64])
        v = list(args)
        if not beta_given:
            v.insert(11, ir.Constant(f, 0.0))
        call = [ir.Constant(i32, 101)] + [builder.trunc(x, i32) for x in v[1:3]] + v[3:]
        builder.call(builder.inttoptr(v[0], fnty.as_pointer()), call)
        return context.get_dummy_value()
    return codegen


@intrinsic
def _cblas_gemm(typingctx, addr, ta, tb, m, n, k, alpha, a, lda, b, ldb, c, ldc):
    """Call the row-major CBLAS ?gemm at address ``addr`` (ILP64: 64-bit
    integers; the pointers a, b, c as integers): c = alpha a b, beta = 0."""
    sig = types.void(types.int64, types.int64, types.int64, types.int64, types.int64,
                     types.int64, alpha, types.int64, types.int64, types.int64, types.int64,
                     types.int64, types.int64)
    return sig, _gemm_codegen(False)


@intrinsic
def _cblas_gemm_beta(typingctx, addr, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """``_cblas_gemm`` with beta given: c = alpha a b + beta c."""
    sig = types.void(types.int64, types.int64, types.int64, types.int64, types.int64,
                     types.int64, alpha, types.int64, types.int64, types.int64, types.int64,
                     alpha, types.int64, types.int64)
    return sig, _gemm_codegen(True)


@_kernel
def _im2col_tile(x, cols, C, H, W, s0, n, h0, nh, Wo, kh, kw, sh, sw, dh, dw, pt, pl, zero):
    """cols (C*kh*kw, n, nh, Wo) = the windows of output rows h0:h0+nh of
    samples s0:s0+n of x (N, C, H, W) (both flat; ``zero`` in the padding)."""
    _im2col_rows(x, cols, C, H, W, s0, n, h0, nh, Wo, kh, kw, sh, sw, dh, dw, pt, pl,
                 0, C * kh * kw, zero)


@_kernel
def _col2im_tile(cols, gx, C, H, W, s0, n, h0, nh, Wo, kh, kw, sh, sw, dh, dw, pt, pl):
    """The adjoint of ``_im2col_tile``: gx += the columns at the positions they
    were read from (entries in the padding dropped)."""
    _col2im_rows(cols, gx, C, H, W, s0, n, h0, nh, Wo, kh, kw, sh, sw, dh, dw, pt, pl, 0, C,
                 n * nh * Wo)


@_kernel
def _gather_tile(g, buf, O, L, s0, n):
    """buf (O, n, L) = g[s0:s0+n] (N, O, L), both flat: a multi-sample tile's
    output-side operand."""
    for o in range(O):
        for s in range(n):
            src = ((s0 + s) * O + o) * L
            dst = (o * n + s) * L
            for p in range(L):
                buf[dst + p] = g[src + p]


@_kernel
def conv_tiles_forward(x, w, bias, y, cols_all, out, tiles, offs, t0, t1, C, H, W, Ho, Wo,
                       kh, kw, sh, sw, dh, dw, pt, pl, G, fn, one, zero):
    """y (N, O, Ho, Wo) = conv(x, w) (+ bias) on tiles t0:t1 (rows of ``tiles``:
    s0, s1, h0, h1).  w (O, Kg) contiguous, bias (O,) or empty; x, y, and the
    scratch ``cols_all`` and ``out`` (O*T) flat; ``fn``: ?gemm's address.
    Tile t's columns (K*T) go to ``cols_all[offs[t]:]`` (the whole batch's
    columns, kept for the weight gradient), or, with ``offs`` empty, to the
    start of ``cols_all`` (one tile's scratch)."""
    O, Kg = w.shape
    Og = O // G
    L = Ho * Wo
    isz = x.itemsize
    for t in range(t0, t1):
        s0, n, h0 = tiles[t, 0], tiles[t, 1] - tiles[t, 0], tiles[t, 2]
        nh = tiles[t, 3] - h0
        T = n * nh * Wo
        cols = cols_all[offs[t]:] if offs.size else cols_all
        _im2col_tile(x, cols, C, H, W, s0, n, h0, nh, Wo, kh, kw, sh, sw, dh, dw, pt, pl, zero)
        for grp in range(G):
            pa = w.ctypes.data + grp * Og * Kg * isz
            pb = cols.ctypes.data + grp * Kg * T * isz
            if n == 1:
                _cblas_gemm_beta(fn, _NT, _NT, Og, T, Kg, one, pa, Kg, pb, T, zero,
                                 y.ctypes.data + ((s0 * O + grp * Og) * L + h0 * Wo) * isz, L)
            else:
                _cblas_gemm_beta(fn, _NT, _NT, Og, T, Kg, one, pa, Kg, pb, T, zero,
                                 out.ctypes.data + grp * Og * T * isz, T)
        if n == 1:
            if bias.size:
                for o in range(O):
                    d = (s0 * O + o) * L + h0 * Wo
                    bo = bias[o]
                    for p in range(T):
                        y[d + p] += bo
        else:
            for s in range(n):
                for o in range(O):
                    d = ((s0 + s) * O + o) * L
                    e = (o * n + s) * L
                    bo = bias[o] if bias.size else zero
                    for p in range(L):
                        y[d + p] = out[e + p] + bo


@_kernel
def conv_tiles_wgrad(x, g, gwt, cols_all, buf, tiles, offs, t0, t1, C, H, W, O, Ho, Wo, kh,
                     kw, sh, sw, dh, dw, pt, pl, G, fn, one, zero):
    """gwt (G, Kg, Og) += cols @ g^T over tiles t0:t1: the weight gradient,
    transposed, of output gradient g (N, O, Ho, Wo) (flat, like x; ``buf``
    (O*T) is scratch).  (cols @ g^T has many rows and the long axis inner to
    both operands: BLAS runs it faster than g @ cols^T.)  Tile t's columns
    are ``cols_all[offs[t]:]`` as ``conv_tiles_forward`` kept them, or, with
    ``offs`` empty, built here into the scratch ``cols_all``."""
    _, Kg, Og = gwt.shape
    L = Ho * Wo
    isz = x.itemsize
    for t in range(t0, t1):
        s0, n, h0 = tiles[t, 0], tiles[t, 1] - tiles[t, 0], tiles[t, 2]
        nh = tiles[t, 3] - h0
        T = n * nh * Wo
        if offs.size:
            cols = cols_all[offs[t]:]
        else:
            cols = cols_all
            _im2col_tile(x, cols, C, H, W, s0, n, h0, nh, Wo, kh, kw, sh, sw, dh, dw, pt, pl,
                         zero)
        if n > 1:
            _gather_tile(g, buf, O, L, s0, n)
        for grp in range(G):
            pa = cols.ctypes.data + grp * Kg * T * isz
            pc = gwt.ctypes.data + grp * Kg * Og * isz
            if n == 1:
                _cblas_gemm_beta(fn, _NT, _T, Kg, Og, T, one, pa, T,
                                 g.ctypes.data + ((s0 * O + grp * Og) * L + h0 * Wo) * isz, L,
                                 one, pc, Og)
            else:
                _cblas_gemm_beta(fn, _NT, _T, Kg, Og, T, one, pa, T,
                                 buf.ctypes.data + grp * Og * T * isz, T, one, pc, Og)


@_kernel
def conv_tiles_dgrad(g, w, gx, cols, buf, tiles, t0, t1, C, H, W, Ho, Wo, kh, kw, sh, sw,
                     dh, dw, pt, pl, G, fn, one, zero):
    """gx (N, C, H, W) += the input gradient of output gradient g over tiles
    t0:t1: cols = w^T g per tile, sent back by ``_col2im_tile``.  Tiles of
    one sample overlap in gx: t0:t1 must hold whole samples of their own."""
    O, Kg = w.shape
    Og = O // G
    L = Ho * Wo
    isz = g.itemsize
    for t in range(t0, t1):
        s0, n, h0 = tiles[t, 0], tiles[t, 1] - tiles[t, 0], tiles[t, 2]
        nh = tiles[t, 3] - h0
        T = n * nh * Wo
        if n > 1:
            _gather_tile(g, buf, O, L, s0, n)
        for grp in range(G):
            pa = w.ctypes.data + grp * Og * Kg * isz
            pc = cols.ctypes.data + grp * Kg * T * isz
            if n == 1:
                _cblas_gemm_beta(fn, _T, _NT, Kg, T, Og, one, pa, Kg,
                                 g.ctypes.data + ((s0 * O + grp * Og) * L + h0 * Wo) * isz, L,
                                 zero, pc, T)
            else:
                _cblas_gemm_beta(fn, _T, _NT, Kg, T, Og, one, pa, Kg,
                                 buf.ctypes.data + grp * Og * T * isz, T, zero, pc, T)
        _col2im_tile(cols, gx, C, H, W, s0, n, h0, nh, Wo, kh, kw, sh, sw, dh, dw, pt, pl)


# ---- convolution as shifted GEMMs ("implicit GEMM", no im2col) ----------------------------
# The input, zero-padded and split into its sh*sw stride phases, lies as
# xq (N, C, sh*sw, Hq, Wq): xq[n, c, p*sw + q, a, b] = xpad[n, c, a*sh + p, b*sw + q]
# (with stride 1, just the padded input).  Kernel offset (i, j) reads phase
# ((i*dh) % sh, (j*dw) % sw) shifted by ((i*dh) // sh, (j*dw) // sw), so over
# the *wide* positions p = hh*Wq + wo of a band of output rows, channel c's
# columns are one contiguous run of xq, and channels are sh*sw*Hq*Wq apart.
# BLAS reads them in place: kh*kw GEMMs of K = C/G each, accumulated into a
# (O, T) tile (the Wq - Wo columns past each output row are computed and
# dropped).  Nothing is copied but the phased input and the output tile.


@_kernel
def conv_shift_forward(xq, wr, bias, y, out, tiles, t0, t1, C, Hq, Wq, Ho, Wo, kh, kw, sh, sw,
                       dh, dw, G, fn, one, zero):
    """y (N, O, Ho, Wo) = the conv of phased xq (+ bias) on tiles t0:t1 (rows
    s, s + 1, h0, h1: bands of one sample).  wr (kh*kw*O, C/G): the weight
    as (i, j, o, c); ``out``: scratch (O * T)."""
    Cg = wr.shape[1]
    O = wr.shape[0] // (kh * kw)
    Og = O // G
    L = Ho * Wo
    plane = Hq * Wq
    ldc = sh * sw * plane
    isz = xq.itemsize
    for t in range(t0, t1):
        s, h0 = tiles[t, 0], tiles[t, 2]
        nh = tiles[t, 3] - h0
        T = (nh - 1) * Wq + Wo
        for grp in range(G):
            pc = out.ctypes.data + grp * Og * T * isz
            for i in range(kh):
                for j in range(kw):
                    ph = ((i * dh) % sh) * sw + (j * dw) % sw
                    pa = wr.ctypes.data + ((i * kw + j) * O + grp * Og) * Cg * isz
                    pb = xq.ctypes.data + ((s * C + grp * Cg) * ldc + ph * plane
                                           + (h0 + (i * dh) // sh) * Wq + (j * dw) // sw) * isz
                    _cblas_gemm_beta(fn, _NT, _NT, Og, T, Cg, one, pa, Cg, pb, ldc,
                                     zero if i == 0 and j == 0 else one, pc, T)
        for o in range(O):
            bo = bias[o] if bias.size else zero
            for hh in range(nh):
                d = (s * O + o) * L + (h0 + hh) * Wo
                e = o * T + hh * Wq
                for wo in range(Wo):
                    y[d + wo] = out[e + wo] + bo


@_kernel
def conv_shift_wgrad(xq, g, gwt, buf, tiles, t0, t1, C, Hq, Wq, O, Ho, Wo, kh, kw, sh, sw, dh,
                     dw, G, fn, one, zero):
    """gwt (kh*kw*G*Cg, Og) += the weight gradient, as (i, j, group, c, o),
    of the conv of phased xq with output gradient g (N, O, Ho, Wo), over
    tiles t0:t1: xq's shifted rows @ g^T, with g laid out wide in ``buf``
    (O * T), zeros in the columns past each row."""
    Og = gwt.shape[1]
    Cg = C // G
    L = Ho * Wo
    plane = Hq * Wq
    ldc = sh * sw * plane
    isz = xq.itemsize
    for t in range(t0, t1):
        s, h0 = tiles[t, 0], tiles[t, 2]
        nh = tiles[t, 3] - h0
        T = (nh - 1) * Wq + Wo
        for o in range(O):
            for hh in range(nh):
                d = (s * O + o) * L + (h0 + hh) * Wo
                e = o * T + hh * Wq
                for wo in range(Wo):
                    buf[e + wo] = g[d + wo]
                if hh < nh - 1:
                    for wo in range(Wo, Wq):
                        buf[e + wo] = zero
        for grp in range(G):
            pb = buf.ctypes.data + grp * Og * T * isz
            for i in range(kh):
                for j in range(kw):
                    ph = ((i * dh) % sh) * sw + (j * dw) % sw
                    pa = xq.ctypes.data + ((s * C + grp * Cg) * ldc + ph * plane
                                           + (h0 + (i * dh) // sh) * Wq + (j * dw) // sw) * isz
                    pc = gwt.ctypes.data + ((i * kw + j) * G + grp) * Cg * Og * isz
                    _cblas_gemm_beta(fn, _NT, _T, Cg, Og, T, one, pa, ldc, pb, T, one, pc, Og)


@_kernel
def all_finite(x):
    """Whether flat x holds no inf or NaN (one vectorised pass: v * 0 is NaN
    exactly for those, and the sum keeps a NaN).  The 0 in x's dtype: an
    integer 0 made float32's sum a float64 one, 4 lanes a vector instead of
    8 (a 2 MB float32 array, one core: 63 -> 43 us)."""
    zero = x.dtype.type(0)
    acc = zero
    for i in range(x.size):
        acc += x[i] * zero
    return acc == zero


# ---- convolution as a direct kernel (float32): no BLAS, no columns ----------------------------
# The same reads as the shifted GEMMs (the phased input; kernel offset (i, j)
# of channel c reads a run of it starting at ``offs[k]``, k = (c*kh + i)*kw + j),
# but each block of 8 output channels x 32 consecutive positions is summed
# over all k in registers (``_conv_block``: 16 vectors of 16 floats) and
# written once.  OpenBLAS instead runs kh*kw thin GEMMs of K = C/G per
# tile, re-reading and re-writing the output block after each, and packs
# its operands for every call: on ResNet's 16-64 channel layers it reached
# 55-80 GFLOP/s where this loop reaches ~110 (one EPYC core, AVX-512).

_BLK_O = 8          # output channels per block
_BLK_P = 32         # positions per block (two vectors of 16 floats)


def _ir_block_sums(builder, n, a_entry, b_row, inits, b_load=None, each=None,
                   vw=_BLK_P // 2, n_rows=_BLK_O):
    """The loop of the 8-row block kernels (``_conv_block``, the Linear blocks
    of ``_linear_block_of``, ``_product_block``): over k < n,
    acc[o*V + v] += A(k, o) * B(k)[vw*v : vw*v + vw] for o < ``n_rows`` (8;
    6 in the narrow Linear block's pieces) and v < V = len(inits) // n_rows,
    the sums held in registers as n_rows * V vectors of ``vw`` floats (16; 8
    for 256-bit vectors), o-major, starting from ``inits``.  How the operands
    lie is the caller's: ``a_entry(k, o)`` gives a pointer to A(k, o) (a
    float, broadcast), ``b_row(k)`` one to B's row k, read unaligned (or by
    ``b_load(pointer to vector v, v)`` where given: a masked load);
    ``each(k)``, if given, emits more instructions into the loop's body (a
    prefetch).  Returns the sums; the builder is left after the loop (n >= 1)."""
    f32, i64 = ir.FloatType(), ir.IntType(64)
    vt = ir.VectorType(f32, vw)
    fma = _ir_fma(builder, vt)
    n_vec = len(inits) // n_rows
    entry = builder.block
    loop = builder.append_basic_block("block.loop")
    done = builder.append_basic_block("block.done")
    builder.branch(loop)
    builder.position_at_end(loop)
    k, acc = _ir_loop_head(builder, entry, inits)
    if each is not None:
        each(k)
    row = b_row(k)
    bv = []
    for v in range(n_vec):
        ptr = _ir_vec_ptr(builder, row, ir.Constant(i64, v * vw), vt)
        bv.append(_ir_load(builder, ptr) if b_load is None else b_load(ptr, v))
    new = []
    for o in range(n_rows):
        av = _ir_splat(builder, builder.load(a_entry(k, o)), vw)
        for v in range(n_vec):
            new.append(builder.call(fma, [av, bv[v], acc[n_vec * o + v]]))
    _ir_loop_latch(builder, k, acc, new, n, loop, done)
    return new


def _ir_conv_sums(context, builder, offs_type, pa_, pb_, offs_, pieces):
    """``_conv_block``'s sums: over k < len(offs), A[k*8 + o] * B[offs[k] + p]
    (A packed in blocks of 8, B's rows at the offsets), from zero, for the
    block's 8 output channels o and 32 positions p, summed in ``pieces``
    (``_conv_pieces``), each over the whole loop and yielded before the next
    is summed.  Yields (o, p0, the vector of the sums for p0, p0 + 1, ...)."""
    f32, i64 = ir.FloatType(), ir.IntType(64)
    offs_ary = context.make_array(offs_type)(context, builder, offs_)
    n = builder.extract_value(offs_ary.shape, 0)
    A = builder.inttoptr(pa_, f32.as_pointer())
    B = builder.inttoptr(pb_, f32.as_pointer())
    for o0, rows, p0, vw, n_vec in pieces:
        def a_entry(k, o, o0=o0):
            return builder.gep(A, [builder.add(builder.mul(k, ir.Constant(i64, _BLK_O)),
                                               ir.Constant(i64, o0 + o))])

        def b_row(k, p0=p0):
            at = builder.load(builder.gep(offs_ary.data, [k]))
            return builder.gep(B, [builder.add(at, ir.Constant(i64, p0)) if p0 else at])
        zero = ir.Constant(ir.VectorType(f32, vw), None)
        sums = _ir_block_sums(builder, n, a_entry, b_row, [zero] * (n_vec * rows), vw=vw,
                              n_rows=rows)
        for o in range(rows):
            for v in range(n_vec):
                yield o0 + o, p0 + v * vw, sums[n_vec * o + v]


def _conv_pieces(adding=False):
    """The pieces ``_ir_conv_sums`` sums a block of 8 channels x 32 positions
    in: (first channel, channels, first position, floats a vector, vectors a
    channel).  With 512-bit vectors the whole block at once (16 registers).
    With 256-bit vectors (``_narrow_block``) the block's 32 vectors of 8
    would not fit in AVX2's 16 registers, so it goes in four pieces of 8
    sums: of 4 channels x 16 positions, whose step over k loads 2 vectors
    of B and broadcasts 4 entries of A for its 8 FMAs where an 8 x 8 piece
    loads 1 and broadcasts 8 (6 loads instead of 9: LeNet's compact conv
    forwards took 0.86-0.89 of the 8 x 8 pieces' time on one Zen 3 core;
    3 x 32 pieces of 12 sums spill and were slower).  ``_conv_block_add``
    keeps 8 x 8 pieces, position-major: that order sets the order of its
    adds onto overlapping runs of C.  Each sum runs over k in order in
    every form, so a block's sums are the same bits whichever pieces."""
    if not _narrow_block():
        return ((0, _BLK_O, 0, _BLK_P // 2, 2),)
    if adding:
        return tuple((0, _BLK_O, p0, 8, 1) for p0 in range(0, _BLK_P, 8))
    return tuple((o0, 4, p0, 8, 2) for p0 in (0, 16) for o0 in (0, 4))


def _narrow_block():
    """Whether ``_conv_block`` and the Linear blocks (``_linear_block_of``)
    are compiled for 256-bit vectors (a host with AVX2 and FMA but not
    AVX-512; see ``_ir_conv_sums``)."""
    from . import _jit
    return not _jit.wide_vectors() and _jit.fma_vectors()


@intrinsic
def _conv_block(typingctx, pa, pb, offs, pc, ldc):
    """For o < 8, q < 32: C[o*ldc + q] = sum over k < len(offs) of
    A[k*8 + o] * B[offs[k] + q] (float32 addresses pa, pb, pc; offs int64,
    at least one entry).  The 8 x 32 sums stay in vector registers over the
    whole loop; B's rows are read unaligned, A's entries broadcast.  With
    256-bit vectors (``_narrow_block``) the block is summed in four pieces
    (``_conv_pieces``)."""

    def codegen(context, builder, sig, args):
        pa_, pb_, offs_, pc_, ldc_ = args
        i64 = ir.IntType(64)
        C = builder.inttoptr(pc_, ir.FloatType().as_pointer())
        for o, p0, sums in _ir_conv_sums(context, builder, sig.args[2], pa_, pb_, offs_,
                                         _conv_pieces()):
            at = builder.add(builder.mul(ldc_, ir.Constant(i64, o)), ir.Constant(i64, p0))
            _ir_store(builder, sums, _ir_vec_ptr(builder, C, at, sums.type))
        return context.get_dummy_value()
    sig = types.void(types.int64, types.int64, offs, types.int64, types.int64)
    return sig, codegen


@intrinsic
def _conv_block_add(typingctx, pa, pb, offs, pc, coffs, c0):
    """``_conv_block``'s sums added into C instead of stored, each of the 8
    rows at its own place: C[coffs[c0 + o] + q] += the sum for (o, q)
    (coffs int64; the compact input gradient adds each tap's row onto the
    run of the copies it was read from).  With 256-bit vectors in four
    pieces of 8 x 8 (``_conv_pieces``)."""

    def codegen(context, builder, sig, args):
        pa_, pb_, offs_, pc_, coffs_, c0_ = args
        i64 = ir.IntType(64)
        C = builder.inttoptr(pc_, ir.FloatType().as_pointer())
        cary = context.make_array(sig.args[4])(context, builder, coffs_)
        rows = [builder.load(builder.gep(cary.data, [builder.add(c0_, ir.Constant(i64, o))]))
                for o in range(_BLK_O)]
        for o, p0, sums in _ir_conv_sums(context, builder, sig.args[2], pa_, pb_, offs_,
                                         _conv_pieces(adding=True)):
            # C[rows[o] + p0 :] += sums (in this order: the taps' runs overlap)
            ptr = _ir_vec_ptr(builder, C, builder.add(rows[o], ir.Constant(i64, p0)), sums.type)
            _ir_store(builder, builder.fadd(_ir_load(builder, ptr), sums), ptr)
        return context.get_dummy_value()
    sig = types.void(types.int64, types.int64, offs, types.int64, coffs, types.int64)
    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _conv_blocks(wp, base, offs, out, TP):
    """Every block (8 output channels x 32 positions) of a tile of TP
    positions at address ``base`` by ``_conv_block``, into ``out`` (O8, TP)
    (wp, offs as ``conv_direct_forward``'s)."""
    nb, K = wp.shape[0], wp.shape[1]
    for b in range(nb):
        for p0 in range(0, TP, _BLK_P):
            _conv_block(wp.ctypes.data + b * K * _BLK_O * 4, base + p0 * 4, offs,
                        out.ctypes.data + (b * _BLK_O * TP + p0) * 4, TP)


@njit(cache=True, nogil=True)
def conv_direct_forward(xq, wp, offs, bias, y, out, tiles, t0, t1, sample, Wq, O, Ho, Wo):
    """y (N, O, Ho, Wo) = the conv of phased xq (+ bias), float32, on tiles
    t0:t1 (rows s, s + 1, h0, h1: bands of one sample), by ``_conv_block``.
    wp (O8/8, K, 8): the weight packed by blocks of 8 output channels (O8:
    O rounded up, zero rows past O); offs (K,): each k's offset in xq from
    an output position's (the wide position hh*Wq + wo of output row
    h0 + hh, at ``s*sample + h0*Wq``); ``out``: scratch, O8 * the tile's
    wide positions rounded up to 32.  xq is read up to 31 elements past
    the last real position (the caller leaves room)."""
    L = Ho * Wo
    for t in range(t0, t1):
        s, h0 = tiles[t, 0], tiles[t, 2]
        nh = tiles[t, 3] - h0
        T = (nh - 1) * Wq + Wo
        TP = (T + _BLK_P - 1) // _BLK_P * _BLK_P
        base = xq.ctypes.data + (s * sample + h0 * Wq) * 4
        _conv_blocks(wp, base, offs, out, TP)
        _copy_block_out(out, y, bias, s, h0, nh, O, L, TP, Wq, Wo)


@_kernel
def _copy_block_out(out, y, bias, s, h0, nh, O, L, TP, Wq, Wo):
    """y[s, o, h0 + hh, wo] = out[o*TP + hh*Wq + wo] (+ bias[o]), o < O, hh < nh
    (flat; unsigned indices, so the row copies vectorise)."""
    uWo = np.uint64(Wo)
    for o in range(O):
        bo = bias[o] if bias.size else np.float32(0)
        for hh in range(nh):
            d = np.uint64((s * O + o) * L + (h0 + hh) * Wo)
            e = np.uint64(o * TP + hh * Wq)
            for wo in range(_U0, uWo):
                y[d + wo] = out[e + wo] + bo


@njit(cache=True, nogil=True)
def conv_tiles_forward_blocks(x, wp, bias, y, cols_all, out, kofs, tiles, offs, t0, t1, C, H,
                              W, O, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, zero):
    """``conv_tiles_forward`` (one group, float32) with each tile's product
    summed by ``_conv_block`` on its im2col columns instead of BLAS: row k
    of the columns is tap k's run (``kofs``, scratch of K entries: k*T),
    so the blocks' sums run over the whole K = C*kh*kw in registers (on
    thin K, as a 1x1 conv's, BLAS runs at under half their rate).  wp
    (O8/8, K, 8): the weight packed as ``conv_direct_forward``'s; ``out``:
    scratch, O8 * the largest tile's columns rounded up to 32.  A block
    reads up to 31 columns past a tile's T (the next rows', or room the
    caller leaves after ``cols_all``: garbage in columns that are dropped)."""
    L = Ho * Wo
    K = kofs.size
    for t in range(t0, t1):
        s0, n, h0 = tiles[t, 0], tiles[t, 1] - tiles[t, 0], tiles[t, 2]
        nh = tiles[t, 3] - h0
        T = n * nh * Wo
        TP = (T + _BLK_P - 1) // _BLK_P * _BLK_P
        cols = cols_all[offs[t]:] if offs.size else cols_all
        _im2col_tile(x, cols, C, H, W, s0, n, h0, nh, Wo, kh, kw, sh, sw, dh, dw, pt, pl, zero)
        for k in range(K):
            kofs[k] = k * T
        _conv_blocks(wp, cols.ctypes.data, kofs, out, TP)
        if n == 1:
            _copy_block_out(out, y, bias, s0, h0, nh, O, L, TP, Wo, Wo)
        else:       # (whole samples, one after another in the columns)
            for s in range(n):
                _copy_block_out(out[s * L:], y, bias, s0 + s, 0, Ho, O, L, TP, Wo, Wo)


@njit(cache=True, nogil=True)
def conv_tiles_dgrad_blocks(g, ap, gx, cols, buf, gofs, tiles, t0, t1, C, H, W, O, Ho, Wo, kh,
                            kw, sh, sw, dh, dw, pt, pl):
    """``conv_tiles_dgrad`` (one group, float32) with each tile's columns
    w^T g summed by ``_conv_block`` instead of BLAS (a sum over the O output
    channels: thin, where BLAS runs at half the blocks' rate).  ap (K8/8,
    O, 8): the weight by blocks of 8 taps, ap[b, o, t] = w[o, 8b + t] (zero
    past K); per tile, its output gradient is gathered into ``buf`` (O
    rows TP apart, TP: its T columns rounded up to 32; past T garbage, in
    columns that are dropped), the blocks write ``cols`` (K8 rows TP apart)
    and ``_col2im_rows`` sends them back.  ``gofs`` (O,): scratch."""
    L = Ho * Wo
    for t in range(t0, t1):
        s0, n, h0 = tiles[t, 0], tiles[t, 1] - tiles[t, 0], tiles[t, 2]
        nh = tiles[t, 3] - h0
        run = nh * Wo
        T = n * run
        TP = (T + _BLK_P - 1) // _BLK_P * _BLK_P
        for o in range(O):
            gofs[o] = o * TP
            for s in range(n):
                src = ((s0 + s) * O + o) * L + h0 * Wo
                buf[o * TP + s * run:o * TP + (s + 1) * run] = g[src:src + run]
        _conv_blocks(ap, buf.ctypes.data, gofs, cols, TP)
        _col2im_rows(cols, gx, C, H, W, s0, n, h0, nh, Wo, kh, kw, sh, sw, dh, dw, pt, pl, 0, C,
                     TP)


_WG_O = 4           # the weight gradient's block: 4 output channels x 4 offsets k
_WG_LANES = 8 if _narrow_block() else 16    # ... lanes per vector sum (a slot of 16 in ``red``)


@_kernel
def _wide_rows(g, gbuf, s, h0, nh, O, L, TP, Wq, Wo):
    """gbuf[o*TP + hh*Wq + wo] = g[s, o, h0 + hh, wo] (flat; unsigned indices,
    so the row copies vectorise)."""
    uWo = np.uint64(Wo)
    for o in range(O):
        for hh in range(nh):
            d = np.uint64((s * O + o) * L + (h0 + hh) * Wo)
            e = np.uint64(o * TP + hh * Wq)
            for wo in range(_U0, uWo):
                gbuf[e + wo] = g[d + wo]


@njit(cache=True, nogil=True)
def conv_direct_wgrad(xq, g, offs, gwt, gbuf, red, tiles, t0, t1, sample, Wq, O, Ho, Wo):
    """gwt (K4, O4) += the weight gradient, transposed, of the conv of phased
    xq (as ``conv_direct_forward`` reads it, ``offs`` (K4,) padded to a
    multiple of 4 by repeating an entry) with output gradient g (N, O, Ho,
    Wo) (flat), over tiles t0:t1 (bands of one sample), by ``_wgrad_blocks``.
    ``gbuf``: scratch for a band of g laid out wide, (O4, TP) with zeros
    past each output row and in rows O..O4; ``red``: zeros, (O4/4 * K4/4 *
    256,): each block's 16 vector sums, over all the tiles, added up at the
    end."""
    K4, O4 = gwt.shape
    L = Ho * Wo
    for t in range(t0, t1):
        s, h0 = tiles[t, 0], tiles[t, 2]
        nh = tiles[t, 3] - h0
        T = (nh - 1) * Wq + Wo
        TP = (T + 15) // 16 * 16
        gbuf[:O4 * TP] = 0
        _wide_rows(g, gbuf, s, h0, nh, O, L, TP, Wq, Wo)
        base = xq.ctypes.data + (s * sample + h0 * Wq) * 4
        _wgrad_blocks(gbuf.ctypes.data, TP, 0, base, 0, offs, K4, O4, TP // 16, 1, red)
    _wgrad_sums(red, gwt)


# ---- convolution as a direct kernel on column-shifted copies (float32) ------------------------
# (_conv.py's "compact" direct path.)  The wide layout above computes Wq - Wo
# wasted positions per output row: on small images with wide kernels that is
# up to half the work (LeNet's 16-channel 12x12 conv: 92 wide positions per
# 64 outputs, rounded up to 96).  Here the input is first copied kw times,
# copy j shifted left by j*dw columns and cut to the Wo output columns:
# xs (N, C, kw, Hp, Wo), xs[n, c, j, r, w] = xpad[n, c, r, w*sw + j*dw].
# Then kernel offset (i, j) of channel c reads, for the compact output
# positions p = ho*Wo + wo of a sample, the run xs[n, c, j] from row i*dh
# on: one contiguous run per tap (vertical stride 1), so ``_conv_block`` and
# the weight gradient's blocks work on it unchanged, with no wasted
# positions but the rounding of Ho*Wo up to whole blocks.


@_kernel
def column_shifts(x, xs, H, W, Hp, Wo, kw, sw, dw, pt, pl, p0, p1):
    """Planes p0:p1 of xs (P, kw, Hp, Wo) from x (P, H, W) (both flat):
    xs[p, j, r, w] = x[p, r - pt, w*sw + j*dw - pl], zero outside x."""
    uWo = np.uint64(Wo)
    usw = np.uint64(sw)
    for p in range(p0, p1):
        src = p * H * W
        for j in range(kw):
            off = j * dw - pl
            lo, hi = _conv_span(off, sw, W, Wo)
            ulo, uhi = np.uint64(lo), np.uint64(hi)
            base = (p * kw + j) * Hp * Wo
            for r in range(Hp):
                d = np.uint64(base + r * Wo)
                h = r - pt
                if h < 0 or h >= H:
                    for w in range(_U0, uWo):
                        xs[d + w] = 0
                    continue
                for w in range(_U0, ulo):
                    xs[d + w] = 0
                # x column w*sw + off, for w >= lo (>= 0 there)
                ub = np.uint64(src + h * W + lo * sw + off) - ulo * usw
                for w in range(ulo, uhi):
                    xs[d + w] = x[ub + w * usw]
                for w in range(uhi, uWo):
                    xs[d + w] = 0


@njit(cache=True, nogil=True)
def conv_compact_forward(xs, wp, offs, bias, y, out, s0, s1, S, O, L):
    """y (N, O, L) = the conv of the column-shifted copies xs (+ bias), float32,
    samples s0:s1 (sample s's copies at s*S in xs, flat), by ``_conv_block``.
    wp (O8/8, K, 8): the weight packed by blocks of 8 output channels;
    offs (K,): where tap k's run starts in a sample's copies; ``out``:
    scratch, O8 * LP (LP: L rounded up to 32).  xs is read up to 31
    elements past the last sample's end (the caller leaves room)."""
    nb, K = wp.shape[0], wp.shape[1]
    LP = (L + _BLK_P - 1) // _BLK_P * _BLK_P
    for s in range(s0, s1):
        base = xs.ctypes.data + s * S * 4
        for p0 in range(0, LP, _BLK_P):
            for b in range(nb):
                _conv_block(wp.ctypes.data + b * K * _BLK_O * 4, base + p0 * 4, offs,
                            out.ctypes.data + (b * _BLK_O * LP + p0) * 4, LP)
        _copy_block_out(out, y, bias, s, 0, 1, O, L, LP, 0, L)


@_kernel
def _add_runs(dcols, dxs, offs, LP, L):
    """dxs[offs[t] + p] += dcols[t*LP + p] for every tap t, p < L (flat;
    unsigned indices, so the runs vectorise)."""
    uL = np.uint64(L)
    for t in range(offs.size):
        d = np.uint64(offs[t])
        e = np.uint64(t * LP)
        for p in range(_U0, uL):
            dxs[d + p] += dcols[e + p]


@_kernel
def _fold_shifts(dxs, gx, s, C, H, W, Hp, Wo, kw, sw, dw, pt, pl):
    """gx[s] += the column-shifted copies' gradient dxs (C, kw, Hp, Wo) sent
    back to the input positions they were copied from (the adjoint of
    ``column_shifts``; padding dropped).  Flat arrays."""
    usw = np.uint64(sw)
    for c in range(C):
        plane = (s * C + c) * H * W
        for j in range(kw):
            off = j * dw - pl
            lo, hi = _conv_span(off, sw, W, Wo)
            ulo, uhi = np.uint64(lo), np.uint64(hi)
            for h in range(H):
                r = h + pt
                e = np.uint64(((c * kw + j) * Hp + r) * Wo)
                ub = np.uint64(plane + h * W + lo * sw + off) - ulo * usw
                for w in range(ulo, uhi):
                    gx[ub + w * usw] += dxs[e + w]


@njit(cache=True, nogil=True)
def conv_compact_dgrad(g, ap, goffs, offs, coffs, gx, dxs, dcols, s0, s1, gS, L, C, H, W, Hp,
                       Wo, kw, sw, dw, pt, pl):
    """gx (N, C, H, W) (flat, zeros) += the input gradient of the compact
    conv for samples s0:s1, from output gradient g (sample s's output o's
    position p at s*gS + goffs[o] + p, flat; read up to 31 positions past
    L).  Per sample: w^T g by the direct kernel's blocks (ap (K8/8, O, 8):
    the weight by blocks of 8 taps, in ``offs``' order, zero past K), each
    tap's row added onto the run of the copies' gradient ``dxs`` it was
    read from, and those folded back onto gx.  With ``coffs`` (K8,: offs,
    then a spare run at the end of dxs for the taps past K; only when L is
    a multiple of 32, so no block reaches past a run) the blocks add their
    sums there themselves (``_conv_block_add``); else they go through
    ``dcols`` (K8 * LP).  ``dxs`` (one sample's copies, and the spare run)
    and ``dcols`` are scratch."""
    nb = ap.shape[0]
    LP = (L + _BLK_P - 1) // _BLK_P * _BLK_P
    for s in range(s0, s1):
        base = g.ctypes.data + s * gS * 4
        dxs[:] = 0
        for p0 in range(0, LP, _BLK_P):
            for b in range(nb):
                pa = ap.ctypes.data + b * goffs.size * _BLK_O * 4
                if coffs.size:
                    _conv_block_add(pa, base + p0 * 4, goffs, dxs.ctypes.data + p0 * 4, coffs,
                                    b * _BLK_O)
                else:
                    _conv_block(pa, base + p0 * 4, goffs,
                                dcols.ctypes.data + (b * _BLK_O * LP + p0) * 4, LP)
        if not coffs.size:
            _add_runs(dcols, dxs, offs, LP, L)
        _fold_shifts(dxs, gx, s, C, H, W, Hp, Wo, kw, sw, dw, pt, pl)


@intrinsic
def _wgrad_block_samples(typingctx, pg, ldg, gs, pb, bs, k0, k1, k2, k3, n, ns, pr):
    """One block of the weight gradient, summed over ``ns`` samples: for o < 4 and the
    4 offsets kk, R[(o*4 + kk)*16 + l] += sum over s < ns, m < n, and the
    16 // _WG_LANES vectors v of a step, of G[s*gs + o*ldg + 16m + v*_WG_LANES + l] *
    B[s*bs + k_kk + 16m + v*_WG_LANES + l], l < _WG_LANES (float32
    addresses; n and ns at least 1).  The vector sums stay in registers
    across the samples, so short per-sample sums (LeNet's 64 positions)
    cost no extra loads and stores of them.  With 512-bit vectors all 16
    sums of 16 lanes at once; with 256-bit ones (``_narrow_block``: 16
    registers) as two blocks of 2 outputs x 4 offsets, 8 sums of 8 lanes
    each (the 16 of 8 lanes would spill), each over all the samples."""
    vw = _WG_LANES

    def codegen(context, builder, sig, args):
        pg_, ldg_, gs_, pb_, bs_, k0_, k1_, k2_, k3_, n_, ns_, pr_ = args
        f32, i64 = ir.FloatType(), ir.IntType(64)
        vt = ir.VectorType(f32, vw)
        fma = _ir_fma(builder, vt)
        G = builder.inttoptr(pg_, f32.as_pointer())
        B = builder.inttoptr(pb_, f32.as_pointer())
        R = builder.inttoptr(pr_, f32.as_pointer())

        def load(base, at):
            return _ir_load(builder, _ir_vec_ptr(builder, base, at, vt))
        n_o = _WG_O if vw == 16 else _WG_O // 2
        for o0 in range(0, _WG_O, n_o):
            rows = [(o0 + o) * 4 + kk for o in range(n_o) for kk in range(4)]
            init = [load(R, ir.Constant(i64, r * 16)) for r in rows]
            entry = builder.block
            outer = builder.append_basic_block("wsamples.outer")
            inner = builder.append_basic_block("wsamples.inner")
            step = builder.append_basic_block("wsamples.next")
            done = builder.append_basic_block("wsamples.done")
            builder.branch(outer)
            # over the samples: s, and the sums as they stand at each sample's start
            builder.position_at_end(outer)
            s, acc_s = _ir_loop_head(builder, entry, init)
            gbase = builder.gep(G, [builder.mul(s, gs_)])
            bbase = builder.gep(B, [builder.mul(s, bs_)])
            builder.branch(inner)
            # over the 16-position steps of one sample
            builder.position_at_end(inner)
            m, acc = _ir_loop_head(builder, outer, acc_s)
            new = acc
            for v in range(0, 16, vw):
                p = builder.add(builder.mul(m, ir.Constant(i64, 16)), ir.Constant(i64, v))
                gv = [load(gbase, builder.add(builder.mul(ldg_, ir.Constant(i64, o0 + o)), p))
                      for o in range(n_o)]
                bv = [load(bbase, builder.add(kk, p)) for kk in (k0_, k1_, k2_, k3_)]
                new = [builder.call(fma, [gv[o], bv[kk], new[o * 4 + kk]])
                       for o in range(n_o) for kk in range(4)]
            _ir_loop_latch(builder, m, acc, new, n_, inner, step)
            _ir_loop_latch(builder, s, acc_s, new, ns_, outer, done)     # (the next sample)
            for r, v in zip(rows, new):
                _ir_store(builder, v, _ir_vec_ptr(builder, R, ir.Constant(i64, r * 16), vt))
        return context.get_dummy_value()
    sig = types.void(*([types.int64] * 12))
    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _wgrad_blocks(pg, ldg, gs, pb, bs, offs, K4, O4, steps, ns, red):
    """Every block of the weight gradient (``_WG_O`` outputs x 4 offsets) by
    ``_wgrad_block_samples`` (the arguments as there; output ob's rows start
    at pg + ob*ldg floats), into its 16 vector sums in ``red`` (a slot of 16
    floats each, 256 a block)."""
    for ob in range(0, O4, _WG_O):
        for kb in range(0, K4, 4):
            blk = ((ob // _WG_O) * (K4 // 4) + kb // 4) * 256
            _wgrad_block_samples(pg + ob * ldg * 4, ldg, gs, pb, bs, offs[kb], offs[kb + 1],
                                 offs[kb + 2], offs[kb + 3], steps, ns, red.ctypes.data + blk * 4)


@njit(cache=True, nogil=True, inline="always")
def _wgrad_sums(red, gwt):
    """gwt (K4, O4) += the blocks' vector sums in ``red``, each added up over
    its ``_WG_LANES`` lanes."""
    K4, O4 = gwt.shape
    for ob in range(0, O4, _WG_O):
        for kb in range(0, K4, 4):
            blk = ((ob // _WG_O) * (K4 // 4) + kb // 4) * 256
            for o in range(_WG_O):
                for kk in range(4):
                    r = blk + (o * 4 + kk) * 16
                    acc = np.float32(0)
                    for lane in range(_WG_LANES):
                        acc += red[r + lane]
                    gwt[kb + kk, ob + o] += acc


@njit(cache=True, nogil=True)
def conv_compact_wgrad(xs, g, offs, gwt, red, s0, s1, S, gs, ldg, steps, chunk):
    """gwt (K4, O4) += the weight gradient, transposed, of the conv of the
    column-shifted copies xs (``offs`` (K4,): padded to a multiple of 4 by
    repeating an entry), over samples s0:s1, by ``_wgrad_blocks``.
    g: the output gradient, float32 flat, sample s's output o's position p
    at s*gs + o*ldg + p, zero from position L up to 16*``steps`` and in
    rows O..O4.  Samples go ``chunk`` at a time (their copies and gradient
    stay in L2 while every block reads them); ``red``: zeros, (O4/4 *
    K4/4 * 256,), the blocks' vector sums, added up at the end."""
    K4, O4 = gwt.shape
    for c0 in range(s0, s1, chunk):
        ns = min(chunk, s1 - c0)
        pb = xs.ctypes.data + c0 * S * 4
        _wgrad_blocks(g.ctypes.data + c0 * gs * 4, ldg, gs, pb, S, offs, K4, O4, steps, ns, red)
    _wgrad_sums(red, gwt)


# ---- max pooling, forward and backward --------------------------------------------------
# The same two stages as the generic formula (ember/backends/generic/pooling.py),
# one plane at a time in one pass: stage 1 takes, for every buffer row hb
# and output column wo, the max over the kw columns wo*sw + j*dw (the input
# shifted by the padding; outside it -inf) and its first winner a1; stage 2
# the max over the kh rows ho*sh + i*dh of that, and its first winner a2.
# A NaN wins, the last one, as in torch and the generic formula.

@_kernel
def max_pool2d_forward(x, y, a1, a2, m1, low, H, W, Hb, Ho, Wo, kh, kw, sh, sw, dh, dw, ph,
                       pw, p0, p1):
    """Planes p0:p1 of x (P, H, W) -> y (P, Ho, Wo), a1 (P, Hb, Wo), a2 (P, Ho, Wo),
    all flat; m1 (Hb * Wo,) is scratch, ``low`` -inf in x's dtype.  (Unsigned
    indices and selects instead of branches, so that the loops vectorise.)"""
    uWo = np.uint64(Wo)
    usw = np.uint64(sw)
    for p in range(p0, p1):
        for hb in range(Hb):
            h = hb - ph
            r = np.uint64(hb * Wo)
            a = np.uint64((p * Hb + hb) * Wo)
            for wo in range(np.uint64(0), uWo):
                m1[r + wo] = low
                a1[a + wo] = 0
            if h < 0 or h >= H:
                continue
            for j in range(kw):
                off = j * dw - pw
                lo, hi = _conv_span(off, sw, W, Wo)
                if hi <= lo:
                    continue
                ulo = np.uint64(lo)
                base = np.uint64((p * H + h) * W + lo * sw + off) - ulo * usw
                uj = np.int8(j)
                for wo in range(ulo, np.uint64(hi)):
                    v = x[base + wo * usw]
                    b = m1[r + wo]
                    # first maximum wins; a NaN wins over numbers, the last NaN
                    # (arithmetic, not a branch: the winners are data-dependent)
                    t = np.int8(((v > b) & (b == b)) | (v != v))
                    m = v if v > b else b
                    m1[r + wo] = v if v != v else m
                    a1[a + wo] += t * (uj - a1[a + wo])
        for ho in range(Ho):
            o = np.uint64((p * Ho + ho) * Wo)
            r = np.uint64(ho * sh * Wo)
            for wo in range(np.uint64(0), uWo):
                y[o + wo] = m1[r + wo]
                a2[o + wo] = 0
            for i in range(1, kh):
                r = np.uint64((ho * sh + i * dh) * Wo)
                ui = np.int8(i)
                for wo in range(np.uint64(0), uWo):
                    v = m1[r + wo]
                    b = y[o + wo]
                    t = np.int8(((v > b) & (b == b)) | (v != v))
                    m = v if v > b else b
                    y[o + wo] = v if v != v else m
                    a2[o + wo] += t * (ui - a2[o + wo])


@_kernel
def max_pool2d_backward(g, a1, a2, gx, sh, sw, dh, dw, ph, pw, p0, p1):
    """Planes p0:p1: gx (P, H, W) += g (P, Ho, Wo) at each window's winner
    (a2 picks the row, a1 that row's column); winners in the padding drop."""
    H, W = gx.shape[1], gx.shape[2]
    Ho, Wo = g.shape[1], g.shape[2]
    for p in range(p0, p1):
        for ho in range(Ho):
            for wo in range(Wo):
                hb = ho * sh + a2[p, ho, wo] * dh
                h = hb - ph
                w = wo * sw + a1[p, hb, wo] * dw - pw
                if 0 <= h < H and 0 <= w < W:
                    gx[p, h, w] += g[p, ho, wo]


@njit(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy", inline="always")
def _winner(a, b):
    """(winner flag, max) of a pair, max_pool2d_forward's rules: the first
    maximum wins, a NaN wins over numbers (the last NaN)."""
    t = ((b > a) & (a == a)) | (b != b)
    m = b if b > a else a
    return np.int8(t), (b if b != b else m)


@_kernel
def max_pool2x2_forward(x, y, a1, a2, p0, p1):
    """The 2x2 windows at stride 2 without padding or dilation (LeNet's, the
    common pool): planes p0:p1 of x (P, H, W) -> y (P, Ho, Wo) and the
    winners max_pool2d_forward records, a1 (P, H, Wo) along W for every row
    and a2 (P, Ho, Wo) along H, with its rules for ties and NaN.  Each
    window's four values are read once, with no scratch rows.  A pair of
    rows runs first with plain comparisons (which vectorise: 2.5x faster),
    summing its values on the side; only when that sum is NaN (a NaN, or
    inf and -inf, in the rows) is the pair redone with the NaN rules."""
    H = x.shape[1]
    Ho, Wo = y.shape[1], y.shape[2]
    for p in range(p0, p1):
        for ho in range(Ho):
            r0, r1 = x[p, 2 * ho], x[p, 2 * ho + 1]
            q0, q1, yo, ao = a1[p, 2 * ho], a1[p, 2 * ho + 1], y[p, ho], a2[p, ho]
            chk = r0[0] - r0[0]
            for wo in range(Wo):
                a, b = r0[2 * wo], r0[2 * wo + 1]
                c, d = r1[2 * wo], r1[2 * wo + 1]
                chk += (a + b) + (c + d)
                t0, t1 = b > a, d > c
                m0 = b if t0 else a
                m1 = d if t1 else c
                t2 = m1 > m0
                yo[wo] = m1 if t2 else m0
                q0[wo], q1[wo], ao[wo] = t0, t1, t2
            if chk != chk:
                for wo in range(Wo):
                    q0[wo], m0 = _winner(r0[2 * wo], r0[2 * wo + 1])
                    q1[wo], m1 = _winner(r1[2 * wo], r1[2 * wo + 1])
                    ao[wo], yo[wo] = _winner(m0, m1)
        for h in range(2 * Ho, H):      # (an odd last row: its a1 only)
            for wo in range(Wo):
                a1[p, h, wo], m0 = _winner(x[p, h, 2 * wo], x[p, h, 2 * wo + 1])


@njit(cache=True, nogil=True, inline="always")
def _ones_if(c):
    """All 64 bits set where ``c`` (a bool) holds, else 0: a mask that keeps
    or clears a value's bits without a branch."""
    return _U0 - np.uint64(c)


@njit(cache=True, nogil=True, inline="always")
def _sum_into_zero(v, sign):
    """The bits of 0.0 + x for the bits ``v`` of a float x whose sign bit is
    ``sign``: v, but +0.0 for -0.0 (torch's max-pool backward sums the
    gradient into zeros), without a branch."""
    return v & _ones_if(v != sign)


@njit(cache=True, nogil=True, inline="always")
def _window_grads(v, bottom, right0, right1):
    """The four gradients of a 2x2 window (top-left, top-right, bottom-left,
    bottom-right) for g's bits ``v``: v at the winner, 0 elsewhere, from
    its flags (the bottom row won; in the top / bottom row, the right one)."""
    low = _ones_if(bottom)
    top, bot = v & ~low, v & low
    r0, r1 = _ones_if(right0), _ones_if(right1)
    return top & ~r0, top & r0, bot & ~r1, bot & r1


@_kernel
def max_pool2x2_backward(g, a1, a2, gx, p0, p1):
    """The backward of max_pool2x2_forward, written, not added: planes p0:p1
    of gx (P, H, W) get g (P, Ho, Wo) at each window's winner and +0.0
    everywhere else, the rows and columns no window covers included, so gx
    needs no zeroing pass first (a winner gets 0.0 + g, as torch sums into
    zeros: -0.0 becomes +0.0).  g and gx come as the unsigned integers of
    their bits (uint32 for float32, uint64 for float64): each of a window's
    four values is g's bits masked by its winner flags, without a branch
    (as selects on the flags, which are random, it compiled to branches
    that mispredicted: 8x slower on LeNet's pools)."""
    H, W = gx.shape[1], gx.shape[2]
    Ho, Wo = g.shape[1], g.shape[2]
    sign = np.uint64(1) << np.uint64(8 * g.itemsize - 1)
    for p in range(p0, p1):
        for ho in range(Ho):
            r0 = 2 * ho
            r1 = r0 + 1
            for wo in range(Wo):
                gx[p, r0, 2 * wo], gx[p, r0, 2 * wo + 1], gx[p, r1, 2 * wo], \
                    gx[p, r1, 2 * wo + 1] = _window_grads(
                        _sum_into_zero(g[p, ho, wo], sign), a2[p, ho, wo] != 0,
                        a1[p, r0, wo] != 0, a1[p, r1, wo] != 0)
            for w in range(2 * Wo, W):
                gx[p, r0, w] = _U0
                gx[p, r1, w] = _U0
        for h in range(2 * Ho, H):
            for w in range(W):
                gx[p, h, w] = _U0


# The same two passes over flat arrays, for an even input height (LeNet's
# 24x24 and 8x8 planes): the planes' row pairs are then one run, so the
# loops go over row pairs with unsigned flat indices (no per-row array
# views, no wrap-around checks; 4-wide output rows made those the cost:
# 2.4x faster there, 1.6x on 24x24), and the NaN check covers a whole
# range of row pairs, redone with the NaN rules only where it fails.

@_kernel
def max_pool2x2_pairs_forward(x, y, a1, a2, W, Wo, r0, r1):
    """``max_pool2x2_forward`` on row pairs r0:r1 of x (R, 2, W) (flat, R =
    planes * Ho: the height is even) -> y and a2 (R, Wo), a1 (R, 2, Wo)."""
    uW, uWo, u1, u2 = np.uint64(W), np.uint64(Wo), np.uint64(1), np.uint64(2)
    chk = x[0] - x[0]
    for r in range(np.uint64(r0), np.uint64(r1)):
        xb, ab, yb = r * u2 * uW, r * u2 * uWo, r * uWo
        for wo in range(_U0, uWo):
            a, b = x[xb + u2 * wo], x[xb + u2 * wo + u1]
            c, d = x[xb + uW + u2 * wo], x[xb + uW + u2 * wo + u1]
            chk += (a + b) + (c + d)
            t0, t1 = b > a, d > c
            m0 = b if t0 else a
            m1 = d if t1 else c
            t2 = m1 > m0
            y[yb + wo] = m1 if t2 else m0
            a1[ab + wo], a1[ab + uWo + wo], a2[yb + wo] = t0, t1, t2
    if chk != chk:
        for r in range(np.uint64(r0), np.uint64(r1)):
            xb, ab, yb = r * u2 * uW, r * u2 * uWo, r * uWo
            for wo in range(_U0, uWo):
                a1[ab + wo], m0 = _winner(x[xb + u2 * wo], x[xb + u2 * wo + u1])
                a1[ab + uWo + wo], m1 = _winner(x[xb + uW + u2 * wo], x[xb + uW + u2 * wo + u1])
                a2[yb + wo], y[yb + wo] = _winner(m0, m1)


@_kernel
def max_pool2x2_pairs_backward(g, a1, a2, gx, W, Wo, r0, r1):
    """``max_pool2x2_backward`` on row pairs r0:r1 of gx (R, 2, W) (flat, the
    height even), from g and a2 (R, Wo), a1 (R, 2, Wo); g and gx as the bits
    of their values, as there."""
    uW, uWo, u1, u2 = np.uint64(W), np.uint64(Wo), np.uint64(1), np.uint64(2)
    sign = np.uint64(1) << np.uint64(8 * g.itemsize - 1)
    for r in range(np.uint64(r0), np.uint64(r1)):
        xb, ab, yb = r * u2 * uW, r * u2 * uWo, r * uWo
        for wo in range(_U0, uWo):
            gx[xb + u2 * wo], gx[xb + u2 * wo + u1], gx[xb + uW + u2 * wo], \
                gx[xb + uW + u2 * wo + u1] = _window_grads(
                    _sum_into_zero(g[yb + wo], sign), a2[yb + wo] != 0, a1[ab + wo] != 0,
                    a1[ab + uWo + wo] != 0)
        for w in range(u2 * uWo, uW):
            gx[xb + w] = _U0
            gx[xb + uW + w] = _U0


# ---- ReLU ----------------------------------------------------------------------------------

@_kernel
def relu_backward(g, out, gx, zero):
    """gx = g where out > 0 or out is NaN (torch passes the gradient of a NaN
    output), else ``zero``; flat arrays of one dtype."""
    for i in range(g.shape[0]):
        gx[i] = zero if out[i] <= zero else g[i]


# ---- per-channel sums ----------------------------------------------------------------------

@_kernel
def channel_sums(g, out):
    """out[c] = the sum of g[:, c, :] for the (N, C, S) ``g`` (S >= 0): each
    (n, c) row summed (vectorised: partial sums in lanes, then added), the
    N row sums added in order."""
    N, C, S = g.shape
    for c in range(C):
        out[c] = 0
    for n in range(N):
        for c in range(C):
            s = out[c] - out[c]     # (a zero of out's dtype: the lanes sum in it)
            for j in range(S):
                s += g[n, c, j]
            out[c] += s


# ---- masked_fill ---------------------------------------------------------------------------

@_kernel
def fill_masked_rows(x, mask, value, out):
    """out[i, j] = value where mask[j], else x[i, j]: one (M,) mask repeated
    over the rows of x (R, M)."""
    R, M = x.shape
    for i in range(R):
        for j in range(M):
            out[i, j] = value if mask[j] else x[i, j]


# ---- embedding backward ------------------------------------------------------------------

@_kernel
def scatter_add_rows(out, idx, rows):
    """out[idx[i]] += rows[i] for i in order (embedding's backward).  Returns
    False, having stopped, at an index outside out's rows."""
    num, D = out.shape
    for i in range(idx.size):
        r = idx[i]
        if r < 0 or r >= num:
            return False
        for j in range(D):
            out[r, j] += rows[i, j]
    return True


# ---- optimizer updates ---------------------------------------------------------------------
# No fast-math here: each element follows torch's formulas operation by
# operation (lerp, mul + addcmul, sqrt / div + eps, addcdiv), so the update
# rounds like the NumPy path and torch's.

@_exact
def adam_update(d, g, m, v, w1, omw1, lerp_low, beta2, omb2, bc2_sqrt, eps, neg_step):
    """Per element:  m = lerp(m, g, w1);  v = v * beta2 + (g * omb2) * g;
    d += (m / (sqrt(v) / bc2_sqrt + eps)) * neg_step.  Flat arrays of one
    dtype; scalars of that dtype (omw1 = 1 - w1, omb2 = 1 - beta2,
    neg_step = -lr / bc1, each rounded from Python's double as NumPy would)."""
    for i in range(d.size):
        gi = g[i]
        mi = m[i]
        if lerp_low:        # torch's two-sided lerp, exact at w = 0 and 1
            mi = mi + (gi - mi) * w1
        else:
            mi = gi - (gi - mi) * omw1
        m[i] = mi
        vi = v[i] * beta2 + (gi * omb2) * gi
        v[i] = vi
        d[i] += (mi / (np.sqrt(vi) / bc2_sqrt + eps)) * neg_step


@_exact
def add_scaled(d, g, a):
    """d += g * a in place (SGD's update), without a temporary for g * a;
    rounds as the two NumPy operations do."""
    for i in range(d.size):
        d[i] += g[i] * a



@_exact
def running_stats_update(rm, rv, mean, var, omm, m, unbias):
    """Batch norm's running statistics in one pass: rm = rm * omm + m * mean,
    rv = rv * omm + m * (var * unbias) (omm = 1 - momentum), rounding as the
    NumPy operations of the generic ``update_running_stats`` do."""
    for i in range(rm.size):
        rm[i] = rm[i] * omm + m * mean[i]
        rv[i] = rv[i] * omm + m * (var[i] * unbias)

@_exact
def momentum_update(d, g, buf, momentum, a):
    """SGD with momentum (no dampening) in one pass: buf = buf * momentum + g,
    then d += buf * a; rounds as the three NumPy operations do."""
    for i in range(d.size):
        b = buf[i] * momentum + g[i]
        buf[i] = b
        d[i] += b * a


# ---- CTC loss: the forward-backward recursion per sequence ---------------------------------

@_exact
def _log_add(a, b):
    """log(exp(a) + exp(b)), exact at -inf."""
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    if a > b:
        return a + np.log1p(np.exp(b - a))
    return b + np.log1p(np.exp(a - b))


@_exact
def ctc_loss_batch(lp, ext, in_len, tgt_len, want_grad, nll, grad):
    """For each sequence n: nll[n] = -log p(target | lp[:, n]) by the alpha
    recursion over the extended labels ext[n] (blanks around and between the
    labels), and with ``want_grad`` grad[:, n] = exp(lp) - exp(lcab + nll - lp),
    lcab the log of sum(alpha * beta) over the positions of each class (the
    formula of the generic ``ctc_loss``; rows from the input length on stay
    as given: zeros).  Accumulates in float64."""
    T, N, C = lp.shape
    S = ext.shape[1]
    alpha = np.empty((T, S))
    beta = np.empty((T, S))
    lcab = np.empty(C)
    for n in range(N):
        Tn = in_len[n]
        Sn = 2 * tgt_len[n] + 1
        if Tn == 0:
            nll[n] = 0.0 if Sn == 1 else np.inf
            continue
        for t in range(Tn):
            for s in range(Sn):
                alpha[t, s] = -np.inf
                beta[t, s] = -np.inf
        alpha[0, 0] = lp[0, n, ext[n, 0]]
        if Sn > 1:
            alpha[0, 1] = lp[0, n, ext[n, 1]]
        for t in range(1, Tn):
            for s in range(Sn):
                a = alpha[t - 1, s]
                if s >= 1:
                    a = _log_add(a, alpha[t - 1, s - 1])
                if s >= 2 and s % 2 == 1 and ext[n, s] != ext[n, s - 2]:
                    a = _log_add(a, alpha[t - 1, s - 2])
                if a != -np.inf:
                    alpha[t, s] = a + lp[t, n, ext[n, s]]
        ll = alpha[Tn - 1, Sn - 1]
        if Sn > 1:
            ll = _log_add(ll, alpha[Tn - 1, Sn - 2])
        nll[n] = -ll
        if not want_grad:
            continue
        beta[Tn - 1, Sn - 1] = lp[Tn - 1, n, ext[n, Sn - 1]]
        if Sn > 1:
            beta[Tn - 1, Sn - 2] = lp[Tn - 1, n, ext[n, Sn - 2]]
        for t in range(Tn - 2, -1, -1):
            for s in range(Sn):
                b = beta[t + 1, s]
                if s + 1 < Sn:
                    b = _log_add(b, beta[t + 1, s + 1])
                if s + 2 < Sn and s % 2 == 1 and ext[n, s + 2] != ext[n, s]:
                    b = _log_add(b, beta[t + 1, s + 2])
                if b != -np.inf:
                    beta[t, s] = b + lp[t, n, ext[n, s]]
        loss = -ll
        for t in range(Tn):
            for c in range(C):
                lcab[c] = -np.inf
            for s in range(Sn):
                c = ext[n, s]
                lcab[c] = _log_add(lcab[c], alpha[t, s] + beta[t, s])
            for c in range(C):
                v = lp[t, n, c]
                grad[t, n, c] = np.exp(v) - np.exp(lcab[c] + loss - v)


# ---- the intra-op pool's side of a worker thread (ember/_parallel.py) ------------------

_X86 = __import__("platform").machine().lower() in ("x86_64", "amd64", "i386", "i686")


def _item_ptr(context, builder, aryty, ary, i):
    return cgutils.get_item_pointer(context, builder, aryty,
                                    context.make_array(aryty)(context, builder, ary), [i])


@intrinsic
def _load_acquire(typingctx, flag, i):
    """flag[i] read as an atomic load (acquire): the compiler reads memory on
    every call, where a plain load could be hoisted out of a wait loop.  On
    x86 it also issues the CPU's spin-loop hint (``pause``) first."""
    def codegen(context, builder, signature, args):
        ptr = _item_ptr(context, builder, signature.args[0], args[0], args[1])
        if _X86:
            pause = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
            builder.call(pause, [])
        return builder.load_atomic(ptr, "acquire", 8)
    return flag.dtype(flag, i), codegen


def _atomic_store(ordering):
    """An intrinsic ``store(flag, i, value)``: flag[i] = value as an atomic
    store with the given LLVM ordering."""
    @intrinsic
    def store(typingctx, flag, i, value):
        def codegen(context, builder, signature, args):
            ptr = _item_ptr(context, builder, signature.args[0], args[0], args[1])
            builder.store_atomic(args[2], ptr, ordering, 8)
            return context.get_dummy_value()
        return types.void(flag, i, value), codegen
    return store


# release: what was written before it is visible to a thread that reads the
# new value with _load_acquire.  seq_cst: also, a later load on this thread
# can't be ordered before it (x86 may otherwise do that).
_store_release = _atomic_store("release")
_store_seq = _atomic_store("seq_cst")


@intrinsic
def _claim(typingctx, flag, i, job):
    """Claim job number ``job`` in flag[i] (the last job claimed there): an
    atomic compare-and-swap of ``job - 1`` for ``job``.  True for the one
    thread that made the swap: it runs the job; any other finds it taken."""
    def codegen(context, builder, signature, args):
        ptr = _item_ptr(context, builder, signature.args[0], args[0], args[1])
        before = builder.sub(args[2], ir.Constant(ir.IntType(64), 1))
        pair = builder.cmpxchg(ptr, before, args[2], "seq_cst", "seq_cst")
        return builder.extract_value(pair, 1)
    return types.boolean(flag, i, job), codegen


# The pool's ``flags`` (see _pool._Pool), for n workers: [2w] the last job
# posted to worker w, [2w + 1] the last done, [2n + w] 1 while it sleeps,
# [3n + w] the last claimed (by the worker, or by the caller that ran it
# itself), [4n] the test hook (nonzero: workers claim nothing, as if they
# never got a core), [4n + 1] how many posted jobs the calling threads ran
# themselves (bench/serial.py reports it), then the addresses of
# clock_gettime and sched_yield.

@njit(cache=True, nogil=True)
def _workers(flags):
    """The number of workers the pool's ``flags`` array describes (see above)."""
    return (flags.shape[0] - 4) // 4


@intrinsic
def _call_void(typingctx, addr):
    """Call the C function ``int f(void)`` at address ``addr`` (its result dropped)."""
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(32), [])
        builder.call(builder.inttoptr(args[0], fnty.as_pointer()), [])
        return context.get_dummy_value()
    return types.void(types.int64), codegen


@intrinsic
def _call_clock(typingctx, addr, clock_id, ts):
    """Call ``int clock_gettime(clockid_t, struct timespec *)`` at address
    ``addr``; ``ts`` is the address of two int64s (seconds, nanoseconds)."""
    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        fnty = ir.FunctionType(i32, [i32, i64])
        return builder.call(builder.inttoptr(args[0], fnty.as_pointer()),
                            [builder.trunc(args[1], i32), args[2]])
    return types.int32(types.int64, types.int64, types.int64), codegen


@njit(cache=True, nogil=True)
def gemm_job(job):
    """Run one GEMM job: job = [kind, dtype (0 float32, 1 float64), function,
    transA, transB, M, N, K, A, lda, B, ldb, C, ldc] (row-major CBLAS), then
    [n1, n2, sA1, sA2, sB1, sB2, sC1, sC2, lo, hi]: the products i = lo..hi-1
    of a batch of n1 x n2, at byte offsets (i // n2) * s1 + (i % n2) * s2
    from A, B and C (lo, hi = 0, 1 with n1 = n2 = 1 for a single product).
    Kind 2 is a slice of a Linear's forward (see ``linear_t_run`` and
    ``linear_blocks_run``), kind 3
    a range of an exact GELU (see ``gelu_run``); kind 4 a call of the compiled
    C function at job[3] with the row's address: a range of a one-pass
    elementwise or batch norm kernel (see ``_pass_job``) or of attention's
    (batch, head) pairs (see ``attention_run``)."""
    if job[0] == 2:
        _linear_t_job(job)      # (or, job[28] = 2, a range of rows by product_range)
        return
    if job[0] == 3:
        _gelu_job(job)
        return
    if job[0] == 4:
        _call_with(job[3], job.ctypes.data)     # (the one compiled copy: see pass_address)
        return
    n2 = job[15]
    for i in range(job[22], job[23]):
        i1, i2 = i // n2, i % n2
        pa = job[8] + i1 * job[16] + i2 * job[17]
        pb = job[10] + i1 * job[18] + i2 * job[19]
        pc = job[12] + i1 * job[20] + i2 * job[21]
        if job[1] == 0:
            _cblas_gemm(job[2], job[3], job[4], job[5], job[6], job[7], np.float32(1.0),
                        pa, job[9], pb, job[11], pc, job[13])
        else:
            _cblas_gemm(job[2], job[3], job[4], job[5], job[6], job[7], np.float64(1.0),
                        pa, job[9], pb, job[11], pc, job[13])


@njit(cache=True, nogil=True)
def _operand(x, isz):
    """(CBLAS transpose flag, leading dimension) of the 2-D ``x`` as it lies
    in memory (row-major), or (0, 0) when BLAS can't read it as it is."""
    r, c = x.shape
    s0, s1 = x.strides
    if s1 == isz and s0 > 0 and s0 % isz == 0 and s0 // isz >= max(c, 1):
        return 111, s0 // isz
    if s0 == isz and s1 > 0 and s1 % isz == 0 and s1 // isz >= max(r, 1):
        return 112, s1 // isz
    return 0, 0


@njit(cache=True, nogil=True)
def gemm_run(a, b, out, fn, code, parts, jobs, flags):
    """out = a @ b (2-D, one BLAS dtype) as ``parts`` jobs, each a range of
    rows of a and out (or, with few rows or fewer rows than columns, of
    columns of b and out: each job packs its share of b, the larger operand,
    and all of a; a 64-row Linear at 2 threads ~0.85x the time): jobs
    1.. are posted to workers 0.. (the pool's ``flags``, see
    ember/_parallel.py), job 0 runs here, then the workers are waited for;
    returns 0.  If a worker was asleep, returns 1 at once (the caller wakes
    the workers whose sleep flag is set, then calls ``gemm_finish``).
    Returns -1, with nothing done, when BLAS can't take an operand as it is."""
    if parts > jobs.shape[0]:   # (never: the pool cuts at most its size; this code checks no bounds)
        return -1
    isz = a.itemsize
    ta, lda = _operand(a, isz)
    tb, ldb = _operand(b, isz)
    if ta == 0 or tb == 0 or _operand(out, isz)[0] != 111:
        return -1
    m, k = a.shape
    n = b.shape[1]
    ldc = out.strides[0] // isz
    pa, pb, pc = a.ctypes.data, b.ctypes.data, out.ctypes.data
    by_rows = m >= 16 * parts and m >= n
    size = m if by_rows else n
    for p in range(parts):
        lo, hi = size * p // parts, size * (p + 1) // parts
        j = jobs[p]
        j[0], j[1], j[2], j[3], j[4], j[7] = 1, code, fn, ta, tb, k
        j[9], j[11], j[13] = lda, ldb, ldc
        j[14:24] = 0
        j[14], j[15], j[23] = 1, 1, 1
        if by_rows:
            j[5], j[6], j[8], j[10], j[12] = hi - lo, n, pa + lo * a.strides[0], pb, \
                pc + lo * out.strides[0]
        else:
            j[5], j[6], j[8], j[10], j[12] = m, hi - lo, pa, pb + lo * b.strides[1], pc + lo * isz
    return _post_and_run(jobs, flags, parts)


@njit(cache=True, nogil=True)
def _post_and_run(jobs, flags, parts):
    """Post jobs 1.. to workers 0.., then (unless one was asleep: see
    ``gemm_run``) run job 0 here and wait for the rest."""
    asleep = 0
    workers = _workers(flags)
    for w in range(parts - 1):
        _store_seq(flags, 2 * w, flags[2 * w] + 1)
        if _load_acquire(flags, 2 * workers + w) != 0:
            asleep = 1
    if asleep:
        return 1
    gemm_finish(jobs, flags, parts)
    return 0


@njit(cache=True, nogil=True)
def gemm_run_batched(a, b, out, fn, code, parts, jobs, flags):
    """``gemm_run`` for a batch of products: a (n1, n2, M, K) @ b (n1, n2, K,
    N) into out (n1, n2, M, N), any batch strides, split into ``parts``
    ranges of the n1 * n2 products."""
    if parts > jobs.shape[0]:   # (never: the pool cuts at most its size; this code checks no bounds)
        return -1
    isz = a.itemsize
    ta, lda = _operand(a[0, 0], isz)
    tb, ldb = _operand(b[0, 0], isz)
    oc = out[0, 0]
    if ta == 0 or tb == 0 or _operand(oc, isz)[0] != 111:
        return -1
    n1, n2, m, k = a.shape
    n = b.shape[3]
    total = n1 * n2
    for p in range(parts):
        j = jobs[p]
        j[0], j[1], j[2], j[3], j[4], j[5], j[6], j[7] = 1, code, fn, ta, tb, m, n, k
        j[8], j[9], j[10], j[11], j[12], j[13] = a.ctypes.data, lda, b.ctypes.data, ldb, \
            out.ctypes.data, oc.strides[0] // isz
        j[14], j[15] = n1, n2
        j[16], j[17], j[18], j[19] = a.strides[0], a.strides[1], b.strides[0], b.strides[1]
        j[20], j[21] = out.strides[0], out.strides[1]
        j[22], j[23] = total * p // parts, total * (p + 1) // parts
    return _post_and_run(jobs, flags, parts)


@njit(cache=True, nogil=True)
def gemm_finish(jobs, flags, parts):
    """Run job 0 here, then every posted job no worker has claimed yet (a
    worker without a core -- another process, OpenMP threads still spinning
    -- would otherwise make this thread wait for it), then wait for the
    workers that did claim theirs.  Who runs a job does not change what it
    computes: its range is fixed by the split, its code the same compiled copy."""
    if parts == 1:       # (linear_t_one passes a job row as ``flags``: read nothing there)
        gemm_job(jobs[0])
        return
    gemm_job(jobs[0])
    workers = _workers(flags)
    for w in range(parts - 1):
        job = flags[2 * w]
        if _claim(flags, 3 * workers + w, job):
            gemm_job(jobs[w + 1])
            _store_release(flags, 2 * w + 1, job)
            flags[4 * workers + 1] += 1
    for w in range(parts - 1):
        while not spin_until(flags, 2 * w + 1, flags[2 * w], 1 << 20):
            pass


# ---- Linear with few rows as the transposed product ------------------------------------
# y = x W^T + b with x (m, k), W (n, k), m <= 128 rows and n >= m outputs
# (a GPT layer over one sequence, decoding): OpenBLAS runs this NT product
# ~20% slower than the same product transposed, y^T = W x^T, where the large
# operand W is read as it lies (64 rows, 1 thread: (384, 128) 84 -> 68 us,
# (128, 512) 113 -> 91 us; from ~200 rows on the NT product is the faster
# one; see _linear._transposed for where it is taken).  So: each job fills
# its rows of y^T with the bias, adds W[lo:hi] x^T onto them (beta = 1; x
# handed to ?gemm as it lies, flagged transposed: ?gemm packs it either way,
# where a copy of x^T made first ran on the calling thread alone before any
# job was posted, 3-10 us a Linear at 2 threads) and copies them, transposed,
# into columns lo:hi of y by OpenBLAS's ?omatcopy (3-4 us for 64 x 384, 3x a
# compiled loop).


def _typed_pointer(dtype):
    """An intrinsic ``p(addr)``: the int64 address as a pointer to ``dtype``
    (for ``carray`` over memory a job names by address)."""
    @intrinsic
    def pointer(typingctx, addr):
        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))
        return types.CPointer(dtype)(types.int64), codegen
    return pointer


_f32_at = _typed_pointer(types.float32)
_f64_at = _typed_pointer(types.float64)


@intrinsic
def _cblas_omatcopy(typingctx, addr, trans, rows, cols, alpha, a, lda, b, ldb):
    """Call OpenBLAS's row-major cblas_?omatcopy at ``addr`` (ILP64):
    b = alpha op(a), a (rows, cols), op the transpose for trans = 112."""
    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        f = context.get_value_type(signature.args[4])
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i64, i64, f, i64, i64, i64, i64])
        v = list(args)
        call = [ir.Constant(i32, 101), builder.trunc(v[1], i32)] + v[2:9]
        builder.call(builder.inttoptr(v[0], fnty.as_pointer()), call)
        return context.get_dummy_value()
    return types.void(types.int64, types.int64, types.int64, types.int64, alpha, types.int64,
                      types.int64, types.int64, types.int64), codegen


def _ir_transpose_8(builder, rows):
    """The 8 vectors ``rows`` of w = 16 (or 8) floats (row o, lane q)
    transposed in registers: [(q, vector, half)] for q < w, where lanes
    8*half .. 8*half+7 of ``vector`` hold (row 0..7, q).  Four (three)
    rounds of 8 two-vector shuffles (one instruction each with AVX-512);
    each round swaps one bit of the vector's number with one bit of the
    lane's.  The shuffles are worked out here, on (row, q) labels moved the
    same way."""
    w = rows[0].type.count
    vecs = list(rows)
    labels = [[(o, q) for q in range(w)] for o in range(_BLK_O)]
    for vbit, lbit in ((0, 0), (1, 1), (2, 2), (0, 3))[:3 if w == 8 else 4]:
        bv, bl = 1 << vbit, 1 << lbit
        new_vecs, new_labels = list(vecs), list(labels)
        for a in range(_BLK_O):
            if a & bv:
                continue
            b = a | bv
            # lanes with the bit clear come from a, set from b (a's new), and so on
            lo = [q if not q & bl else w + (q ^ bl) for q in range(w)]
            hi = [q | bl if not q & bl else w + q for q in range(w)]
            for dst, mask in ((a, lo), (b, hi)):
                new_vecs[dst] = builder.shuffle_vector(vecs[a], vecs[b], _ir_lanes(mask))
                new_labels[dst] = [(labels[a] + labels[b])[i] for i in mask]
        vecs, labels = new_vecs, new_labels
    out = []
    for v in range(_BLK_O):
        for half in range(w // 8):
            lab = labels[v][8 * half:8 * half + 8]
            assert [o for o, _ in lab] == list(range(_BLK_O)) and len({q for _, q in lab}) == 1
            out.append((lab[0][1], vecs[v], half))
    return sorted(out, key=lambda t: t[0])


def _ir_prefetch_rows(builder, p_next, ld, n):
    """A per-iteration callback for ``_ir_block_sums``: iteration kk
    prefetches (into L1, for reading) one 64-byte line of the next block's 8
    rows of A (float32, at address ``p_next``, ``ld`` floats apart, ``n``
    long), line kk // 8 of row kk % 8, so the k iterations fetch all 8
    rows' first k / 8 lines -- the whole rows -- while this block is summed.
    Past a row's end the line is its last (fetched already: nearly free).
    A GPT's weights outgrow L2 (a 64-token step reads ~3 MB of them), and
    without this each new block of 8 rows waited on L3 for its 8 streams:
    64 tokens x (128 -> 512) 110 -> ~92 us on one EPYC core."""
    i8, i32, i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [i8.as_pointer(), i32, i32, i32]),
        "llvm.prefetch.p0")
    base = builder.inttoptr(p_next, ir.FloatType().as_pointer())
    last = builder.sub(n, ir.Constant(i64, 1))

    def each(kk):
        row = builder.and_(kk, ir.Constant(i64, _BLK_O - 1))
        col = builder.mul(builder.lshr(kk, ir.Constant(i64, 3)), ir.Constant(i64, 16))
        col = builder.select(builder.icmp_signed("<", col, last), col, last)
        at = builder.gep(base, [builder.add(builder.mul(row, ld), col)])
        builder.call(fn, [builder.bitcast(at, i8.as_pointer()), ir.Constant(i32, 0),
                          ir.Constant(i32, 3), ir.Constant(i32, 1)])
    return each


_LIN_O = 6 if _narrow_block() else _BLK_O     # (rows of W a Linear block: see below)


def _linear_block_of(n_vec):
    """The intrinsic ``_linear_block(pa, lda, pb, ldb, k, pbias, pc, ldc,
    cols, pnext)`` for blocks of R = ``_LIN_O`` rows x 16 * ``n_vec``
    columns (float32 addresses, k >= 1): for o < R and q < min(cols,
    16 n_vec), stores C[q*ldc + o] = bias[o] + sum over kk < k of
    A[o*lda + kk] * B[kk*ldb + q], summed in kk's order from the bias (one
    fused multiply-add per term).  A's rows are read where they lie (W's
    rows: no packing), B's rows are x^T's; the block is transposed in
    registers and stored as rows of R (C is y itself: no y^T to copy back).
    Meanwhile the 8 rows of A at ``pnext`` (lda apart: the block the caller
    runs next) are prefetched (``_ir_prefetch_rows``); a prefetch never
    faults, whatever the address.  With 256-bit vectors (``_narrow_block``)
    R is 6 and the block is summed as pieces of 6 rows x 16 columns, each
    over the whole loop: 12 sums of 8 floats, two rows of B and a broadcast
    fill AVX2's 16 registers (the classic 6 x 16 of Haswell GEMM kernels);
    without the prefetch, whose address arithmetic there slowed the loop by
    a fifth.  Each sum still runs over kk in order: the wide block's bits."""

    @intrinsic
    def block(typingctx, pa, lda, pb, ldb, k, pbias, pc, ldc, cols, pnext):
        def codegen(context, builder, sig, args):
            pa_, lda_, pb_, ldb_, k_, pbias_, pc_, ldc_, cols_, pnext_ = args
            f32, i64 = ir.FloatType(), ir.IntType(64)
            n_rows = _LIN_O
            narrow = n_rows != _BLK_O
            vw = 8 if narrow else _BLK_P // 2       # (floats per vector)
            vt = ir.VectorType(f32, vw)
            A = builder.inttoptr(pa_, f32.as_pointer())
            B = builder.inttoptr(pb_, f32.as_pointer())
            bias = builder.inttoptr(pbias_, f32.as_pointer())
            rows = [builder.gep(A, [builder.mul(lda_, ir.Constant(i64, o))])
                    for o in range(n_rows)]
            starts = [_ir_splat(builder, builder.load(builder.gep(bias, [ir.Constant(i64, o)])),
                                vw) for o in range(n_rows)]
            undef = ir.Constant(vt, ir.Undefined)
            C = builder.inttoptr(pc_, f32.as_pointer())

            def store(q, vec, lanes, at=0):
                """Lanes ``lanes`` of ``vec`` at C[q*ldc + at:], if q < cols."""
                part = builder.shuffle_vector(vec, undef, _ir_lanes(lanes))
                with builder.if_then(builder.icmp_signed("<", ir.Constant(i64, q), cols_),
                                     likely=True):
                    at_q = builder.add(builder.mul(ldc_, ir.Constant(i64, q)), ir.Constant(i64, at))
                    _ir_store(builder, part, _ir_vec_ptr(builder, C, at_q, part.type))
            if not narrow:
                sums = _ir_block_sums(builder, k_, lambda kk, o: builder.gep(rows[o], [kk]),
                                      lambda kk: builder.gep(B, [builder.mul(kk, ldb_)]),
                                      [v for v in starts for _ in range(n_vec)],
                                      each=_ir_prefetch_rows(builder, pnext_, lda_, k_))
                for v in range(n_vec):
                    for q, vec, half in _ir_transpose_8(builder, sums[v::n_vec]):
                        store(q + v * vw, vec, range(8 * half, 8 * half + 8))
                return context.get_dummy_value()
            zero = ir.Constant(vt, None)
            for c0 in range(0, 16 * n_vec, 16):
                # one piece: 6 rows x 16 columns, stored before the next is summed
                sums = _ir_block_sums(builder, k_, lambda kk, o: builder.gep(rows[o], [kk]),
                                      lambda kk, c0=c0: builder.gep(B, [builder.add(
                                          builder.mul(kk, ldb_), ir.Constant(i64, c0))]),
                                      [v for v in starts for _ in range(2)], vw=vw,
                                      n_rows=n_rows)
                for v in range(2):
                    rows_v = sums[v::2] + [zero] * (_BLK_O - n_rows)
                    for q, vec, _ in _ir_transpose_8(builder, rows_v):
                        # (6 floats a row of y: 4, then 2; no store past them)
                        store(c0 + 8 * v + q, vec, range(4))
                        store(c0 + 8 * v + q, vec, range(4, 6), 4)
            return context.get_dummy_value()
        return types.void(*([types.int64] * 10)), codegen
    return block


_linear_block32 = _linear_block_of(2)     # R rows x 32 columns (8 x 32: 16 vector sums)
_linear_block16 = _linear_block_of(1)     # R x 16, for a last 16 columns


# ---- the large products of training Linears by the same 8 x 32 blocks ------------------------
# A GPT training step's Linears have 1024-2048 rows (tokens).  OpenBLAS
# 0.3.31 picks its SkylakeX kernels on this EPYC (Zen 4) and runs them at
# 92-102 GFLOP/s on one core; the 8 x 32 register blocks reach ~114 on data
# in L1.  All three products of a Linear fit one block shape, C (8 x 32) =
# sum over kk of A(kk, o) B(kk, q), A read where it lies through two strides:
#   forward  y  = x W^T + b:  A = x's rows,    B = W^T packed as panels, q = outputs
#   dX       dx = g W:        A = g's rows,    B = W (as is, or as panels), q = inputs
#   dW       dw = g^T x:      A = g's columns (8 adjacent floats a row), B = x's rows
# Only the forward pays (the table in _linear.py); bench/linear_products.py
# measures the other two on this kernel.  Each output is one block's, summed
# in kk's order from its bias or zero (one fused multiply-add per term), so
# a split over blocks gives the same bits on any number of threads.  Edges
# (rows % 8, columns % 32) run the same block with masked loads and stores:
# no scratch, no padding.

def _ir_lane_mask(builder, cols, first):
    """<16 x i1>: lane l set where first + l < cols (int64 ``cols``)."""
    lanes = ir.Constant(ir.VectorType(ir.IntType(64), 16), [first + lane for lane in range(16)])
    return builder.icmp_signed("<", lanes, _ir_splat(builder, cols, 16))


def _ir_masked(builder, name, vt):
    """The LLVM masked load (``name`` "load") or store of 16 floats."""
    i1, i32 = ir.IntType(1), ir.IntType(32)
    mt = ir.VectorType(i1, 16)
    if name == "load":
        fnty = ir.FunctionType(vt, [vt.as_pointer(), i32, mt, vt])
    else:
        fnty = ir.FunctionType(ir.VoidType(), [vt, vt.as_pointer(), i32, mt])
    return cgutils.get_or_insert_function(builder.module, fnty, "llvm.masked.%s.v16f32.p0" % name)


@intrinsic
def _product_block(typingctx, pa, sak, sao, pb, ldb, k, pbias, pc, ldc, rows, cols):
    """For o < rows (1..8) and q < cols (1..32), float32 addresses, k >= 1:
    C[o*ldc + q] = start + sum over kk < k of A[kk*sak + o*sao] * B[kk*ldb + q],
    summed in kk's order, from start = bias[q] (``pbias`` the bias's
    address), zero (``pbias`` 0) or C's own value (``pbias`` -1: the sums go
    on from where an earlier block of kk left them, the bits of one long sum).
    The 8 x 32 sums stay in 16 vector registers; A's entries are broadcast
    (a row o past ``rows`` reads row rows-1 again and is not stored), B's
    rows, the bias and C are read, and C's rows stored, under the mask q < cols."""
    vw = _BLK_P // 2

    def codegen(context, builder, sig, args):
        pa_, sak_, sao_, pb_, ldb_, k_, pbias_, pc_, ldc_, rows_, cols_ = args
        f32, i32, i64 = ir.FloatType(), ir.IntType(32), ir.IntType(64)
        vt = ir.VectorType(f32, vw)
        load, store = _ir_masked(builder, "load", vt), _ir_masked(builder, "store", vt)
        align = ir.Constant(i32, 4)
        masks = [_ir_lane_mask(builder, cols_, v * vw) for v in range(2)]
        zero = ir.Constant(vt, None)
        A = builder.inttoptr(pa_, f32.as_pointer())
        B = builder.inttoptr(pb_, f32.as_pointer())
        last = builder.sub(rows_, ir.Constant(i64, 1))
        a_rows = []
        for o in range(_BLK_O):
            oc = ir.Constant(i64, o)
            row = builder.select(builder.icmp_signed("<", oc, rows_), oc, last)
            a_rows.append(builder.gep(A, [builder.mul(row, sao_)]))
        C = builder.inttoptr(pc_, f32.as_pointer())

        def c_at(o, v):
            at = builder.add(builder.mul(ldc_, ir.Constant(i64, o)), ir.Constant(i64, v * vw))
            return _ir_vec_ptr(builder, C, at, vt)
        # where the sums start, under the mask: C's rows, the bias or zero
        go_on = builder.icmp_signed("<", pbias_, ir.Constant(i64, 0))
        has_bias = builder.icmp_signed(">", pbias_, ir.Constant(i64, 0))
        bias = builder.inttoptr(pbias_, f32.as_pointer())
        start = []
        for o in range(_BLK_O):
            for v in range(2):
                with builder.if_else(go_on) as (then, otherwise):
                    with then:
                        from_c = builder.call(load, [c_at(o, v), align, masks[v], zero])
                        blk_c = builder.block
                    with otherwise:
                        at = _ir_vec_ptr(builder, bias, ir.Constant(i64, v * vw), vt)
                        lanes = builder.and_(masks[v], _ir_splat(builder, has_bias, 16))
                        from_b = builder.call(load, [at, align, lanes, zero])
                        blk_b = builder.block
                phi = builder.phi(vt)
                phi.add_incoming(from_c, blk_c)
                phi.add_incoming(from_b, blk_b)
                start.append(phi)
        new = _ir_block_sums(builder, k_,
                             lambda kk, o: builder.gep(a_rows[o], [builder.mul(kk, sak_)]),
                             lambda kk: builder.gep(B, [builder.mul(kk, ldb_)]), start,
                             lambda ptr, v: builder.call(load, [ptr, align, masks[v], zero]))
        for o in range(_BLK_O):
            with builder.if_then(builder.icmp_signed("<", ir.Constant(i64, o), rows_),
                                 likely=True):
                for v in range(2):
                    builder.call(store, [new[2 * o + v], c_at(o, v), align, masks[v]])
        return context.get_dummy_value()
    return types.void(*([types.int64] * 11)), codegen


@njit(cache=True, nogil=True)
def product_range(pa, sak, sao, pb, ldb, panel, k, pbias, pc, ldc, r0, r1, q0, q1, chunk,
                  depth):
    """Rows r0:r1 and columns q0:q1 (q0 a multiple of 32) of C (as
    ``_product_block``'s, rows of C being the A index o) by 8 x 32 blocks:
    kk in steps of ``depth`` (the sums of a later step go on from C), the
    rows in chunks of ``chunk`` (a multiple of 8: its A rows stay in cache
    while every column block of B passes), within a chunk column block by
    column block.  B's column block j starts ``panel * j`` floats from pb
    (32 where B lies as a matrix, 32 * k where it is packed as panels of
    32 columns, rows ldb = 32 apart: see ``pack_panels``)."""
    for k0 in range(0, k, depth):
        kn = min(depth, k - k0)
        for c0 in range(r0, r1, chunk):
            c1 = min(r1, c0 + chunk)
            for q in range(q0, q1, _BLK_P):
                start = (pbias + q * 4 if pbias else 0) if k0 == 0 else -1
                b_at = pb + (k0 * ldb + q // _BLK_P * panel) * 4
                for r in range(c0, c1, _BLK_O):
                    _product_block(pa + (r * sao + k0 * sak) * 4, sak, sao, b_at, ldb, kn, start,
                                   pc + (r * ldc + q) * 4, ldc, min(_BLK_O, c1 - r),
                                   min(_BLK_P, q1 - q))


@njit(cache=True, nogil=True)
def pack_panels(b, out, trans):
    """B (k, n) into panels of 32 columns: out (ceil(n / 32), k, 32), the
    columns past n zero; B = b, or b^T when ``trans`` (b (n, k): W^T for the
    forward, read from W)."""
    k = b.shape[1] if trans else b.shape[0]
    n = b.shape[0] if trans else b.shape[1]
    for j in range(out.shape[0]):
        q0 = j * _BLK_P
        w = min(_BLK_P, n - q0)
        if trans:       # (32 rows of b read side by side: (1536, 384) ~210 us, 2x by columns)
            for kk in range(k):
                for c in range(w):
                    out[j, kk, c] = b[q0 + c, kk]
        else:
            for kk in range(k):
                for c in range(w):
                    out[j, kk, c] = b[kk, q0 + c]
        for kk in range(k):
            for c in range(w, _BLK_P):
                out[j, kk, c] = 0.0


# The chunk and depth of product_range for Linear's products (see
# _linear.py's table): whole sums (depth = k; steps of 128-256 only paid on
# dW with 2048 rows) over chunks of 64 rows.
PRODUCT_CHUNK = 64


@njit(cache=True, nogil=True)
def _product_job(job):
    """Kind-2 job with job[28] = 2: ``product_range`` of C rows job[5]:job[6]
    (all columns, job[15]) with A at job[8] (strides job[9], job[10]), B's
    panels at job[11] (ldb job[12], panel job[13]), k = job[7], the bias at
    job[24] (0: none), C at job[25] (ldc job[26])."""
    product_range(job[8], job[9], job[10], job[11], job[12], job[13], job[7], job[24],
                  job[25], job[26], job[5], job[6], 0, job[15], PRODUCT_CHUNK, job[7])


@njit(cache=True, nogil=True)
def linear_blocks_run(x, wp, b, y, parts, jobs, flags):
    """y (m, n) = x (m, k) @ W^T (+ b (n,) where b.size) by the 8 x 32
    blocks, W packed as panels of W^T by ``pack_panels(w, wp, True)``; x, y
    C-contiguous float32, k >= 1.  ``parts`` kind-2 jobs over ranges of the
    rows (cut at multiples of 16: one thread's rows of y never share a
    64-byte line with another's), posted and waited for as ``gemm_run``'s
    (same returns); each output is one job's whole sum, so the thread count
    never changes a bit."""
    if parts > jobs.shape[0]:   # (never: the pool cuts at most its size)
        return -1
    m, k = x.shape
    n = y.shape[1]
    for p in range(parts):
        j = jobs[p]
        j[:] = 0
        j[0], j[28] = 2, 2
        j[5], j[6], j[7] = _cut(m, p, parts), _cut(m, p + 1, parts), k
        j[8], j[9], j[10] = x.ctypes.data, 1, k
        j[11], j[12], j[13] = wp.ctypes.data, _BLK_P, _BLK_P * k
        j[15] = n
        j[24] = b.ctypes.data if b.size else 0
        j[25], j[26] = y.ctypes.data, n
    if parts == 1:
        _product_job(jobs[0])
        return 0
    return _post_and_run(jobs, flags, parts)


@njit(cache=True, nogil=True)
def _linear_t_blocks(job):
    """Kind-2 job by the register-blocked kernel (float32, job[28] = 1):
    columns r < M = job[5] of y at job[25] (ldy job[26]) = bias[r] + sum
    over kk of W[r, kk] x^T[kk, :], W's rows at job[8] (lda job[9],
    contiguous within a row), x^T at job[10] (ldb job[11]), its first
    job[14] columns (a multiple of 16; those past the m = job[6] real ones
    may hold anything: they only reach rows of the block that are not
    stored), in blocks of R = ``_LIN_O`` rows of W (8; 6 with 256-bit
    vectors) x 32 (then 16) columns of x^T.  When
    job[31] is not 0, the job first copies those m columns of x^T itself,
    from the m rows of x at job[31] (a split over tokens: each thread
    transposes its own).  A last M % R rows of W are copied, with their
    bias, into the zeroed scratch at job[29] (8 rows of k, 8 biases, then a
    32 x 8 block of y, copied out as far as y goes); job[30] is 8 zeros,
    the bias where there is none (job[24] = 0)."""
    rows, m, k = job[5], job[6], job[7]
    pa, lda, pb, ldb, width = job[8], job[9], job[10], job[11], job[14]
    pbias, py, ldy, pad, zeros = job[24], job[25], job[26], job[29], job[30]
    if job[31]:
        _cblas_omatcopy(job[27], _T, m, k, np.float32(1.0), job[31], k, pb, ldb)
    full = rows // _LIN_O * _LIN_O
    tail = rows - full
    tail_bias, tail_out = zeros, pad + (_BLK_O * k + _BLK_O) * 4
    if tail:
        scratch = carray(_f32_at(pad), (_BLK_O * k + _BLK_O,))
        for r in range(tail):
            w_row = carray(_f32_at(pa + (full + r) * lda * 4), (k,))
            for kk in range(k):
                scratch[r * k + kk] = w_row[kk]
            if pbias:
                scratch[_BLK_O * k + r] = carray(_f32_at(pbias), (rows,))[full + r]
        if pbias:
            tail_bias = pad + _BLK_O * k * 4
    out = carray(_f32_at(tail_out), (_BLK_P * _BLK_O,))
    for q0 in range(0, width, _BLK_P):
        cols = min(_BLK_P, m - q0)
        wide = q0 + _BLK_P <= width       # (else a last 16 columns)
        for o0 in range(0, full, _LIN_O):
            bias = pbias + o0 * 4 if pbias else zeros
            # (the next block's rows to prefetch: the next R of W, or after the
            # last, the first R again, for the next columns)
            nxt = pa + (o0 + _LIN_O if o0 + _LIN_O < full else 0) * lda * 4
            if wide:
                _linear_block32(pa + o0 * lda * 4, lda, pb + q0 * 4, ldb, k, bias,
                                py + (q0 * ldy + o0) * 4, ldy, cols, nxt)
            else:
                _linear_block16(pa + o0 * lda * 4, lda, pb + q0 * 4, ldb, k, bias,
                                py + (q0 * ldy + o0) * 4, ldy, cols, nxt)
        if tail:
            if wide:
                _linear_block32(pad, k, pb + q0 * 4, ldb, k, tail_bias, tail_out, _BLK_O, cols,
                                pa)
            else:
                _linear_block16(pad, k, pb + q0 * 4, ldb, k, tail_bias, tail_out, _BLK_O, cols,
                                pa)
            dst = carray(_f32_at(py + (q0 * ldy + full) * 4), ((cols - 1) * ldy + tail,))
            for q in range(cols):
                for r in range(tail):
                    dst[q * ldy + r] = out[q * _BLK_O + r]


@njit(cache=True, nogil=True)
def _linear_t_job(job):
    """Kind-2 job: rows M of y^T at C (ldc) = [bias, j[24], per row] + A B
    (the GEMM fields as in ``gemm_job``), then copied transposed to y at
    j[25] (ldy j[26]) by the ?omatcopy at j[27].  j[24] = 0: no bias.
    (One call per dtype: the scalars must reach BLAS as its float or double.)"""
    if job[28] == 2:
        _product_job(job)
    elif job[28]:
        _linear_t_blocks(job)
    elif job[1] == 0:
        _linear_t_slice(job, carray(_f32_at(job[12]), (job[5], job[13])),
                        carray(_f32_at(job[24]), (job[5] if job[24] else 0,)), np.float32(1.0))
    else:
        _linear_t_slice(job, carray(_f64_at(job[12]), (job[5], job[13])),
                        carray(_f64_at(job[24]), (job[5] if job[24] else 0,)), np.float64(1.0))


@njit(cache=True, nogil=True)
def _linear_t_slice(job, ct, bias, one):
    """``_linear_t_job`` with y^T's rows ``ct`` and the bias as arrays of the dtype."""
    m_rows, n_cols = job[5], job[6]
    beta = one - one
    if bias.size:
        beta = one
        for r in range(m_rows):
            v = bias[r]
            for j in range(n_cols):
                ct[r, j] = v
    _cblas_gemm_beta(job[2], job[3], job[4], m_rows, n_cols, job[7], one, job[8], job[9],
                     job[10], job[11], beta, job[12], job[13])
    _cblas_omatcopy(job[27], _T, m_rows, n_cols, one, job[12], job[13], job[25], job[26])


@njit(cache=True, nogil=True)
def linear_t_one(x, w, b, y, fn, om, code, blocks):
    """``linear_t_run`` into y on this thread alone, its scratch made here;
    its answer (< 0: BLAS can't read w as it lies, nothing done).  (y comes
    from the caller: an array made here would have Numba's buffer for a
    base, not an ndarray, which the views of the result would not trace.)"""
    m, k = x.shape
    n = w.shape[0]
    jobs = np.empty((1, 32), np.int64)      # (one job row: _pool.JOB_FIELDS)
    xt, yt = np.empty((0, 0), x.dtype), np.empty((n, m), x.dtype)
    if blocks:
        mp = -(-m // 16) * 16
        xt, yt = np.empty((k, mp), x.dtype), np.empty((0, mp), x.dtype)
    return linear_t_run(x, w, b, xt, yt,
                        np.zeros(linear_t_pad(n, k, blocks), np.float32), y, fn, om, code,
                        blocks, 1, jobs, jobs[0])


@njit(cache=True, nogil=True)
def linear_t_pad(n, k, blocks):
    """The size of ``linear_t_run``'s zeroed float32 scratch ``pad`` for
    one job: with ``blocks``, room for a last rows % R of W (8 rows of k),
    their 8 biases and a block of y (32 x 8) where a job may have them, then
    8 zeros (the bias where there is none).  Each job has its own.  (With
    R = ``_LIN_O`` = 6, a split over outputs at multiples of 16 leaves a
    job a last few rows whatever n.)"""
    if not blocks:
        return 0
    tail = n % _LIN_O or _LIN_O != _BLK_O
    return (_BLK_O * k + _BLK_O + _BLK_P * _BLK_O if tail else 0) + _BLK_O


@njit(cache=True, nogil=True)
def _cut(n, p, parts):
    """Where range p of ``parts`` over n outputs starts: a multiple of 16
    (inside, so two threads never write one 64-byte line of y)."""
    if p == 0 or p == parts:
        return n * p // parts
    return min(n, (n * p // parts + 8) // 16 * 16)


@njit(cache=True, nogil=True)
def linear_t_run(x, w, b, xt, yt, pad, y, fn, om, code, blocks, parts, jobs, flags):
    """y (m, n) = x (m, k) @ w (n, k)^T (+ b (n,) when b.size) through the
    transposed product (see above), as ``parts`` kind-2 jobs over ranges of
    the n outputs, posted and waited for as ``gemm_run``'s (same returns).
    x, y and b C-contiguous, k >= 1; w any layout BLAS reads as it lies;
    ``fn``, ``om``: ?gemm and ?omatcopy of the dtype (``code`` 0: float32,
    1: float64).  Scratch, C-contiguous: ``pad``, zeroed, of ``parts *
    linear_t_pad(n, k, blocks)`` floats; with ``blocks`` (float32 only, W's
    rows contiguous: the products by the register-blocked kernel,
    ``_linear_t_blocks``) x^T in xt (k, mp), mp = m rounded up to 16 (x^T's
    columns past m are never set), and no y^T (yt (0, mp)); else (by BLAS,
    which reads x itself: xt may be empty) y^T in yt (n, m).  With blocks,
    m a multiple of 32 * parts
    (64 tokens on 2 threads) is split over the tokens: each job transposes
    its own rows of x and computes all n outputs for them, so no thread
    waits for a transpose (the 128 x 512 product of a GPT's MLP: ~3 us of
    it).  Either way each output is computed by one thread; on the blocks
    by the same code in the same order whatever the split (the same bits at
    any thread count), on BLAS by its kernel for that range (OpenBLAS's
    Haswell kernels round some rows of a split product otherwise)."""
    if parts > jobs.shape[0]:   # (never: the pool cuts at most its size)
        return -1
    isz = x.itemsize
    ta, lda = _operand(w, isz)
    if ta == 0:
        return -1
    m, k = x.shape
    n = w.shape[0]
    mp = yt.shape[1]
    blocks = blocks and code == 0 and ta == _NT
    if not blocks and (yt.shape[0] != n or mp != m):     # (the caller's scratch is for blocks)
        return -1
    by_tokens = blocks and parts > 1 and m % (_BLK_P * parts) == 0
    if blocks and not by_tokens:    # (by tokens, each job transposes its own rows of x)
        _cblas_omatcopy(om, _T, m, k, np.float32(1.0), x.ctypes.data, k, xt.ctypes.data, mp)
    unit = pad.size // parts
    for p in range(parts):
        j = jobs[p]
        j[14:32] = 0
        j[0], j[1], j[2], j[3], j[4], j[7] = 2, code, fn, ta, _NT, k
        j[9], j[10], j[11], j[13], j[26], j[27] = lda, xt.ctypes.data, mp, m, n, om
        if not blocks:      # (B = x^T: x as it lies, flagged transposed)
            j[4], j[10], j[11] = _T, x.ctypes.data, k
        if by_tokens:
            lo, hi = m * p // parts, m * (p + 1) // parts
            j[5], j[6], j[8], j[10] = n, hi - lo, w.ctypes.data, j[10] + lo * isz
            j[12] = yt.ctypes.data      # (unused: no y^T)
            j[14], j[31] = hi - lo, x.ctypes.data + lo * k * isz
            j[24] = b.ctypes.data if b.size else 0
            j[25] = y.ctypes.data + lo * n * isz
        else:
            lo, hi = _cut(n, p, parts), _cut(n, p + 1, parts)
            j[5], j[6], j[8] = hi - lo, m, w.ctypes.data + lo * w.strides[0]
            j[12], j[14] = yt.ctypes.data + lo * m * isz, mp
            j[24] = b.ctypes.data + lo * isz if b.size else 0
            j[25] = y.ctypes.data + lo * isz
        if blocks:
            j[28], j[29] = 1, pad.ctypes.data + p * unit * 4
            j[30] = j[29] + (unit - _BLK_O) * 4
    return _post_and_run(jobs, flags, parts)


# ---- GELU split over the pool as native jobs ---------------------------------------------
# A GPT MLP at batch 1 (64 x 512 elements, ~25 us on one thread) is worth
# splitting in two only if the worker starts at once.  As a Python job it
# must first take the GIL from the caller (one more hand-off, and under load
# a sleep); as a native job (kind 3) the worker's compiled loop runs it
# without the GIL, as it runs GEMM jobs.

@njit(cache=True, nogil=True)
def _gelu_job(job):
    """Kind-3 job: ``gelu_forward`` over elements job[5]..job[6]-1 of the
    flat float32 arrays at addresses job[8] (x), job[10] (y), job[12] (dy;
    job[13] = 1: no dy, y only)."""
    lo, n = job[5], job[6] - job[5]
    gelu_forward(carray(_f32_at(job[8] + 4 * lo), (n,)), carray(_f32_at(job[10] + 4 * lo), (n,)),
                 carray(_f32_at(job[12] + 4 * lo), (0 if job[13] else n,)))


@njit(cache=True, nogil=True)
def gelu_run(x, y, dy, parts, jobs, flags):
    """``gelu_forward(x, y, dy)`` (flat C-contiguous float32 arrays of one
    size, or an empty dy: y only) as ``parts`` kind-3 jobs over ranges of
    the elements, posted and waited for as ``gemm_run``'s (same returns)."""
    if parts > jobs.shape[0]:   # (never: the pool cuts at most its size)
        return -1
    n = x.size
    for p in range(parts):
        j = jobs[p]
        j[:] = 0
        j[0], j[5], j[6] = 3, _cut(n, p, parts), _cut(n, p + 1, parts)
        j[8], j[10], j[12] = x.ctypes.data, y.ctypes.data, dy.ctypes.data
        j[13] = 1 if dy.size == 0 else 0
    return _post_and_run(jobs, flags, parts)


# ---- one-pass kernels split over the pool as native jobs ------------------------------------
# ReLU, its backward, a residual sum and batch norm run ~50-150 us a call on
# ResNet's activations; split in two as Python jobs each range first waits for
# the GIL (a hand-off per call, and under load a sleep).  As kind-4 jobs the
# worker runs its range in its compiled loop, as it runs GEMMs.  A job names
# its arrays by address: job[1] the pass (_PASS_*), job[2] the dtype (0
# float32, 1 float64), job[5]:job[6] its range (flat elements, or channels
# for batch norm), job[8:] addresses and sizes as each ``*_run`` writes them.

_PASS_RELU, _PASS_RELU_BACKWARD, _PASS_ADD, _PASS_BN, _PASS_BN_BACKWARD = 0, 1, 2, 3, 4
_PASS_PAD, _PASS_PHASE, _PASS_FINITE = 5, 6, 7


_i64_at = _typed_pointer(types.int64)


@intrinsic
def _call_with(typingctx, addr, arg):
    """Call the C function ``void f(int64)`` at address ``addr``."""
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(64)])
        builder.call(builder.inttoptr(args[0], fnty.as_pointer()), [args[1]])
        return context.get_dummy_value()
    return types.void(types.int64, types.int64), codegen


def _pass_entry(job_address):
    """A kind-4 job, given the address of its row (compiled once, as a C
    function: see ``pass_address``)."""
    _pass_job(carray(_i64_at(job_address), (32,)))


# The C functions kind-4 jobs call, by the Python function compiled (see _entry_address).
_entries = {}
_entries_lock = threading.Lock()


def _entry_address(fn, **options):
    """The address of ``fn(job_address)`` compiled once per process as a C
    function ``void f(int64)`` (from Numba's disk cache when it can): the one
    copy every thread's kind-4 jobs of that family call (job[3]).  Numba
    compiles a kernel anew inside each caller (the worker's loop, the
    caller's own job), and with sums that may be reordered two copies may
    round differently: a result would then depend on which thread took its
    range.  Under a lock: a second copy replacing the first would free code
    a job may be running."""
    c = _entries.get(fn)
    if c is None:
        with _entries_lock:
            c = _entries.get(fn)
            if c is None:
                c = _entries[fn] = cfunc(types.void(types.int64), cache=True, **options)(fn)
    return c.address


def pass_address():
    """The address of ``_pass_entry`` as a C function (``_entry_address``):
    batch norm's statistics stay equal at any thread count."""
    return _entry_address(_pass_entry)


@njit(cache=True, nogil=True)
def _pass_job(job):
    """Kind-4 job: the pass job[1] over range job[5]:job[6], in the dtype job[2]
    (batch norm's eps and 1 / M stored as doubles in job[20:22], rounded to
    the dtype here as NumPy rounds them)."""
    f = carray(_f64_at(job.ctypes.data + 8 * 20), (2,))
    if job[2] == 0:
        _pass_typed(job, _f32_at, np.float32(0), np.float32(1), np.float32(f[0]), np.float32(f[1]))
    else:
        _pass_typed(job, _f64_at, np.float64(0), np.float64(1), np.float64(f[0]), np.float64(f[1]))


@njit(cache=True, nogil=True, inline="always")
def _pass_typed(job, at, zero, one, eps, inv_m):
    """``_pass_job`` with ``at`` the pointer cast and the scalars in the dtype
    (each passed in: ``zero + 1`` would be a float64, and so would every sum
    the kernels start from it)."""
    op, lo, hi = job[1], job[5], job[6]
    if op <= _PASS_ADD:      # flat arrays at job[8], job[10] (and job[12]); this range of them
        isz = job[7]
        n = hi - lo
        a = carray(at(job[8] + isz * lo), (n,))
        out = carray(at(job[10] + isz * lo), (n,))
        if op == _PASS_RELU:
            relu_forward(a, out)
        elif op == _PASS_RELU_BACKWARD:
            relu_backward(a, carray(at(job[12] + isz * lo), (n,)), out, zero)
        else:
            add_flat(a, carray(at(job[12] + isz * lo), (n,)), out)
        return
    if op >= _PASS_PAD:
        _plane_pass(job, at, op, lo, hi, zero)
        return
    N, C, S = job[7], job[9], job[11]
    shape = (N, C, S)
    if op == _PASS_BN:
        norm_channels_forward(carray(at(job[8]), shape), carray(at(job[10]), (C,)),
                              carray(at(job[12]), (C,)), eps, one, inv_m,
                              carray(at(job[13]), shape), carray(at(job[14]), (C,)),
                              carray(at(job[15]), (C,)), carray(at(job[16]), (C,)), lo, hi)
    else:
        norm_channels_backward(carray(at(job[8]), shape), carray(at(job[10]), shape),
                               carray(at(job[12]), (C,)), carray(at(job[13]), (C,)),
                               carray(at(job[14]), (C,)), inv_m, carray(at(job[15]), shape),
                               carray(at(job[16]), (C,)), carray(at(job[17]), (C,)), lo, hi)


@njit(cache=True, nogil=True, inline="always")
def _plane_pass(job, at, op, lo, hi, zero):
    """The conv input copies over planes lo:hi (``pad_planes``: job[12:18] =
    H, W, Hp, Wp, pt, pl; ``phase_planes``: job[12:20] = H, W, sh, sw, Hq,
    Wq, pt, pl; job[7] = planes; ``zero``: 0 in the dtype), or ``all_finite``
    over flat elements lo:hi of job[8], answering in job[31] (1: finite)."""
    if op == _PASS_FINITE:
        job[31] = 1 if all_finite(carray(at(job[8] + job[7] * lo), (hi - lo,))) else 0
        return
    P, H, W = job[7], job[12], job[13]
    x = carray(at(job[8]), (P * H * W,))
    if op == _PASS_PAD:
        Hp, Wp = job[14], job[15]
        pad_planes(x, carray(at(job[10]), (P * Hp * Wp,)), H, W, Hp, Wp, job[16], job[17],
                   lo, hi, zero)
    else:
        sh, sw, Hq, Wq = job[14], job[15], job[16], job[17]
        phase_planes(x, carray(at(job[10]), (P * sh * sw * Hq * Wq,)), H, W, sh, sw, Hq, Wq,
                     job[18], job[19], lo, hi, zero)


@njit(cache=True, nogil=True)
def _plane_jobs(op, x, out, P, parts, jobs):
    """The common fields of the plane passes' jobs: ``parts`` ranges of the P planes."""
    for p in range(parts):
        j = jobs[p]
        j[:] = 0
        j[0], j[1], j[2], j[5], j[6], j[7] = 4, op, _pass_code(x), P * p // parts, \
            P * (p + 1) // parts, P
        j[8], j[10] = x.ctypes.data, out.ctypes.data


@njit(cache=True, nogil=True)
def pad_planes_run(fn, x, xp, H, W, Hp, Wp, pt, pl, parts, jobs, flags):
    """``pad_planes`` over all x.size // (H * W) planes as ``parts`` kind-4
    jobs (flat C-contiguous float32/64 arrays), as ``gemm_run``'s."""
    if parts > jobs.shape[0]:
        return -1
    _plane_jobs(_PASS_PAD, x, xp, x.size // (H * W), parts, jobs)
    for p in range(parts):
        j = jobs[p]
        j[12], j[13], j[14], j[15], j[16], j[17] = H, W, Hp, Wp, pt, pl
    return _post_passes(fn, jobs, flags, parts)


@njit(cache=True, nogil=True)
def phase_planes_run(fn, x, xq, H, W, sh, sw, Hq, Wq, pt, pl, parts, jobs, flags):
    """``phase_planes`` over all x.size // (H * W) planes as ``parts`` kind-4
    jobs (flat C-contiguous float32/64 arrays), as ``gemm_run``'s."""
    if parts > jobs.shape[0]:
        return -1
    _plane_jobs(_PASS_PHASE, x, xq, x.size // (H * W), parts, jobs)
    for p in range(parts):
        j = jobs[p]
        j[12], j[13], j[14], j[15], j[16], j[17], j[18], j[19] = H, W, sh, sw, Hq, Wq, pt, pl
    return _post_passes(fn, jobs, flags, parts)


@njit(cache=True, nogil=True)
def all_finite_run(fn, x, parts, jobs, flags):
    """``all_finite`` of flat C-contiguous float32/64 x as ``parts`` kind-4
    jobs; as ``gemm_run``'s, each job's answer left in its job[31] (read
    them with ``all_finite_answer``)."""
    if parts > jobs.shape[0]:
        return -1
    n = x.size
    for p in range(parts):
        j = jobs[p]
        j[:] = 0
        j[0], j[1], j[2], j[5], j[6], j[7] = 4, _PASS_FINITE, _pass_code(x), \
            _cut(n, p, parts), _cut(n, p + 1, parts), x.itemsize
        j[8] = x.ctypes.data
    return _post_passes(fn, jobs, flags, parts)


@njit(cache=True, nogil=True)
def all_finite_answer(jobs, parts):
    """Whether every one of the first ``parts`` all_finite jobs found its range finite."""
    for p in range(parts):
        if jobs[p, 31] != 1:
            return False
    return True


@_exact
def add_flat(a, b, out):
    """out = a + b over flat arrays (what NumPy's add computes, bit for bit)."""
    for i in range(a.size):
        out[i] = a[i] + b[i]


@njit(cache=True, nogil=True)
def _post_passes(fn, jobs, flags, parts):
    """``_post_and_run`` for ``parts`` kind-4 jobs, each to call ``fn``
    (``pass_address()``)."""
    for p in range(parts):
        jobs[p, 3] = fn
    return _post_and_run(jobs, flags, parts)


@njit(cache=True, nogil=True)
def _pass_code(x):
    """0 for float32 data, 1 for float64 (the dtype field of a kind-4 job)."""
    return 0 if x.itemsize == 4 else 1


@njit(cache=True, nogil=True)
def flat_pass_run(fn, op, a, out, b, parts, jobs, flags):
    """The flat pass ``op`` (_PASS_RELU: out = relu(a); _PASS_RELU_BACKWARD:
    out = relu_backward(a, b); _PASS_ADD: out = a + b) over flat
    C-contiguous arrays of one dtype and size, as ``parts`` kind-4 jobs over
    ranges of the elements, posted and waited for as ``gemm_run``'s (same
    returns).  ``b`` is ignored for _PASS_RELU."""
    if parts > jobs.shape[0]:   # (never: the pool cuts at most its size)
        return -1
    n = a.size
    for p in range(parts):
        j = jobs[p]
        j[:] = 0
        j[0], j[1], j[2], j[5], j[6], j[7] = 4, op, _pass_code(a), _cut(n, p, parts), \
            _cut(n, p + 1, parts), a.itemsize
        j[8], j[10], j[12] = a.ctypes.data, out.ctypes.data, b.ctypes.data
    return _post_passes(fn, jobs, flags, parts)


@njit(cache=True, nogil=True)
def _channel_jobs(op, shape, eps, inv_m, parts, jobs):
    """The common fields of batch norm's kind-4 jobs: ``parts`` ranges of
    the C channels of an (N, C, S) array (cut at multiples of 16 channels
    where that leaves each a share, so that two threads never write one
    cache line of the (C,) outputs)."""
    N, C, S = shape
    for p in range(parts):
        j = jobs[p]
        j[:] = 0
        lo = C * p // parts if C < 16 * parts else _cut(C, p, parts)
        hi = C * (p + 1) // parts if C < 16 * parts else _cut(C, p + 1, parts)
        j[0], j[1], j[5], j[6], j[7], j[9], j[11] = 4, op, lo, hi, N, C, S
        f = carray(_f64_at(j.ctypes.data + 8 * 20), (2,))
        f[0], f[1] = eps, inv_m


@njit(cache=True, nogil=True)
def norm_channels_forward_run(fn, x, w, b, eps, inv_m, y, mean, var, rstd, parts, jobs, flags):
    """``norm_channels_forward`` over all channels as ``parts`` kind-4 jobs
    (channel ranges; w and b arrays, not None; eps and inv_m as Python
    floats, rounded to x's dtype in the job), as ``gemm_run``'s."""
    if parts > jobs.shape[0]:
        return -1
    _channel_jobs(_PASS_BN, x.shape, eps, inv_m, parts, jobs)
    for p in range(parts):
        j = jobs[p]
        j[2], j[8], j[10], j[12] = _pass_code(x), x.ctypes.data, w.ctypes.data, b.ctypes.data
        j[13], j[14], j[15], j[16] = y.ctypes.data, mean.ctypes.data, var.ctypes.data, \
            rstd.ctypes.data
    return _post_passes(fn, jobs, flags, parts)


@njit(cache=True, nogil=True)
def norm_channels_backward_run(fn, g, x, mean, rstd, w, inv_m, gx, gw, gb, parts, jobs, flags):
    """``norm_channels_backward`` over all channels as ``parts`` kind-4 jobs
    (w, gw, gb arrays, not None; inv_m a Python float), as ``gemm_run``'s."""
    if parts > jobs.shape[0]:
        return -1
    _channel_jobs(_PASS_BN_BACKWARD, g.shape, 0.0, inv_m, parts, jobs)
    for p in range(parts):
        j = jobs[p]
        j[2], j[8], j[10], j[12], j[13] = _pass_code(g), g.ctypes.data, x.ctypes.data, \
            mean.ctypes.data, rstd.ctypes.data
        j[14], j[15], j[16], j[17] = w.ctypes.data, gx.ctypes.data, gw.ctypes.data, \
            gb.ctypes.data
    return _post_passes(fn, jobs, flags, parts)


@njit(cache=True)   # (keeps the GIL: releasing it here would let a worker take it)
def post(flags, i, value):
    """flags[i] = value, sequentially consistent: the job written before it
    is seen with it, and a load after it is not done before it."""
    _store_seq(flags, i, value)


@njit(cache=True)   # (keeps the GIL: releasing it here would let a worker take it)
def post_python(flags, jobs, w):
    """Post the Python job waiting in the pool's list to worker w: marked
    Python (kind 0) in jobs[w + 1], then flags[2w] bumped, as ``post``.
    Returns the job's number, negated when the worker sleeps (wake it).
    (One call for the caller's three steps: each Python call to a compiled
    function costs ~0.3 us, on every split.)"""
    jobs[w + 1, 0] = 0
    job = flags[2 * w] + 1
    _store_seq(flags, 2 * w, job)
    return -job if _load_acquire(flags, 2 * _workers(flags) + w) != 0 else job


@njit(cache=True)   # (keeps the GIL: as post)
def steal(flags, w, job):
    """Claim job number ``job``, posted to worker w, for the calling thread
    (True: it runs the job and then marks it done with ``post``; False: the
    worker has it)."""
    workers = _workers(flags)
    if _claim(flags, 3 * workers + w, job):
        flags[4 * workers + 1] += 1
        return True
    return False


@njit(cache=True, nogil=True)
def spin_until(flag, i, want, turns):
    """Wait, without the GIL, until ``flag[i] == want`` (an int64 array);
    False after ``turns`` turns of the loop without seeing it.  The intra-op
    pool's hand-off: a thread that sleeps takes 20-70 us to wake on a VM, a
    spinning one about 1 us.  Every 64 turns (~2-3 us) it calls the function
    whose address is in the array's last entry, if any: sched_yield, so that
    with more threads than cores the one with work gets the core."""
    return _spin(flag, i, want, turns, False)


@njit(cache=True, nogil=True)
def _spin(flag, i, want, turns, past):
    """``spin_until``; with ``past``, until ``flag[i] > want`` instead."""
    yield_fn = flag[flag.shape[0] - 1]
    for t in range(turns):
        v = _load_acquire(flag, i)
        if v > want if past else v == want:
            return True
        if yield_fn != 0 and t & 63 == 63:
            _call_void(yield_fn)
    v = _load_acquire(flag, i)
    return v > want if past else v == want


_CLOCK_MONOTONIC = 1      # (Linux's clockid)


@njit(cache=True, nogil=True)
def pause(flag, ns):
    """Spin, without the GIL and without giving the core away, for ``ns``
    nanoseconds of the monotonic clock (whose address is in the array's
    second-to-last entry, as for ``spin_past``; 0: none, then ``ns`` counts
    as turns of ~50 ns).  For waits of a few microseconds, where one
    sched_yield (1-3 us on a VM) would be much of the wait."""
    if ns <= 0:
        return
    clock = flag[flag.shape[0] - 2]
    if clock == 0:
        for t in range(max(ns // 50, 1)):
            _load_acquire(flag, 0)      # (a memory read and the CPU's pause hint)
        return
    ts = np.zeros(2, np.int64)
    _call_clock(clock, _CLOCK_MONOTONIC, ts.ctypes.data)
    end = ts[0] * 1_000_000_000 + ts[1] + ns
    while True:
        for t in range(8):
            _load_acquire(flag, 0)
        _call_clock(clock, _CLOCK_MONOTONIC, ts.ctypes.data)
        if ts[0] * 1_000_000_000 + ts[1] >= end:
            return


@njit(cache=True, nogil=True)
def spin_past(flag, i, seen, ns):
    """Wait, as ``spin_until`` does, until ``flag[i] > seen``, bounded by
    time instead of turns: False once ``ns`` nanoseconds of the monotonic
    clock pass without it.  The array's second-to-last entry is the address
    of clock_gettime (0: none, then ``ns`` counts as turns of ~25 ns).  A
    bound in turns alone stretches with the machine's load: every sched_yield
    may give the core away for a whole time slice, and an idle worker would
    hold its thread for seconds."""
    clock = flag[flag.shape[0] - 2]
    if clock == 0:
        return _spin(flag, i, seen, max(ns // 25, 1), True)
    ts = np.zeros(2, np.int64)
    _call_clock(clock, _CLOCK_MONOTONIC, ts.ctypes.data)
    end = ts[0] * 1_000_000_000 + ts[1] + ns
    while True:
        if _spin(flag, i, seen, 64, True):      # (one sched_yield per 64 turns)
            return True
        _call_clock(clock, _CLOCK_MONOTONIC, ts.ctypes.data)
        if ts[0] * 1_000_000_000 + ts[1] > end:
            return False


@njit(cache=True, nogil=True)
def serve(flags, jobs, w, seen, idle_ns, finished, gil_ns):
    """Worker w's loop, without the GIL.  First marks job ``finished`` done
    (if > 0: a Python job the worker just ran; marked here, after the GIL is
    released, so that the caller never waits for a GIL this thread holds).
    Then: wait for a job past ``seen`` (posted to flags[2w], described by
    jobs[w + 1]) and claim it; the caller may have claimed it first (it runs
    what no worker has started once its own share is done: see
    ``gemm_finish``), and then posted the next, so the worker takes the
    latest number posted and skips a job it could not claim.  A native job
    (kinds 1-4) runs here and is marked done in flags[2w + 1], then the
    worker waits for the next.  Returns (job number, True) for a claimed job
    Python must run (after ``gil_ns`` nanoseconds: see below), or (seen,
    False) after ``idle_ns`` nanoseconds with no job."""
    if finished > 0:
        _store_release(flags, 2 * w + 1, finished)
    workers = _workers(flags)
    while True:
        if not spin_past(flags, 2 * w, seen, idle_ns):
            return seen, False
        if _load_acquire(flags, 4 * workers) != 0:    # (the tests' hook: claim nothing)
            _spin(flags, 4 * workers, 0, 64, False)
            continue
        want = _load_acquire(flags, 2 * w)
        python = jobs[w + 1, 0] == 0    # (the row of job ``want``, if the claim succeeds)
        if python:
            # A Python job: the caller is about to enter its own share of the
            # work, releasing the GIL.  Asking for the GIL before that would
            # put this thread to sleep (20-70 us to wake on a VM); a few us of
            # waiting here usually finds it free.  (Timed, with no
            # sched_yield: 200 turns of spin_until took 19 us on a 2-core
            # VM, and the caller waits that long for this thread's range.)
            # Claimed after the wait: a caller done by then takes it itself.
            pause(flags, gil_ns)
        if not _claim(flags, 3 * workers + w, want):
            seen = want          # (the caller ran it)
            continue
        if python:
            return want, True
        gemm_job(jobs[w + 1])
        _store_release(flags, 2 * w + 1, want)
        seen = want


# ---- attention on the visible blocks, one (batch, head) at a time --------------------------
# (ember/nn/functional/attention.py's fused path; each call takes a range of
# (batch, head) pairs, so the intra-op threads split the heads between them.
# The products are single-thread BLAS calls made here, without the GIL.)

_NT, _T = 111, 112


@njit(cache=True, nogil=True)
def linear_bias_gemm(x, w, b, out, fn, one):
    """out (m, n) = x (m, k) @ w (n, k)^T + b (n,), all C-contiguous, k >= 1,
    as one BLAS call: out is filled with the bias rows and ?gemm (``fn``)
    adds the product onto them (beta = 1), instead of a second pass over
    out adding the bias.  ``one``: 1 in x's dtype."""
    m, k = x.shape
    n = w.shape[0]
    for i in range(m):
        for j in range(n):
            out[i, j] = b[j]
    _cblas_gemm_beta(fn, _NT, _T, m, n, k, one, x.ctypes.data, k, w.ctypes.data, k, one,
                     out.ctypes.data, n)


@njit(cache=True, nogil=True)
def _at(x, b, h, r):
    """Address of x[b, h, r, 0] (x 4-D)."""
    return x.ctypes.data + b * x.strides[0] + h * x.strides[1] + r * x.strides[2]


@njit(cache=True, nogil=True)
def _ld(x):
    """Leading dimension of the rows of the 4-D x, in elements."""
    return max(x.strides[2] // x.itemsize, 1)


# The forward runs as one compiled function, ``_attention_pairs``, called by
# address (a Numba ``cfunc``) from every thread that runs pairs: the calling
# thread alone, the calling thread's share of a split, and the workers' shares
# (job kind 4, which ``gemm_job`` runs).  So every (batch, head) pair goes
# through the same machine code whichever thread runs it, and a split gives
# the same bits as one thread.  (Called as an ordinary Numba function instead,
# the softmax is compiled into each caller separately -- the worker's loop,
# the serial entry -- and those copies may sum a row in different orders.)
#
# A kind-4 job row (int64): [0] 4, [2] cblas_sgemm's address, [3] the
# compiled function's address, [4] lo, [5] hi (pairs lo..hi-1, flat over
# (B, H)), [6..10] H, L, E, S, Ev, then for q, k, v, out: the address and the
# byte strides of the batch, head and row axes ([11..14], [15..18], [19..22],
# [27..30]; out's address 0: no output), [23] the address of the scores s
# (B, H, L, S) C-contiguous, [31] the row-block table's address and [32] its
# length, [33] the width table's (L,), [34] the (L, S) C-contiguous bias's
# (0: none), [35] the scale's float32 bits.
ATTENTION_FIELDS = 36


def _attention_pairs(job_addr):
    """The pairs of the kind-4 job at ``job_addr`` (see above): for each, the
    weights s = softmax(scale q k^T + bias) (only the first width[r] keys of
    row r computed, zeros past them) and, with an output, out = s v.  Row
    block n of the table, (r0, r1, w): rows r0..r1-1 see keys 0..w-1."""
    job = carray(_i64_at(job_addr), (ATTENTION_FIELDS,))
    fn = job[2]
    H, L, E, S, Ev = job[6], job[7], job[8], job[9], job[10]
    qa, qb, qh, qr = job[11], job[12], job[13], job[14]
    ka, kb, kh, ldk = job[15], job[16], job[17], max(job[18] // 4, 1)
    va, vb, vh, ldv = job[19], job[20], job[21], max(job[22] // 4, 1)
    sa = job[23]
    oa, ob, oh, orow = job[27], job[28], job[29], job[30]
    ldo = max(orow // 4, 1)
    rows = carray(_i64_at(job[31]), (job[32], 3))
    width = carray(_i64_at(job[33]), (L,))
    scale = np.int32(job[35]).view(np.float32)
    one = np.float32(1.0)
    qs = np.empty((L, E), np.float32)
    for i in range(job[4], job[5]):
        b, h = i // H, i % H
        q0 = qa + b * qb + h * qh
        for r in range(L):
            qrow = carray(_f32_at(q0 + r * qr), (E,))
            for j in range(E):
                qs[r, j] = qrow[j] * scale      # (q scaled first, as torch does)
        k0, v0 = ka + b * kb + h * kh, va + b * vb + h * vh
        s0 = sa + i * L * S * 4
        for n in range(rows.shape[0]):
            r0, r1, w = rows[n, 0], rows[n, 1], rows[n, 2]
            if w > 0:
                _cblas_gemm(fn, _NT, _T, r1 - r0, w, E, one, qs.ctypes.data + r0 * E * 4, E,
                            k0, ldk, s0 + r0 * S * 4, S)
        s = carray(_f32_at(s0), (L, S))
        if job[34]:
            softmax_rows_masked(s, carray(_f32_at(job[34]), (L, S)), width)
        else:
            softmax_rows_masked(s, None, width)
        if oa == 0:
            continue
        o0 = oa + b * ob + h * oh
        for n in range(rows.shape[0]):
            r0, r1, w = rows[n, 0], rows[n, 1], rows[n, 2]
            if w > 0:
                _cblas_gemm(fn, _NT, _NT, r1 - r0, Ev, w, one, s0 + r0 * S * 4, S, v0, ldv,
                            o0 + r0 * orow, ldo)
            else:
                for r in range(r0, r1):
                    orow_r = carray(_f32_at(o0 + r * orow), (Ev,))
                    for j in range(Ev):
                        orow_r[j] = 0


def attention_entry():
    """The address of ``_attention_pairs`` as a C function
    (``_entry_address``): every (batch, head) pair's softmax rounds alike
    whichever thread runs it."""
    return _entry_address(_attention_pairs, error_model="numpy")


@njit(cache=True, nogil=True)
def _attention_job(j, q, k, v, s, out, rows, width, bias, scale, fn, entry, lo, hi):
    """Fill the job row ``j`` for pairs lo..hi-1 of the 4-D float32 q (B, H,
    L, E), k (B, H, S, E), v (B, H, S, Ev) into s (B, H, L, S, C-contiguous)
    and out (or None); ``bias`` (L, S) C-contiguous or None."""
    j[:] = 0
    j[0], j[2], j[3], j[4], j[5] = 4, fn, entry, lo, hi
    j[6], j[7], j[8], j[9], j[10] = q.shape[1], q.shape[2], q.shape[3], s.shape[3], v.shape[3]
    j[11], j[12], j[13], j[14] = q.ctypes.data, q.strides[0], q.strides[1], q.strides[2]
    j[15], j[16], j[17], j[18] = k.ctypes.data, k.strides[0], k.strides[1], k.strides[2]
    j[19], j[20], j[21], j[22] = v.ctypes.data, v.strides[0], v.strides[1], v.strides[2]
    j[23] = s.ctypes.data
    if out is not None:
        j[27], j[28], j[29], j[30] = out.ctypes.data, out.strides[0], out.strides[1], \
            out.strides[2]
    j[31], j[32], j[33] = rows.ctypes.data, rows.shape[0], width.ctypes.data
    if bias is not None:
        j[34] = bias.ctypes.data
    j[35] = np.int64(np.float32(scale).view(np.int32))


@njit(cache=True, nogil=True)
def attention_forward(q, k, v, s, out, rows, width, bias, scale, lo, hi, fn, entry):
    """For (batch, head) pairs lo..hi-1 (flat index over q.shape[:2]) of the
    4-D float32 q (B, H, L, E), k (B, H, S, E), v (B, H, S, Ev): the weights
    s = softmax(scale q k^T + bias) (B, H, L, S, C-contiguous; only the
    first ``width`` keys of each row computed, zeros past them) and, when
    ``out`` is not None, out = s v, on this thread.  ``rows`` (n, 3) holds
    the row blocks (r0, r1, w): rows r0..r1-1 see keys 0..w-1; ``bias`` is
    (L, S) C-contiguous or None.  ``fn``: cblas_sgemm's address; ``entry``:
    ``attention_entry()``, which does the work (see above)."""
    job = np.empty(ATTENTION_FIELDS, np.int64)
    _attention_job(job, q, k, v, s, out, rows, width, bias, scale, fn, entry, lo, hi)
    _call_with(entry, job.ctypes.data)


@njit(cache=True, nogil=True)
def attention_run(q, k, v, s, out, rows, width, bias, scale, fn, entry, parts, jobs, flags):
    """``attention_forward`` over all pairs as ``parts`` kind-4 jobs over
    ranges of them, posted and waited for as ``gemm_run``'s (same returns)."""
    if parts > jobs.shape[0] or jobs.shape[1] < ATTENTION_FIELDS:   # (never: see gemm_run)
        return -1
    n = q.shape[0] * q.shape[1]
    for p in range(parts):
        _attention_job(jobs[p], q, k, v, s, out, rows, width, bias, scale, fn, entry,
                       n * p // parts, n * (p + 1) // parts)
    return _post_and_run(jobs, flags, parts)


@njit(cache=True, nogil=True)
def _to_keys(a, ab, ah, b_, out, segs, bi, h, fn):
    """out[bi, h] = a[ab, ah]^T b_[bi, h] over the visible blocks: keys
    c0..c1-1 collect rows r0.. only, for each (c0, c1, r0) in ``segs``; keys
    past the last segment get zeros.  a (.., L, S), b_ (.., L, X), out (.., S, X)."""
    L, X = a.shape[2], b_.shape[3]
    c1 = 0
    for n in range(segs.shape[0]):
        c0, c1, r0 = segs[n, 0], segs[n, 1], segs[n, 2]
        _cblas_gemm(fn, _T, _NT, c1 - c0, X, L - r0, np.float32(1.0),
                    _at(a, ab, ah, r0) + c0 * 4, _ld(a), _at(b_, bi, h, r0), _ld(b_),
                    _at(out, bi, h, c0), _ld(out))
    for c in range(c1, out.shape[2]):
        for j in range(X):
            out[bi, h, c, j] = 0


@njit(cache=True, nogil=True)
def attention_backward(q, k, v, P, ed, keep, g, gw, dq, dk, dv, c, rows, segs, width,
                       scale, lo, hi, fn):
    """The gradients of ``attention_forward`` for pairs lo..hi-1: dv = ed^T g
    (ed: the weights after dropout), dP = g v^T (+ gw, times keep * c), the
    softmax backward with the scale, dq = dS k, dk = dS^T q.  dq / dk / dv
    None: not needed."""
    H, L = q.shape[1], q.shape[2]
    E, Ev, S = q.shape[3], v.shape[3], P.shape[3]
    dP = np.empty((1, 1, L, S), np.float32)
    one = np.float32(1.0)
    for i in range(lo, hi):
        b, h = i // H, i % H
        if dv is not None:
            _to_keys(ed, b, h, g, dv, segs, b, h, fn)
        if dq is None and dk is None:
            continue
        if gw is not None or keep is not None:
            dP[:] = 0
        for n in range(rows.shape[0]):
            r0, r1, w = rows[n, 0], rows[n, 1], rows[n, 2]
            if w > 0:
                _cblas_gemm(fn, _NT, _T, r1 - r0, w, Ev, one, _at(g, b, h, r0), _ld(g),
                            _at(v, b, h, 0), _ld(v), _at(dP, 0, 0, r0), S)
        if gw is not None:
            for r in range(L):
                for j in range(S):
                    dP[0, 0, r, j] += gw[b, h, r, j]
        if keep is not None:
            for r in range(L):
                for j in range(S):
                    dP[0, 0, r, j] = dP[0, 0, r, j] * np.float32(keep[b, h, r, j]) * c
        attention_softmax_backward(dP[0, 0], P[b, h], width, scale)
        if dq is not None:
            for n in range(rows.shape[0]):
                r0, r1, w = rows[n, 0], rows[n, 1], rows[n, 2]
                if w > 0:
                    _cblas_gemm(fn, _NT, _NT, r1 - r0, E, w, one, _at(dP, 0, 0, r0), S,
                                _at(k, b, h, 0), _ld(k), _at(dq, b, h, r0), _ld(dq))
                else:
                    for r in range(r0, r1):
                        for j in range(E):
                            dq[b, h, r, j] = 0
        if dk is not None:
            _to_keys(dP, 0, 0, q, dk, segs, b, h, fn)


# ---- LSTM: one layer direction's time loop, forward and backward -----------------------
# The loops of ember/backends/generic/rnn.py (``lstm_steps``, whose docstring
# has the conventions), as one call per sequence: per step one BLAS product
# (h @ W_hh^T, resp. the gate gradients @ W_hh) and one fused pass over the
# gates, where the NumPy loop makes ~15 passes and Python calls.  float32 or
# float64; ``one`` is 1 in that dtype and ``fn`` the address of its ?gemm.

def _exp_any(v):
    """exp(v) in v's own float type (implemented below, per type)."""
    return np.exp(v)


@overload(_exp_any)
def _exp_any_typed(v):
    if v == types.float32:
        return lambda v: _exp32(v)      # (vectorisable)
    return lambda v: np.exp(v)


# OpenBLAS runs a thin product (few rows) up to ~1.7x faster as column
# blocks of <= 2^19 multiply-adds (measured: 16 x 128 x 512 in 33 us at
# once, 19 us as two blocks of 256 columns)
_BLOCK_MADDS = 1 << 19


@njit(cache=True, nogil=True)
def _gemm_by_columns(fn, tb, m, n, k, one, a, lda, b, ldb, c, ldc, isz):
    """c = a @ op(b) (row-major; a not transposed, b transposed when tb is
    _T) as products over column blocks of <= _BLOCK_MADDS multiply-adds."""
    nc = max(16, _BLOCK_MADDS // max(m * k, 1) // 16 * 16)
    for c0 in range(0, n, nc):
        boff = c0 * ldb * isz if tb == _T else c0 * isz
        _cblas_gemm(fn, _NT, tb, m, min(nc, n - c0), k, one, a, lda, b + boff, ldb,
                    c + c0 * isz, ldc)


@njit(cache=True, nogil=True)
def _row(a, bf, t, b):
    """Row (t, b) of the time-major (T, B, K) array, or of the batch-first
    (B, T, K) one with ``bf``."""
    return a[b, t] if bf else a[t, b]


@_kernel
def lstm_forward(proj, bf, wt, h0, c0, wr, bsz, reverse, ACT, CS, TC, OUT, RS, gates, one, fn,
                 lo, hi):
    """``lstm_steps`` for the batch rows lo..hi-1 (rows are independent
    through the whole sequence: the threads each take a range).  proj (x's
    layout, 4H wide): gate pre-activations with the -1 / -2 factors; wt
    (P, 4H): W_hh^T with the same factors; h0 (B, P), c0 (B, H); wr (P, H)
    the projection (with RS (T, B, H); both of size 0 without one); bsz (T,)
    the active rows per step; gates a (B, 4H) scratch.  Inactive rows
    (b >= bsz[t]) carry h and c; their ACT, TC, RS are 0."""
    T, B, H = CS.shape
    P = OUT.shape[2]
    G = 4 * H
    two = one + one
    isz = ACT.itemsize
    with_proj = RS.shape[0] > 0
    hp, cp = h0, c0
    for s in range(T):
        t = T - 1 - s if reverse else s
        nb = min(max(bsz[t], lo), hi)      # rows lo..nb-1 active, nb..hi-1 carried
        hn, cn, tc = OUT[t], CS[t], TC[t]
        _gemm_by_columns(fn, _NT, hi - lo, G, P, one, hp.ctypes.data + lo * P * isz, P,
                         wt.ctypes.data, G, gates.ctypes.data + lo * G * isz, G, isz)
        for b in range(lo, nb):
            x = _row(proj, bf, t, b)
            a = gates[b]
            r = RS[t, b] if with_proj else hn[b]
            for j in range(H):
                i = one / (one + _exp_any(a[j] + x[j]))
                f = one / (one + _exp_any(a[H + j] + x[H + j]))
                g = two / (one + _exp_any(a[2 * H + j] + x[2 * H + j])) - one
                o = one / (one + _exp_any(a[3 * H + j] + x[3 * H + j]))
                c = f * cp[b, j] + i * g
                th = two / (one + _exp_any(-two * c)) - one     # tanh(c)
                ACT[t, 0, b, j] = i
                ACT[t, 1, b, j] = f
                ACT[t, 2, b, j] = g
                ACT[t, 3, b, j] = o
                cn[b, j] = c
                tc[b, j] = th
                r[j] = o * th
        for b in range(nb, hi):
            for k in range(4):
                for j in range(H):
                    ACT[t, k, b, j] = 0
            for j in range(H):
                cn[b, j] = cp[b, j]
                tc[b, j] = 0
                if with_proj:
                    RS[t, b, j] = 0
        if with_proj:
            _gemm_by_columns(fn, _T, hi - lo, P, H, one, RS[t].ctypes.data + lo * H * isz, H,
                             wr.ctypes.data, H, hn.ctypes.data + lo * P * isz, P, isz)
        for b in range(nb, hi):
            for j in range(P):
                hn[b, j] = hp[b, j]
        hp, cp = hn, cn


@_kernel
def lstm_backward(gout, bf, ghT, gcT, ACT, CS, c0, TC, whh, wr, bsz, reverse, DXs, DH, dh, dr,
                  dhc, dcc, one, fn, lo, hi):
    """``lstm_steps_backward`` for the batch rows lo..hi-1: gout (x's
    layout, P wide), ghT / gcT the final states' gradients, whh (4H, P)
    W_hh, wr (P, H) the projection (with DH (T, B, P); both of size 0
    without one); DXs (x's layout, 4H wide) gets the gate pre-activation
    gradients; dh, dhc (B, P), dr, dcc (B, H) scratch.  Leaves the
    gradients of h0 and c0 in dhc and dcc."""
    T, B, H = CS.shape
    P = dh.shape[1]
    G = 4 * H
    with_proj = DH.shape[0] > 0
    isz = DXs.itemsize
    ldq = T * G if bf else G     # (the stride of one step's rows, in elements)
    for b in range(lo, hi):
        for j in range(P):
            dhc[b, j] = ghT[b, j]
        for j in range(H):
            dcc[b, j] = gcT[b, j]
    for s in range(T):
        t = s if reverse else T - 1 - s
        first = t == (T - 1 if reverse else 0)
        tp = t + 1 if reverse else t - 1
        cp = c0 if first else CS[tp]
        nb = min(max(bsz[t], lo), hi)
        for b in range(lo, hi):
            go = _row(gout, bf, t, b)
            for j in range(P):
                dh[b, j] = go[j] + dhc[b, j]
        d_r = dh
        if with_proj:
            for b in range(lo, hi):
                for j in range(P):
                    DH[t, b, j] = dh[b, j] if b < nb else 0
            _gemm_by_columns(fn, _NT, hi - lo, H, P, one, dh.ctypes.data + lo * P * isz, P,
                             wr.ctypes.data, H, dr.ctypes.data + lo * H * isz, H, isz)
            d_r = dr
        for b in range(lo, nb):
            q = _row(DXs, bf, t, b)
            for j in range(H):
                i, f, g, o = ACT[t, 0, b, j], ACT[t, 1, b, j], ACT[t, 2, b, j], ACT[t, 3, b, j]
                th = TC[t, b, j]
                d = d_r[b, j]
                dc = d * o * (one - th * th) + dcc[b, j]
                q[j] = dc * g * (i * (one - i))
                q[H + j] = dc * cp[b, j] * (f * (one - f))
                q[2 * H + j] = dc * i * (one - g * g)
                q[3 * H + j] = d * th * (o * (one - o))
                dcc[b, j] = dc * f
        for b in range(nb, hi):
            q = _row(DXs, bf, t, b)
            for j in range(G):
                q[j] = 0
        q0 = DXs.ctypes.data + ((lo * T + t) * G if bf else (t * B + lo) * G) * isz
        _gemm_by_columns(fn, _NT, hi - lo, P, G, one, q0, ldq, whh.ctypes.data, P,
                         dhc.ctypes.data + lo * P * isz, P, isz)
        for b in range(nb, hi):       # (inactive rows pass their gradient on)
            for j in range(P):
                dhc[b, j] = dh[b, j]


# ---- GRU: the same for ``gru_steps`` (ember/backends/generic/rnn.py) ---------------------

@_kernel
def gru_forward(proj, bf, wt, bn, h0, bsz, reverse, ACT, HN, OUT, hh, one, fn, lo, hi):
    """``gru_steps`` for the batch rows lo..hi-1: proj (x's layout, 3H wide)
    with the r, z rows scaled by -1, wt (H, 3H) W_hh^T with the same factors,
    bn (H,) b_hh's n row (zeros without a bias), h0 (B, H), bsz (T,) the
    active rows per step, hh a (B, 3H) scratch.  Inactive rows carry h;
    their ACT and HN are 0."""
    T, _, B, H = ACT.shape
    G = 3 * H
    two = one + one
    isz = ACT.itemsize
    hp = h0
    for s in range(T):
        t = T - 1 - s if reverse else s
        nb = min(max(bsz[t], lo), hi)
        hn = OUT[t]
        _gemm_by_columns(fn, _NT, hi - lo, G, H, one, hp.ctypes.data + lo * H * isz, H,
                         wt.ctypes.data, G, hh.ctypes.data + lo * G * isz, G, isz)
        for b in range(lo, nb):
            x = _row(proj, bf, t, b)
            a = hh[b]
            for j in range(H):
                r = one / (one + _exp_any(a[j] + x[j]))
                z = one / (one + _exp_any(a[H + j] + x[H + j]))
                m = a[2 * H + j] + bn[j]
                n = two / (one + _exp_any(-two * (r * m + x[2 * H + j]))) - one   # tanh
                ACT[t, 0, b, j] = r
                ACT[t, 1, b, j] = z
                ACT[t, 2, b, j] = n
                HN[t, b, j] = m
                hn[b, j] = n + z * (hp[b, j] - n)
        for b in range(nb, hi):
            for j in range(H):
                ACT[t, 0, b, j] = ACT[t, 1, b, j] = ACT[t, 2, b, j] = 0
                HN[t, b, j] = 0
                hn[b, j] = hp[b, j]
        hp = hn


@_kernel
def gru_backward(gout, bf, ghT, ACT, HN, HP, whh, bsz, reverse, Q, DXn, dh, dhc, one, fn, lo,
                 hi):
    """``gru_steps_backward`` for the batch rows lo..hi-1: gout (x's layout),
    ghT the final state's gradient, HP (T, B, H) the state entering each
    step, whh (3H, H) W_hh; Q (T, B, 3H) and DXn (T, B, H) get the
    gradients; dh, dhc (B, H) scratch.  Leaves h0's gradient in dhc."""
    T, _, B, H = ACT.shape
    G = 3 * H
    isz = ACT.itemsize
    for b in range(lo, hi):
        for j in range(H):
            dhc[b, j] = ghT[b, j]
    for s in range(T):
        t = s if reverse else T - 1 - s
        nb = min(max(bsz[t], lo), hi)
        for b in range(lo, hi):
            go = _row(gout, bf, t, b)
            for j in range(H):
                dh[b, j] = go[j] + dhc[b, j]
        for b in range(lo, nb):
            q = Q[t, b]
            for j in range(H):
                r, z, n = ACT[t, 0, b, j], ACT[t, 1, b, j], ACT[t, 2, b, j]
                d = dh[b, j]
                dn = d * ((one - z) * (one - n * n))
                DXn[t, b, j] = dn
                q[H + j] = d * ((HP[t, b, j] - n) * (z * (one - z)))
                q[j] = dn * (HN[t, b, j] * (r * (one - r)))
                q[2 * H + j] = dn * r
        for b in range(nb, hi):
            for j in range(G):
                Q[t, b, j] = 0
            for j in range(H):
                DXn[t, b, j] = 0
        _gemm_by_columns(fn, _NT, hi - lo, H, G, one, Q[t].ctypes.data + lo * G * isz, G,
                         whh.ctypes.data, H, dhc.ctypes.data + lo * H * isz, H, isz)
        for b in range(lo, nb):
            for j in range(H):
                dhc[b, j] += dh[b, j] * ACT[t, 1, b, j]
        for b in range(nb, hi):       # (inactive rows pass their gradient on)
            for j in range(H):
                dhc[b, j] = dh[b, j]


# ---- Elman RNN: the same for ``rnn_steps`` ---------------------------------------------

@_kernel
def rnn_forward(proj, bf, wt, relu, h0, bsz, reverse, OUT, one, fn, lo, hi):
    """``rnn_steps`` for the batch rows lo..hi-1: proj (x's layout, H wide)
    the input projection plus biases, wt (H, H) W_hh^T, h0 (B, H), bsz (T,)
    the active rows per step; h' = tanh (or relu) of proj + h W_hh^T."""
    T, B, H = OUT.shape
    two, zero = one + one, one - one
    isz = OUT.itemsize
    hp = h0
    for s in range(T):
        t = T - 1 - s if reverse else s
        nb = min(max(bsz[t], lo), hi)
        hn = OUT[t]
        _gemm_by_columns(fn, _NT, hi - lo, H, H, one, hp.ctypes.data + lo * H * isz, H,
                         wt.ctypes.data, H, hn.ctypes.data + lo * H * isz, H, isz)
        for b in range(lo, nb):
            x = _row(proj, bf, t, b)
            for j in range(H):
                v = hn[b, j] + x[j]
                if relu:
                    hn[b, j] = zero if v < zero else v      # (NaN stays NaN)
                else:
                    hn[b, j] = two / (one + _exp_any(-two * v)) - one    # tanh
        for b in range(nb, hi):
            for j in range(H):
                hn[b, j] = hp[b, j]
        hp = hn


@_kernel
def rnn_backward(gout, bf, ghT, OUT, whh, relu, bsz, reverse, DXs, dh, dhc, one, fn, lo, hi):
    """``rnn_steps_backward`` for the batch rows lo..hi-1: gout (x's layout),
    ghT the final state's gradient, whh (H, H) W_hh; DXs (x's layout) gets
    the pre-activation gradients; dh, dhc (B, H) scratch.  Leaves h0's
    gradient in dhc."""
    T, B, H = OUT.shape
    zero = one - one
    isz = OUT.itemsize
    ldq = T * H if bf else H
    for b in range(lo, hi):
        for j in range(H):
            dhc[b, j] = ghT[b, j]
    for s in range(T):
        t = s if reverse else T - 1 - s
        nb = min(max(bsz[t], lo), hi)
        for b in range(lo, hi):
            go = _row(gout, bf, t, b)
            for j in range(H):
                dh[b, j] = go[j] + dhc[b, j]
        for b in range(lo, nb):
            q = _row(DXs, bf, t, b)
            for j in range(H):
                y = OUT[t, b, j]
                if relu:
                    q[j] = dh[b, j] if y > zero else zero
                else:
                    q[j] = dh[b, j] * (one - y * y)
        for b in range(nb, hi):
            q = _row(DXs, bf, t, b)
            for j in range(H):
                q[j] = 0
        q0 = DXs.ctypes.data + ((lo * T + t) * H if bf else (t * B + lo) * H) * isz
        _gemm_by_columns(fn, _NT, hi - lo, H, H, one, q0, ldq, whh.ctypes.data, H,
                         dhc.ctypes.data + lo * H * isz, H, isz)
        for b in range(nb, hi):       # (inactive rows pass their gradient on)
            for j in range(H):
                dhc[b, j] = dh[b, j]


# ---- Winograd F(2x2, 3x3) convolution --------------------------------------------------------
# (ember/backends/cpu/_winograd.py drives these.)  A 3x3 stride-1 conv's output,
# cut into 2x2 tiles, is A^T [ (G g G^T) * (B^T d B) ] A per tile, where d is
# the 4x4 input patch under the tile (patches overlap by 2) and * is an
# element-wise product over the 16 positions of a 4x4 tile, summed over the
# input channels: 16 GEMMs of (O, C) @ (C, tiles), 16 multiplies per tile
# where the direct sum takes 36.  The transforms are a few additions each:
#   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
#   A^T = [1 1 1 0; 0 1 -1 -1].
# Tiles are numbered t = (n * th + i) * tw + j (sample n, tile row i, tile
# column j: output rows 2i, 2i+1, columns 2j, 2j+1); a *chunk* is a run of
# whole tile rows, transformed, multiplied and transformed back while its
# buffers stay in the core's cache.


# ---- the transforms as vector code (float32) ---------------------------------------------
# The transforms' sums, written once over ``ops`` = (add, sub, neg) so that
# the intrinsics below emit them as LLVM vector code, each argument and
# result one entry of L = 16, 8, 4 or 2 consecutive tiles of a tile row.
# LLVM does not vectorise the per-tile loops itself: a tile row is 2-16
# tiles, too short for its loop vectoriser, and a loop over a whole chunk's
# tiles (entries gathered into rows first) stayed scalar too (16 rows read
# and 16 written: it would need an overlap check for every pair).  On
# ResNet-18-width's 64-channel 32x32 layer (one EPYC core, the chunks of a
# batch of 64) the input transform went from 12.8 to 4.4 ms, the output's
# from 9.3 to 3.8, the output gradient's from 11.2 to 3.3.  The scalar
# loops of the kernels below, for float64 and a row's last odd tile, spell
# out the same sums.

def _rows_bt(d, ops):
    """B^T along one axis: [d0 - d2, d1 + d2, d2 - d1, d1 - d3]."""
    add, sub = ops[0], ops[1]
    return [sub(d[0], d[2]), add(d[1], d[2]), sub(d[2], d[1]), sub(d[1], d[3])]


def _input_sums(d, ops):
    """B^T d B of a patch d (16 entries, d[4a + b]) -> its 16 entries."""
    s = [_rows_bt([d[b], d[4 + b], d[8 + b], d[12 + b]], ops) for b in range(4)]
    out = []
    for k in range(4):
        out += _rows_bt([s[0][k], s[1][k], s[2][k], s[3][k]], ops)
    return out


def _output_sums(m, ops):
    """A^T m A of the products m (16 entries) -> the outputs [y00, y01, y10,
    y11] (A^T = [1 1 1 0; 0 1 -1 -1] along each axis)."""
    add, sub = ops[0], ops[1]
    a = [add(add(m[l], m[4 + l]), m[8 + l]) for l in range(4)]
    b = [sub(sub(m[4 + l], m[8 + l]), m[12 + l]) for l in range(4)]
    return [add(add(a[0], a[1]), a[2]), sub(sub(a[1], a[2]), a[3]),
            add(add(b[0], b[1]), b[2]), sub(sub(b[1], b[2]), b[3])]


def _grad_output_sums(g, ops):
    """A dy A^T of an output gradient's 2x2 block g = [a, b, c, d] -> 16
    entries (along each axis [x, y] -> [x, x + y, x - y, -y])."""
    add, sub, neg = ops

    def expand(x, y):
        return [x, add(x, y), sub(x, y), neg(y)]
    e, f = expand(g[0], g[2]), expand(g[1], g[3])       # columns 0 and 1 down the rows
    out = []
    for k in range(4):
        out += expand(e[k], f[k])
    return out


def _ir_input_tiles(L):
    """An intrinsic ``f(src, ls, dst, ds)``: the input transform of L tiles
    of a tile row; src: the address of the first one's patch corner in four
    padded input rows ls elements apart (the patches of tiles j: columns
    2j .. 2j + 3), dst: that of its entry 0 in v, entries ds apart."""
    @intrinsic
    def input_tiles(typingctx, src, ls, dst, ds):
        def codegen(context, builder, sig, args):
            src_, ls_, dst_, ds_ = args
            V = _IRVec(builder, L)
            d = [None] * 16
            for a in range(4):
                for b0 in (0, 2):       # columns 2j + b0, 2j + b0 + 1
                    off = builder.add(V.at(ls_, a), ir.Constant(V.i64, b0))
                    d[4 * a + b0], d[4 * a + b0 + 1] = V.halves(V.load(src_, off, 2 * L))
            for k, val in enumerate(_input_sums(d, V.ops)):
                V.store(val, dst_, V.at(ds_, k))
            return context.get_dummy_value()
        return types.void(types.int64, types.int64, types.int64, types.int64), codegen
    return input_tiles


def _ir_output_tiles(L):
    """An intrinsic ``f(src, ss, bias, dst, two, ldy)``: the output transform
    of L tiles of a tile row whose two columns are both outputs; src: the
    address of the first one's entry 0 in m, entries ss apart; the outputs
    (+ bias) go to the 2L columns at dst and, when ``two`` (not 0), ldy
    elements further (the tiles' second output row)."""
    @intrinsic
    def output_tiles(typingctx, src, ss, bias, dst, two, ldy):
        def codegen(context, builder, sig, args):
            src_, ss_, bias_, dst_, two_, ldy_ = args
            V = _IRVec(builder, L)
            if bias_.type != V.f32:     # (the float64 kernels compile a call they never make)
                bias_ = builder.fptrunc(bias_, V.f32)
            bv = _ir_splat(builder, bias_, L)
            m = [V.load(src_, V.at(ss_, k)) for k in range(16)]
            y = [builder.fadd(val, bv) for val in _output_sums(m, V.ops)]
            mix = [i // 2 + (L if i % 2 else 0) for i in range(2 * L)]   # (y0 y1 interleaved)
            V.store(V.shuffle(y[0], y[1], mix), dst_)
            with builder.if_then(builder.icmp_signed("!=", two_, ir.Constant(V.i64, 0))):
                V.store(V.shuffle(y[2], y[3], mix), dst_, ldy_)
            return context.get_dummy_value()
        sig = types.void(types.int64, types.int64, bias, types.int64, types.int64, types.int64)
        return sig, codegen
    return output_tiles


def _ir_grad_output_tiles(L):
    """An intrinsic ``f(src, ldy, dst, ds)``: A dy A^T of L tiles of a tile
    row of the output gradient whose 2x2 blocks lie whole inside it; src: the
    address of the first one's top-left entry (rows ldy elements apart),
    dst: that of its entry 0 in mg, entries ds apart."""
    @intrinsic
    def grad_output_tiles(typingctx, src, ldy, dst, ds):
        def codegen(context, builder, sig, args):
            src_, ldy_, dst_, ds_ = args
            V = _IRVec(builder, L)
            a, b = V.halves(V.load(src_, None, 2 * L))
            c, d = V.halves(V.load(src_, ldy_, 2 * L))
            for k, val in enumerate(_grad_output_sums([a, b, c, d], V.ops)):
                V.store(val, dst_, V.at(ds_, k))
            return context.get_dummy_value()
        return types.void(types.int64, types.int64, types.int64, types.int64), codegen
    return grad_output_tiles


_input_16, _input_8, _input_4, _input_2 = (_ir_input_tiles(L) for L in (16, 8, 4, 2))
_output_16, _output_8, _output_4, _output_2 = (_ir_output_tiles(L) for L in (16, 8, 4, 2))
_gout_16, _gout_8, _gout_4, _gout_2 = (_ir_grad_output_tiles(L) for L in (16, 8, 4, 2))


@_kernel
def _input_tiles(src, ls, dst, ds, n):
    """The input transform of the first of n tiles of a tile row (float32,
    arguments as ``_ir_input_tiles``'s) by vectors of 16, 8, 4, 2 tiles;
    returns how many it did: all but an odd last one, left to the caller."""
    j = 0
    while j + 16 <= n:
        _input_16(src + 8 * j, ls, dst + 4 * j, ds)
        j += 16
    if j + 8 <= n:
        _input_8(src + 8 * j, ls, dst + 4 * j, ds)
        j += 8
    if j + 4 <= n:
        _input_4(src + 8 * j, ls, dst + 4 * j, ds)
        j += 4
    if j + 2 <= n:
        _input_2(src + 8 * j, ls, dst + 4 * j, ds)
        j += 2
    return j


@_kernel
def _output_tiles(src, ss, bias, dst, two, ldy, n):
    """The output transform of the first of n tiles of a tile row (float32,
    arguments as ``_ir_output_tiles``'s), as ``_input_tiles``."""
    j = 0
    while j + 16 <= n:
        _output_16(src + 4 * j, ss, bias, dst + 8 * j, two, ldy)
        j += 16
    if j + 8 <= n:
        _output_8(src + 4 * j, ss, bias, dst + 8 * j, two, ldy)
        j += 8
    if j + 4 <= n:
        _output_4(src + 4 * j, ss, bias, dst + 8 * j, two, ldy)
        j += 4
    if j + 2 <= n:
        _output_2(src + 4 * j, ss, bias, dst + 8 * j, two, ldy)
        j += 2
    return j


@_kernel
def _grad_output_tiles(src, ldy, dst, ds, n):
    """A dy A^T of the first of n tiles of a tile row (float32, arguments as
    ``_ir_grad_output_tiles``'s), as ``_input_tiles``."""
    j = 0
    while j + 16 <= n:
        _gout_16(src + 8 * j, ldy, dst + 4 * j, ds)
        j += 16
    if j + 8 <= n:
        _gout_8(src + 8 * j, ldy, dst + 4 * j, ds)
        j += 8
    if j + 4 <= n:
        _gout_4(src + 8 * j, ldy, dst + 4 * j, ds)
        j += 4
    if j + 2 <= n:
        _gout_2(src + 8 * j, ldy, dst + 4 * j, ds)
        j += 2
    return j


@_kernel
def wino_weight(w, u, O, C, half):
    """u (O, 16, C) flat = G w[o, c] G^T for w (O, C, 3, 3) contiguous flat:
    entry e = 4a + b of the 4x4 transformed kernel at u[o, e, c] (so the
    GEMM of entry e reads u[:, e] with leading dimension 16*C, and the 16
    stores of a kernel land near each other).  ``half``: 0.5 in w's dtype."""
    uC = np.uint64(C)
    for o in range(O):
        for c in range(C):
            g = np.uint64((o * C + c) * 9)
            d = np.uint64(o * 16 * C + c)
            # G g (4x3): rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2 of each column
            for a in range(_U0, np.uint64(4)):
                if a == 0:
                    g0, g1, g2 = w[g], w[g + 1], w[g + 2]
                elif a == 3:
                    g0, g1, g2 = w[g + 6], w[g + 7], w[g + 8]
                else:
                    sg = half if a == 1 else -half
                    g0 = (w[g] + w[g + 6]) * half + w[g + 3] * sg
                    g1 = (w[g + 1] + w[g + 7]) * half + w[g + 4] * sg
                    g2 = (w[g + 2] + w[g + 8]) * half + w[g + 5] * sg
                # (G g) G^T: the same combinations along the row
                e = d + 4 * a * uC
                u[e] = g0
                u[e + uC] = (g0 + g1 + g2) * half
                u[e + 2 * uC] = (g0 - g1 + g2) * half
                u[e + 3 * uC] = g2


# The transformed input of a chunk lies as v (C, 16, T) and the products as
# m (O, 16, T): a tile's 16 entries sit T apart, within a few KiB, where
# (16, C, T) put them C*T apart (on 64 channels of 64 tiles a multiple of
# 4 KiB: every store of a tile fell on the same cache set).  The GEMM of
# entry e reads v[:, e] with leading dimension 16*T.


@_kernel
def _wino_input(xp, v, C, Hp, Wp, th, tw, r0, r1):
    """v (C, 16, T) flat, T = (r1 - r0) * tw = B^T d B of every tile of tile
    rows r0:r1 of the zero-padded input xp (N, C, Hp, Wp) flat, Hp = 2*th + 2,
    Wp = 2*tw + 2 (every tile's patch inside it: the vector code reads each
    tile row's patches straight from its four padded rows).  (Indices are
    unsigned: a signed one costs a wraparound check per access.)"""
    isz = xp.itemsize
    T = (r1 - r0) * tw
    uT = np.uint64(T)
    uWp = np.uint64(Wp)
    utw = np.uint64(tw)
    for c in range(C):
        for r in range(r0, r1):
            n = r // th
            i = r - n * th
            src = np.uint64(((n * C + c) * Hp + 2 * i) * Wp)
            dst = np.uint64(c * 16 * T + (r - r0) * tw)
            j0 = 0
            if isz == 4:        # (float32: vectors of tiles, all but an odd last one)
                j0 = _input_tiles(xp.ctypes.data + 4 * src, Wp, v.ctypes.data + 4 * dst, T, tw)
            for j in range(np.uint64(j0), utw):
                q = src + 2 * j
                # B^T d: the rows combined (0: d0 - d2, 1: d1 + d2, 2: d2 - d1, 3: d1 - d3)
                x00, x01, x02, x03 = xp[q], xp[q + 1], xp[q + 2], xp[q + 3]
                q += uWp
                x10, x11, x12, x13 = xp[q], xp[q + 1], xp[q + 2], xp[q + 3]
                q += uWp
                x20, x21, x22, x23 = xp[q], xp[q + 1], xp[q + 2], xp[q + 3]
                q += uWp
                x30, x31, x32, x33 = xp[q], xp[q + 1], xp[q + 2], xp[q + 3]
                s00, s01, s02, s03 = x00 - x20, x01 - x21, x02 - x22, x03 - x23
                s10, s11, s12, s13 = x10 + x20, x11 + x21, x12 + x22, x13 + x23
                s20, s21, s22, s23 = x20 - x10, x21 - x11, x22 - x12, x23 - x13
                s30, s31, s32, s33 = x10 - x30, x11 - x31, x12 - x32, x13 - x33
                # (B^T d) B: the columns combined alike; entry 4k + l at dst + (4k + l) * T
                d = dst + j
                v[d] = s00 - s02
                v[d + uT] = s01 + s02
                v[d + 2 * uT] = s02 - s01
                v[d + 3 * uT] = s01 - s03
                v[d + 4 * uT] = s10 - s12
                v[d + 5 * uT] = s11 + s12
                v[d + 6 * uT] = s12 - s11
                v[d + 7 * uT] = s11 - s13
                v[d + 8 * uT] = s20 - s22
                v[d + 9 * uT] = s21 + s22
                v[d + 10 * uT] = s22 - s21
                v[d + 11 * uT] = s21 - s23
                v[d + 12 * uT] = s30 - s32
                v[d + 13 * uT] = s31 + s32
                v[d + 14 * uT] = s32 - s31
                v[d + 15 * uT] = s31 - s33


@_kernel
def _wino_output(m, y, bias, O, Ho, Wo, th, tw, r0, r1, zero):
    """y (N, O, Ho, Wo) flat, at tile rows r0:r1 = A^T m A (+ bias[o]) of
    every tile's m (O, 16, T) flat, T = (r1 - r0) * tw; a tile's outputs past
    Ho or Wo (odd sizes) are dropped."""
    isz = m.itemsize
    T = (r1 - r0) * tw
    uT = np.uint64(T)
    utw = np.uint64(tw)
    full = np.uint64(Wo // 2)       # tiles whose two columns are both outputs
    uWo = np.uint64(Wo)
    for o in range(O):
        bo = bias[o] if bias.size else zero
        for r in range(r0, r1):
            n = r // th
            i = r - n * th
            two = 2 * i + 1 < Ho
            p0 = np.uint64(o * 16 * T + (r - r0) * tw)
            y0 = np.uint64(((n * O + o) * Ho + 2 * i) * Wo)
            j0 = 0
            if isz == 4:        # (float32: vectors of the whole tiles)
                j0 = _output_tiles(m.ctypes.data + 4 * (o * 16 * T + (r - r0) * tw), T, bo,
                                   y.ctypes.data + 4 * ((n * O + o) * Ho + 2 * i) * Wo,
                                   1 if two else 0, Wo, Wo // 2)
            for j in range(np.uint64(j0), utw):
                p = p0 + j
                m0, m1, m2, m3 = m[p], m[p + uT], m[p + 2 * uT], m[p + 3 * uT]
                m4, m5, m6, m7 = m[p + 4 * uT], m[p + 5 * uT], m[p + 6 * uT], m[p + 7 * uT]
                m8, m9, m10, m11 = m[p + 8 * uT], m[p + 9 * uT], m[p + 10 * uT], m[p + 11 * uT]
                m12, m13 = m[p + 12 * uT], m[p + 13 * uT]
                m14, m15 = m[p + 14 * uT], m[p + 15 * uT]
                # A^T m: output row 0 from m's rows 0 + 1 + 2, row 1 from 1 - 2 - 3
                a0, a1, a2, a3 = m0 + m4 + m8, m1 + m5 + m9, m2 + m6 + m10, m3 + m7 + m11
                b0, b1, b2, b3 = m4 - m8 - m12, m5 - m9 - m13, m6 - m10 - m14, m7 - m11 - m15
                # (A^T m) A: output column 0 from columns 0 + 1 + 2, column 1 from 1 - 2 - 3
                q = y0 + 2 * j
                y[q] = a0 + a1 + a2 + bo
                if j < full:
                    y[q + 1] = a1 - a2 - a3 + bo
                if two:
                    y[q + uWo] = b0 + b1 + b2 + bo
                    if j < full:
                        y[q + uWo + 1] = b1 - b2 - b3 + bo


@_kernel
def wino_forward(xp, u, bias, y, v, m, C, Hp, Wp, O, Ho, Wo, th, tw, nr, R, k0, k1, fn, one,
                 zero):
    """y = the 3x3 stride-1 conv of the input, zero-padded as xp (N, C, Hp,
    Wp) (see ``_wino_input``), with the kernel whose transform is u (O, 16,
    C) (+ bias (O,) or empty), on chunks k0:k1 of ``nr`` tile rows each (R
    tile rows in all): per chunk, the input transform into v (C, 16, T), 16
    GEMMs m[:, e] (O, T) = u[:, e] @ v[:, e] by single-thread BLAS (``fn``),
    the output transform into y.  All flat; v, m are scratch (16*C*nr*tw,
    16*O*nr*tw elements)."""
    isz = xp.itemsize
    for k in range(k0, k1):
        r0 = k * nr
        r1 = min(R, r0 + nr)
        T = (r1 - r0) * tw
        _wino_input(xp, v, C, Hp, Wp, th, tw, r0, r1)
        for e in range(16):
            _cblas_gemm_beta(fn, _NT, _NT, O, T, C, one, u.ctypes.data + e * C * isz, 16 * C,
                             v.ctypes.data + e * T * isz, 16 * T, zero,
                             m.ctypes.data + e * T * isz, 16 * T)
        _wino_output(m, y, bias, O, Ho, Wo, th, tw, r0, r1, zero)


# The weight gradient by the same transforms (the adjoint of the forward's
# per-tile formula y = A^T (U * V) A, U = G w G^T): dU = (A dy A^T) * V summed
# over tiles -- 16 GEMMs (O, tiles) @ (tiles, C) -- and dw = G^T dU G.

@_kernel
def _wino_grad_output(g, mg, O, Ho, Wo, th, tw, r0, r1):
    """mg (O, 16, T) flat, T = (r1 - r0) * tw = A dy A^T of every tile of
    tile rows r0:r1 of the output gradient g (N, O, Ho, Wo) flat, with
    zeros for a tile's positions past Ho or Wo."""
    isz = g.itemsize
    T = (r1 - r0) * tw
    uT = np.uint64(T)
    utw = np.uint64(tw)
    full = np.uint64(Wo // 2)       # tiles whose two columns are both outputs
    uWo = np.uint64(Wo)
    for o in range(O):
        for r in range(r0, r1):
            n = r // th
            i = r - n * th
            two = 2 * i + 1 < Ho
            p0 = np.uint64(o * 16 * T + (r - r0) * tw)
            y0 = np.uint64(((n * O + o) * Ho + 2 * i) * Wo)
            j0 = 0
            if isz == 4 and two:        # (float32: vectors of the whole tiles)
                j0 = _grad_output_tiles(g.ctypes.data + 4 * ((n * O + o) * Ho + 2 * i) * Wo, Wo,
                                        mg.ctypes.data + 4 * (o * 16 * T + (r - r0) * tw), T,
                                        Wo // 2)
            for j in range(np.uint64(j0), utw):
                q = y0 + 2 * j
                # dy = [[a, b], [c, d]], zeros past the output's edge
                a = g[q]
                b = g[q + 1] if j < full else g[q] * 0
                c = g[q + uWo] if two else g[q] * 0
                d = g[q + uWo + 1] if two and j < full else g[q] * 0
                # A dy: rows a | b, a + c | b + d, a - c | b - d, -c | -d
                e0, e1, e2, e3 = a, a + c, a - c, -c
                f0, f1, f2, f3 = b, b + d, b - d, -d
                # (A dy) A^T: each row [x, y] -> [x, x + y, x - y, -y]
                p = p0 + j
                mg[p] = e0
                mg[p + uT] = e0 + f0
                mg[p + 2 * uT] = e0 - f0
                mg[p + 3 * uT] = -f0
                mg[p + 4 * uT] = e1
                mg[p + 5 * uT] = e1 + f1
                mg[p + 6 * uT] = e1 - f1
                mg[p + 7 * uT] = -f1
                mg[p + 8 * uT] = e2
                mg[p + 9 * uT] = e2 + f2
                mg[p + 10 * uT] = e2 - f2
                mg[p + 11 * uT] = -f2
                mg[p + 12 * uT] = e3
                mg[p + 13 * uT] = e3 + f3
                mg[p + 14 * uT] = e3 - f3
                mg[p + 15 * uT] = -f3


@_kernel
def wino_wgrad(xp, g, du, v, mg, C, Hp, Wp, O, Ho, Wo, th, tw, nr, R, k0, k1, fn, one):
    """du (O, 16, C) += the sum over the tiles of chunks k0:k1 (``nr`` tile
    rows each, R in all) of (A dy A^T)[o, e] * (B^T d B)[c, e]: per chunk
    the input transform into v (C, 16, T), the output gradient's into
    mg (O, 16, T), and 16 GEMMs du[:, e] += mg[:, e] @ v[:, e]^T by
    single-thread BLAS (``fn``).  All flat; xp (the padded input), v, mg
    as in ``wino_forward``."""
    isz = xp.itemsize
    for k in range(k0, k1):
        r0 = k * nr
        r1 = min(R, r0 + nr)
        T = (r1 - r0) * tw
        _wino_input(xp, v, C, Hp, Wp, th, tw, r0, r1)
        _wino_grad_output(g, mg, O, Ho, Wo, th, tw, r0, r1)
        for e in range(16):
            _cblas_gemm_beta(fn, _NT, _T, O, C, T, one, mg.ctypes.data + e * T * isz, 16 * T,
                             v.ctypes.data + e * T * isz, 16 * T, one,
                             du.ctypes.data + e * C * isz, 16 * C)


@_kernel
def wino_weight_grad(du, gw, O, C, half):
    """gw (O, C, 3, 3) flat = G^T du[o, :, c] G for du (O, 16, C) flat (the
    adjoint of ``wino_weight``).  ``half``: 0.5 in du's dtype."""
    uC = np.uint64(C)
    for o in range(O):
        for c in range(C):
            s = np.uint64(o * 16 * C + c)
            d = np.uint64((o * C + c) * 9)
            # G^T on each row's columns: [p, q, r, t] -> [p + (q + r)/2, (q - r)/2, (q + r)/2 + t]
            p, q, r, t = du[s], du[s + uC], du[s + 2 * uC], du[s + 3 * uC]
            a0, a1, a2 = p + (q + r) * half, (q - r) * half, (q + r) * half + t
            s += 4 * uC
            p, q, r, t = du[s], du[s + uC], du[s + 2 * uC], du[s + 3 * uC]
            b0, b1, b2 = p + (q + r) * half, (q - r) * half, (q + r) * half + t
            s += 4 * uC
            p, q, r, t = du[s], du[s + uC], du[s + 2 * uC], du[s + 3 * uC]
            c0, c1, c2 = p + (q + r) * half, (q - r) * half, (q + r) * half + t
            s += 4 * uC
            p, q, r, t = du[s], du[s + uC], du[s + 2 * uC], du[s + 3 * uC]
            d0, d1, d2 = p + (q + r) * half, (q - r) * half, (q + r) * half + t
            # ... then on the rows alike
            gw[d] = a0 + (b0 + c0) * half
            gw[d + 1] = a1 + (b1 + c1) * half
            gw[d + 2] = a2 + (b2 + c2) * half
            gw[d + 3] = (b0 - c0) * half
            gw[d + 4] = (b1 - c1) * half
            gw[d + 5] = (b2 - c2) * half
            gw[d + 6] = (b0 + c0) * half + d0
            gw[d + 7] = (b1 + c1) * half + d1
            gw[d + 8] = (b2 + c2) * half + d2
