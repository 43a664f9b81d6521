"""Discrete Fourier transforms (``ember.fft``) and the short-time Fourier transform.

Every transform is one of three primitives over a set of axes, computed by the
backend's FFT (``xp.fft``: NumPy's pocketfft on the CPU, which keeps float32 /
complex64 in single precision, as torch does):

* ``C2C``: complex -> complex (fft, ifft, fftn, ifftn, ...);
* ``R2C``: real -> the onesided half spectrum (rfft, rfftn, ihfft);
* ``C2R``: a onesided half spectrum -> real (irfft, irfftn, hfft).

Signals are first cut or zero-padded to the requested sizes (``n``/``s``) by
``Resize``, so each primitive's gradient is the adjoint of a plain DFT:

* C2C's adjoint is the opposite direction with the opposite scaling ("backward"
  <-> "forward"; "ortho" stays), e.g. fft's gradient is an unscaled inverse DFT;
* R2C's: the gradient zero-padded to the full spectrum, the adjoint C2C, then
  its real part (only the real input is differentiated);
* C2R's: the adjoint R2C of the gradient, with the bins that stand for a
  conjugate pair (all but the 0th and, for an even size, the last) doubled.

Gradients follow torch's convention for complex numbers (see ops/complex.py),
so they match torch's, half-spectrum weighting included.
"""
from .. import _dtype as D
from .._tensor_base import TensorBase, _wrap, _dim
from ..autograd.function import Op
from ..backends import namespace
from . import _bw

_NORMS = ("backward", "ortho", "forward")
_SWAP = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


def check_norm(norm):
    """The normalization mode (None is "backward"), or torch's RuntimeError."""
    if norm is None:
        return "backward"
    if norm not in _NORMS:
        raise RuntimeError(f'Invalid normalization mode: "{norm}"')
    return norm


# ---- the three primitives ----------------------------------------------------------------------

def _c2c_array(x, axes, forward, norm):
    f = namespace(x).fft
    return (f.fftn if forward else f.ifftn)(x, axes=axes, norm=norm)


class C2C(Op):
    """fftn / ifftn over ``axes`` (sizes as they are)."""
    _ctx_fields = ("axes", "forward", "norm")

    @staticmethod
    def forward(ctx, x, axes, forward, norm):
        ctx.axes, ctx.forward, ctx.norm = axes, forward, norm
        return _c2c_array(x, axes, forward, norm)

    @staticmethod
    def backward(ctx, g):
        return c2c(g, ctx.axes, not ctx.forward, _SWAP[ctx.norm]), None, None, None


def c2c(x, axes, forward, norm):
    """C2C on an array or (recorded) on a Tensor."""
    if _bw.is_array(x):
        return _c2c_array(x, axes, forward, norm)
    return C2C.apply(x, axes, forward, norm)


class R2C(Op):
    """rfftn over ``axes`` (the last one halved to n // 2 + 1)."""
    _ctx_fields = ("axes", "norm", "n_last")

    @staticmethod
    def forward(ctx, x, axes, norm):
        ctx.axes, ctx.norm, ctx.n_last = axes, norm, x.shape[axes[-1]]
        return namespace(x).fft.rfftn(x, axes=axes, norm=norm)

    @staticmethod
    def backward(ctx, g):
        # the adjoint: the half spectrum zero-padded to the full one, an inverse DFT
        # with the swapped scaling, the real part (the input was real)
        axes = ctx.axes
        full = resize(g, {axes[-1]: ctx.n_last})
        return _bw.real(c2c(full, axes, False, _SWAP[ctx.norm])), None, None


def r2c(x, axes, norm):
    if _bw.is_array(x):
        return namespace(x).fft.rfftn(x, axes=axes, norm=norm)
    return R2C.apply(x, axes, norm)


