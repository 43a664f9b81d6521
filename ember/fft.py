"""ember.fft: torch.fft's discrete Fourier transforms, differentiable.

``norm`` is torch's: "backward" (default: the inverse transforms scale by 1/n),
"ortho" (both by 1/sqrt(n)) or "forward" (the forward transforms scale by 1/n).
``n``/``s`` cut or zero-pad the signal along each transformed dim first.
Result dtypes are torch's: float32 and complex64 compute in single precision
(rfft of float32 is complex64), integers as the default float dtype.
The transforms and their gradients are in ``ember/ops/spectral.py``.
"""
from .ops import spectral as _S
from .ops.spectral import fftfreq, rfftfreq, fftshift, ifftshift

__all__ = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2",
           "hfft2", "ihfft2", "fftn", "ifftn", "rfftn", "irfftn", "hfftn", "ihfftn", "fftfreq",
           "rfftfreq", "fftshift", "ifftshift"]


def fft(input, n=None, dim=-1, norm=None, *, out=None):
    """The 1-D DFT along ``dim`` (complex output)."""
    _S._check_input(input, "fft")
    return _out(_S.fft_c2c(input, *_S._one_dim(input, n, dim), True, norm), out)


def ifft(input, n=None, dim=-1, norm=None, *, out=None):
    """The 1-D inverse DFT along ``dim``."""
    _S._check_input(input, "ifft")
    return _out(_S.fft_c2c(input, *_S._one_dim(input, n, dim), False, norm), out)


def rfft(input, n=None, dim=-1, norm=None, *, out=None):
    """The DFT of a real signal: the n // 2 + 1 non-negative frequency bins."""
    _S._check_input(input, "rfft")
    return _out(_S.fft_r2c(input, *_S._one_dim(input, n, dim), norm, "rfft"), out)


def irfft(input, n=None, dim=-1, norm=None, *, out=None):
    """rfft's inverse: a real signal of length ``n`` (default 2 * (bins - 1))."""
    _S._check_input(input, "irfft")
    dims, _ = _S._one_dim(input, None, dim)
    size = _S.c2r_last_size(input, dims, n)
    return _out(_S.fft_c2r(input, dims, (size,), norm), out)


def hfft(input, n=None, dim=-1, norm=None, *, out=None):
    """The DFT of a Hermitian-symmetric signal given by its first half: real output of
    length ``n`` (default 2 * (len - 1))."""
    _S._check_input(input, "hfft")
    dims, _ = _S._one_dim(input, None, dim)
    size = _S.c2r_last_size(input, dims, n)
    return _out(_S.fft_c2r(input, dims, (size,), norm, conj_input=True), out)


def ihfft(input, n=None, dim=-1, norm=None, *, out=None):
    """hfft's inverse, for a real signal: its n // 2 + 1 first inverse-DFT bins."""
    _S._check_input(input, "ihfft")
    return _out(_S.fft_r2c(input, *_S._one_dim(input, n, dim), norm, "ihfft",
                           onesided_conj=True), out)


def fftn(input, s=None, dim=None, norm=None, *, out=None):
    """The n-D DFT over ``dim`` (default: all dims, or the last len(s))."""
    _S._check_input(input, "fftn")
    return _out(_S.fft_c2c(input, *_S._n_dims(input, s, dim), True, norm), out)


def ifftn(input, s=None, dim=None, norm=None, *, out=None):
    """The n-D inverse DFT."""
    _S._check_input(input, "ifftn")
    return _out(_S.fft_c2c(input, *_S._n_dims(input, s, dim), False, norm), out)


def rfftn(input, s=None, dim=None, norm=None, *, out=None):
    """The n-D DFT of a real signal, halved along the last transformed dim."""
    _S._check_input(input, "rfftn")
    return _out(_S.fft_r2c(input, *_S._n_dims(input, s, dim), norm, "rfftn"), out)


def irfftn(input, s=None, dim=None, norm=None, *, out=None):
    """rfftn's inverse: the last transformed dim's length defaults to 2 * (bins - 1)."""
    _S._check_input(input, "irfftn")
    dims, sizes = _S._n_dims(input, s, dim)
    if not dims:
        raise RuntimeError("irfftn must transform at least one axis")
    last = _S.c2r_last_size(input, dims, None if s is None else s[-1])
    return _out(_S.fft_c2r(input, dims, sizes[:-1] + (last,), norm), out)


def fft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    """The 2-D DFT over the last two dims (or ``dim``)."""
    _S._check_input(input, "fft2")
    return _out(_S.fft_c2c(input, *_S._n_dims(input, s, dim), True, norm), out)


def ifft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    _S._check_input(input, "ifft2")
    return _out(_S.fft_c2c(input, *_S._n_dims(input, s, dim), False, norm), out)


def rfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    _S._check_input(input, "rfft2")
    return _out(_S.fft_r2c(input, *_S._n_dims(input, s, dim), norm, "rfftn"), out)


def irfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    _S._check_input(input, "irfft2")
    return irfftn(input, s, dim, norm, out=out)


def hfftn(input, s=None, dim=None, norm=None, *, out=None):
    """The n-D DFT of a Hermitian-symmetric signal given by its half along the last
    transformed dim: real output, that dim 2 * (len - 1) long by default."""
    _S._check_input(input, "hfftn")
    dims, sizes = _S._n_dims(input, s, dim)
    if not dims:
        raise RuntimeError("hfftn must transform at least one axis")
    last = _S.c2r_last_size(input, dims, None if s is None else s[-1])
    return _out(_S.fft_c2r(input, dims, sizes[:-1] + (last,), norm, conj_input=True), out)


def ihfftn(input, s=None, dim=None, norm=None, *, out=None):
    """hfftn's inverse, for a real signal: the half spectrum of its inverse DFT."""
    _S._check_input(input, "ihfftn")
    return _out(_S.fft_r2c(input, *_S._n_dims(input, s, dim), norm, "ihfftn",
                           onesided_conj=True), out)


def hfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    _S._check_input(input, "hfft2")
    return hfftn(input, s, dim, norm, out=out)


def ihfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    _S._check_input(input, "ihfft2")
    return ihfftn(input, s, dim, norm, out=out)


def _out(r, out):
    if out is None:
        return r
    from .ops.elementwise import _out as o
    return o(r, out)