class C2R(Op):
    """irfftn over ``axes`` to real sizes ``sizes`` (the input's last axis holds
    sizes[-1] // 2 + 1 bins)."""
    _ctx_fields = ("axes", "sizes", "norm")

    @staticmethod
    def forward(ctx, x, axes, sizes, norm):
        ctx.axes, ctx.sizes, ctx.norm = axes, sizes, norm
        return namespace(x).fft.irfftn(x, s=sizes, axes=axes, norm=norm)

    @staticmethod
    def backward(ctx, g):
        axes, n = ctx.axes, ctx.sizes[-1]
        h = r2c(g, axes, _SWAP[ctx.norm])
        # bins 1 .. (n - 1) // 2 each stand for themselves and their conjugate partner
        m = n // 2 + 1
        xp = namespace(_bw.data(h))
        w = xp.full(m, 2.0, dtype=_bw.data(g).dtype)
        w[0] = 1.0
        if n % 2 == 0:
            w[-1] = 1.0
        w = w.reshape((m,) + (1,) * (_bw.data(h).ndim - 1 - axes[-1]))
        return h * (w if _bw.is_array(h) else _wrap(w)), None, None, None


def c2r(x, axes, sizes, norm):
    if _bw.is_array(x):
        return namespace(x).fft.irfftn(x, s=sizes, axes=axes, norm=norm)
    return C2R.apply(x, axes, sizes, norm)


# ---- cutting and zero-padding signals to a length --------------------------------------------

def _resize_array(x, sizes):
    """``x`` cut or zero-padded at the end of each axis in ``sizes`` ({axis: n})."""
    shape = list(x.shape)
    for a, n in sizes.items():
        shape[a] = n
    if tuple(shape) == x.shape:
        return x
    common = tuple(slice(0, min(x.shape[a], shape[a])) for a in range(x.ndim))
    out = namespace(x).zeros(tuple(shape), dtype=x.dtype)
    out[common] = x[common]
    return out


class Resize(Op):
    """Cut or zero-pad axes at their end; the gradient is resized back."""
    _ctx_fields = ("old",)

    @staticmethod
    def forward(ctx, x, sizes):
        ctx.old = {a: x.shape[a] for a in sizes}
        return _resize_array(x, sizes)

    @staticmethod
    def backward(ctx, g):
        return resize(g, ctx.old), None


def resize(x, sizes):
    if _bw.is_array(x):
        return _resize_array(x, sizes)
    if all(x.shape[a] == n for a, n in sizes.items()):
        return x
    return Resize.apply(x, sizes)


# ---- argument handling shared by the public functions ------------------------------------------

def _as_complex(x):
    """A tensor as the complex dtype torch's c2c transforms compute in."""
    k = x._data.dtype.kind
    if k == "c":
        return x
    return x.to(_float_for_fft(x).to_complex())


def _float_for_fft(x):
    """The float dtype a real input is transformed in (ints: the default dtype)."""
    d = x._data.dtype
    if d.kind in "iub":
        return D.get_default_dtype()
    if d == D.float16.np:
        raise RuntimeError("Unsupported dtype Half")
    return D.from_numpy_dtype(d) if d.kind == "f" else D.from_numpy_dtype(d).to_real()


def _check_input(x, fname):
    if not isinstance(x, TensorBase):
        raise TypeError(f"fft_{fname}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")
    if x._data.dtype == D.float16.np:
        raise RuntimeError("Unsupported dtype Half")


def _one_dim(x, n, dim):
    """(axes, sizes) of a 1-D transform: dim normalised, n defaulting to its size."""
    if x._data.ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    d = _dim(dim, x._data.ndim)
    return (d,), (x.shape[d] if n is None else _check_n(n),)


def _check_n(n):
    n = int(n)
    if n < 1:
        raise RuntimeError(f"Invalid number of data points ({n}) specified")
    return n


def _n_dims(x, s, dim, default_dims=None):
    """(axes, sizes) of an n-D transform as torch reads s and dim: s alone covers the last
    len(s) dims; dim alone its dims at their sizes; neither, every dim (or
    ``default_dims``: fft2's last two).  -1 in s keeps that dim's size."""
    nd = x._data.ndim
    if dim is None and s is None and default_dims is not None:
        dim = default_dims
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if s is not None and len(s) != len(dims):
            raise RuntimeError("When given, dim and shape arguments must have the same length")
        if nd == 0 and dims:
            raise IndexError(f"Dimension specified as {dims[0]} but tensor has no dimensions")
        dims = tuple(_dim(d, nd) for d in dims)
    elif s is not None:
        if len(s) > nd:
            raise RuntimeError(f"Got shape with {len(s)} values but input tensor only has {nd} "
                               "dimensions.")
        dims = tuple(range(nd - len(s), nd))
    else:
        dims = tuple(range(nd))
    if len(set(dims)) != len(dims):
        raise RuntimeError("FFT dims must be unique")
    if s is None:
        sizes = tuple(x.shape[d] for d in dims)
    else:
        sizes = tuple(x.shape[d] if int(n) == -1 else _check_n(n) for d, n in zip(dims, s))
    return dims, sizes


# ---- the transforms (ember.fft's functions call these) ------------------------------------------

def fft_c2c(x, dims, sizes, forward, norm):
    """fft/ifft/fftn/ifftn: ``x`` resized to ``sizes`` on ``dims``, transformed."""
    norm = check_norm(norm)
    x = _as_complex(x)
    if not dims:
        return x.clone() if x._data.ndim else x * 1
    x = resize(x, dict(zip(dims, sizes)))
    return C2C.apply(x, dims, forward, norm)


def fft_r2c(x, dims, sizes, norm, fname, onesided_conj=False):
    """rfft/rfftn (and ihfft with ``onesided_conj``: the conjugate of the scaled-as-inverse
    half spectrum)."""
    norm = check_norm(norm)
    if x._data.dtype.kind == "c":
        raise RuntimeError(f"{fname} expects a real input tensor, but got "
                           f"{D.scalar_name_of(x._data.dtype)}")
    if x._data.dtype.kind != "f":
        x = x.to(_float_for_fft(x))
    x = resize(x, dict(zip(dims, sizes)))
    if onesided_conj:
        return R2C.apply(x, dims, _SWAP[norm]).conj()
    return R2C.apply(x, dims, norm)


def fft_c2r(x, dims, sizes, norm, conj_input=False):
    """irfft/irfftn (and hfft with ``conj_input``): the half spectrum on ``dims`` (the last
    cut or zero-padded to sizes[-1] // 2 + 1 bins) to a real signal of ``sizes``."""
    norm = check_norm(norm)
    x = _as_complex(x)
    if conj_input:
        x = x.conj()
        norm = _SWAP[norm]
    want = dict(zip(dims, sizes))
    want[dims[-1]] = sizes[-1] // 2 + 1
    x = resize(x, want)
    return C2R.apply(x, dims, tuple(sizes), norm)


def c2r_last_size(x, dims, n):
    """The output length of a C2R transform: ``n`` or 2 * (bins - 1), checked."""
    if n is None or n == -1:
        n = 2 * (x.shape[dims[-1]] - 1)
    return _check_n(n)


# ---- frequencies and shifts --------------------------------------------------------------------

def fftfreq(n, d=1.0, *, dtype=None, device=None, requires_grad=False):
    """The sample frequencies of an n-point DFT: [0, 1, ..., -(n // 2), ..., -1] / (d n)."""
    from .._creation import arange
    dt = D.to_dtype(dtype, "fft_fftfreq") or D.get_default_dtype()
    k = arange(n, dtype=D.int64, device=device)
    k = k - (k >= (n + 1) // 2).to(D.int64) * n
    r = k.to(dt) * (1.0 / (n * d))
    return r.requires_grad_(requires_grad) if requires_grad else r


def rfftfreq(n, d=1.0, *, dtype=None, device=None, requires_grad=False):
    """The sample frequencies of rfft's bins: [0, 1, ..., n // 2] / (d n)."""
    from .._creation import arange
    dt = D.to_dtype(dtype, "fft_rfftfreq") or D.get_default_dtype()
    r = arange(n // 2 + 1, dtype=D.int64, device=device).to(dt) * (1.0 / (n * d))
    return r.requires_grad_(requires_grad) if requires_grad else r


def fftshift(input, dim=None):
    """The zero frequency moved to the middle: roll by n // 2 along ``dim`` (all dims)."""
    return _shift(input, dim, 1)


def ifftshift(input, dim=None):
    """fftshift's inverse: roll by -(n // 2)."""
    return _shift(input, dim, -1)


def _shift(x, dim, sign):
    from .shape import roll
    nd = x._data.ndim
    dims = tuple(range(nd)) if dim is None else ((dim,) if isinstance(dim, int) else tuple(dim))
    dims = tuple(_dim(d, nd) for d in dims)
    if not dims:
        return x
    shifts = tuple(sign * (x.shape[d] // 2) for d in dims)
    return roll(x, shifts, dims)

