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

# (ember.stft, ember.istft and the window functions; the transforms are ember.fft's)
__all__ = ["stft", "istft", "hann_window", "hamming_window", "blackman_window",
           "bartlett_window"]

_NORMS = ("backward", "ortho", "forward")
_PI = 3.141592653589793
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
        if ctx.needs_input_grad:
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
        if ctx.needs_input_grad:
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
        if ctx.needs_input_grad:
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
        if ctx.needs_input_grad:
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
    if not dims:                                    # (fftn over no dims: a copy)
        return x.clone()
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



# ---- the short-time Fourier transform --------------------------------------------------------

_NO_WINDOW = ("A window was not provided. A rectangular window will be applied,which is known "
              "to cause spectral leakage. Other windows such as torch.hann_window or "
              "torch.hamming_window are recommended to reduce spectral leakage.To suppress this "
              "warning and use a rectangular window, explicitly set "
              "`window=torch.ones(n_fft, device=<device>)`.")


def _window(window, win_length, n_fft, like, fname):
    """The analysis window zero-padded (centred) to n_fft: ones when None, as torch."""
    from .._creation import ones
    from .shape import cat
    if window is None:
        import warnings
        warnings.warn(_NO_WINDOW if fname == "stft" else _NO_WINDOW_ISTFT, UserWarning,
                      stacklevel=3)
        window = ones(win_length, dtype=like.dtype.to_real(), device=like.device)
    elif window._data.ndim != 1 or window.shape[0] != win_length:
        raise RuntimeError(f"{fname}: expected a 1D window tensor of size equal to "
                           f"win_length={win_length}, but got window with size "
                           f"{list(window.shape)}")
    left = (n_fft - win_length) // 2
    if left or win_length < n_fft:
        z = window.new_zeros(left)
        window = cat([z, window, window.new_zeros(n_fft - win_length - left)])
    return window


_NO_WINDOW_ISTFT = ("A window was not provided. A rectangular window will be applied.Please "
                    "provide the same window used by stft to make the inversion lossless.To "
                    "suppress this warning and use a rectangular window, explicitly set "
                    "`window=torch.ones(n_fft, device=<device>)`.")


def _pad_ends(x, p, mode):
    """``x`` padded by ``p`` samples at both ends of its last dim (torch's pad modes)."""
    from .shape import cat, flip
    n = x.shape[-1]
    if mode == "constant":
        z = x.new_zeros(x.shape[:-1] + (p,))
        return cat([z, x, z], -1)
    if mode == "reflect":
        if p >= n:
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding "
                               f"input dimension, but got: padding ({p}, {p}) at dimension "
                               f"{x._data.ndim - 1} of input {list(x.shape)}")
        return cat([flip(x[..., 1:p + 1], (-1,)), x, flip(x[..., n - 1 - p:n - 1], (-1,))], -1)
    if mode == "replicate":
        return cat([x[..., :1].expand(*x.shape[:-1], p), x,
                    x[..., n - 1:].expand(*x.shape[:-1], p)], -1)
    if mode == "circular":
        return cat([x[..., n - p:], x, x[..., :p]], -1)
    raise NotImplementedError(f"Unrecognised padding mode {mode}")


def stft(input, n_fft, hop_length=None, win_length=None, window=None, center=True,
         pad_mode="reflect", normalized=False, onesided=None, return_complex=None,
         align_to_window=None):
    """The short-time Fourier transform of a (L,) or (B, L) signal: (freq, frames) or
    (B, freq, frames) complex, frames every ``hop_length`` samples (default n_fft // 4),
    each multiplied by ``window`` (win_length, default ones) centred in n_fft samples.
    ``center`` pads n_fft // 2 samples at both ends first (``pad_mode``); ``onesided``
    (default for real input and window) keeps n_fft // 2 + 1 bins; ``normalized`` scales
    by 1 / sqrt(n_fft).  Differentiable."""
    from .misc import unfold
    if not isinstance(input, TensorBase):
        raise TypeError(f"stft(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")
    is_c = input._data.dtype.kind == "c" or (window is not None
                                               and window._data.dtype.kind == "c")
    if return_complex is None:
        if not is_c:
            raise RuntimeError("stft requires the return_complex parameter be given for real "
                               "inputs, and will further require that return_complex=True in a "
                               "future PyTorch release.")
        return_complex = True
    if not return_complex:
        import warnings
        warnings.warn("stft with return_complex=False is deprecated. In a future pytorch "
                      "release, stft will return complex tensors for all inputs, and "
                      "return_complex=False will raise an error.\nNote: you can still call "
                      "torch.view_as_real on the complex output to recover the old return "
                      "format.", UserWarning, stacklevel=2)
    if align_to_window:
        raise NotImplementedError("stft(align_to_window=True) is not supported by Ember")
    nd = input._data.ndim
    if nd not in (1, 2):
        raise RuntimeError(f"stft: expected a 1D or 2D tensor, got {nd}D")
    hop = n_fft // 4 if hop_length is None else int(hop_length)
    win = n_fft if win_length is None else int(win_length)
    if hop <= 0:
        raise RuntimeError(f"stft: expected hop_length > 0, but got hop_length={hop}")
    if win <= 0 or win > n_fft:
        raise RuntimeError(f"stft: expected 0 < win_length <= n_fft, but got "
                           f"win_length={win}")
    x = input if nd == 2 else input.unsqueeze(0)
    if x._data.dtype.kind in "iub":
        x = x.to(D.get_default_dtype())
    if center:
        x = _pad_ends(x, n_fft // 2, pad_mode)
    length = x.shape[-1]
    if n_fft <= 0 or n_fft > length:
        raise RuntimeError(f"stft: expected 0 < n_fft < {length}, but got n_fft={n_fft}")
    w = _window(window, win, n_fft, x, "stft")
    frames = unfold(x, -1, n_fft, hop) * w                    # (B, frames, n_fft)
    onesided = (not is_c) if onesided is None else onesided
    if onesided and is_c:
        raise RuntimeError("Cannot have onesided output if window or input is complex")
    norm = "ortho" if normalized else "backward"
    dims = (frames._data.ndim - 1,)
    if onesided:
        spec = fft_r2c(frames, dims, (n_fft,), norm, "rfft")
    else:
        spec = fft_c2c(frames, dims, (n_fft,), True, norm)
    spec = spec.transpose(-1, -2)                               # (B, freq, frames)
    if nd == 1:
        spec = spec.squeeze(0)
    if not return_complex:
        from .complex import view_as_real
        return view_as_real(spec)
    return spec


def istft(input, n_fft, hop_length=None, win_length=None, window=None, center=True,
          normalized=False, onesided=None, length=None, return_complex=False):
    """The inverse of stft: (freq, frames) or (B, freq, frames) complex back to the (L,)
    or (B, L) signal, by inverse DFTs of the frames, windowed and overlap-added, divided
    by the overlap-added squared window (which must not vanish).  Differentiable."""
    from .._creation import zeros
    from .indexing import index_add
    if not isinstance(input, TensorBase):
        raise TypeError(f"istft(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")
    if input._data.dtype.kind != "c":
        raise RuntimeError("istft requires a complex-valued input tensor matching the output "
                           "from stft with return_complex=True.")
    nd = input._data.ndim
    if nd not in (2, 3):
        raise RuntimeError(f"istft: expected a tensor with 2 or 3 dimensions of complex "
                           f"dtype, got {nd}D")
    hop = n_fft // 4 if hop_length is None else int(hop_length)
    win = n_fft if win_length is None else int(win_length)
    if hop <= 0 or hop > win:
        raise RuntimeError("istft: expected 0 < hop_length <= win_length")
    if win <= 0 or win > n_fft:
        raise RuntimeError("istft: expected 0 < win_length <= n_fft")
    spec = input if nd == 3 else input.unsqueeze(0)
    n_freq, n_frames = spec.shape[-2], spec.shape[-1]
    if onesided is None:
        onesided = n_freq != n_fft
    if onesided:
        if n_freq != n_fft // 2 + 1:
            raise RuntimeError(f"istft: expected the frequency dimension (3rd to the last) of "
                               f"the input tensor to match n_fft / 2 + 1 when onesided=True, "
                               f"but got {n_freq}")
        if return_complex:
            raise RuntimeError("cannot have onesided output if window or input is complex")
    elif n_freq != n_fft:
        raise RuntimeError(f"istft: expected the frequency dimension (3rd to the last) of the "
                           f"input tensor to match n_fft when onesided=False, but got {n_freq}")
    frames = spec.transpose(-1, -2)                                # (B, frames, freq)
    norm = "ortho" if normalized else "backward"
    dims = (2,)
    if onesided:
        frames = fft_c2r(frames, dims, (n_fft,), norm)
    else:
        frames = fft_c2c(frames, dims, (n_fft,), False, norm)
        if not return_complex:
            frames = frames.real
    w = _window(window, win, n_fft, frames, "istft")
    frames = frames * w
    total = n_fft + hop * (n_frames - 1)
    xp = namespace(frames._data)
    idx = _wrap((xp.arange(n_frames)[:, None] * hop + xp.arange(n_fft)[None, :])
                .reshape(-1).astype(D.int64.np))
    b = frames.shape[0]
    y = index_add(zeros((b, total), dtype=frames.dtype, device=frames.device), 1, idx,
                  frames.reshape(b, -1))
    # the window's own overlap-add: what each output sample was multiplied by (a
    # function of the window too, so its gradient flows through here as well)
    w2 = (w * w.conj()).real if w.is_complex() else w * w
    env = index_add(zeros(total, dtype=w2.dtype, device=w2.device), 0, idx,
                    w2.expand(n_frames, n_fft).reshape(-1))
    start = n_fft // 2 if center else 0
    end = total - (n_fft // 2 if center else 0)
    if length is not None:
        end = start + int(length)
    end_kept = min(end, total)
    y = y[:, start:end_kept]
    env = env[start:end_kept]
    if bool((env.abs() < 1e-11).any()):
        raise RuntimeError("istft: window overlap add min: "
                           f"{float(env.abs().min())}, the window's overlap-add must not vanish "
                           "(choose a window and hop_length that satisfy NOLA)")
    y = y / env
    if end > total:                              # (a longer ``length``: zeros after the end)
        y = _pad_right(y, end - total)
    return y.squeeze(0) if nd == 2 else y


def _pad_right(y, k):
    from .shape import cat
    return cat([y, y.new_zeros(y.shape[:-1] + (k,))], -1)


# ---- window functions ------------------------------------------------------------------------

def _cosine_window(fname, coeffs, window_length, periodic, dtype, device, requires_grad):
    """sum_k (-1)^k a_k cos(2 pi k i / N), N = window_length (periodic) or window_length - 1
    (symmetric): Hann, Hamming and Blackman windows, as torch's."""
    from .._creation import arange, ones
    dt = D.to_dtype(dtype, fname) or D.get_default_dtype()
    if dt.category != D._FLOAT:
        raise RuntimeError(f"{fname} expects floating point dtypes, got: {dt}")
    if window_length < 0:
        raise RuntimeError(f"{fname} requires non-negative window length, got "
                           f"window_length={window_length}")
    if window_length <= 1:
        w = ones(window_length, dtype=dt, device=device)
        return w.requires_grad_(requires_grad) if requires_grad else w
    n = window_length if periodic else window_length - 1
    phase = arange(window_length, dtype=D.float64, device=device) * (2 * _PI / n)
    w = ones(window_length, dtype=D.float64, device=device) * coeffs[0]
    for k in range(1, len(coeffs)):          # (computed in float64, then cast, as torch)
        w = w + ((-1) ** k * coeffs[k]) * (phase * k).cos()
    w = w.to(dt)
    return w.requires_grad_(requires_grad) if requires_grad else w


def hann_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                pin_memory=False, requires_grad=False):
    """0.5 - 0.5 cos(2 pi i / N)."""
    return _cosine_window("hann_window", (0.5, 0.5), window_length, periodic, dtype, device,
                          requires_grad)


def hamming_window(window_length, periodic=True, alpha=0.54, beta=0.46, *, dtype=None,
                   layout=None, device=None, pin_memory=False, requires_grad=False):
    """alpha - beta cos(2 pi i / N)."""
    return _cosine_window("hamming_window", (alpha, beta), window_length, periodic, dtype,
                          device, requires_grad)


def blackman_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                    pin_memory=False, requires_grad=False):
    """0.42 - 0.5 cos(2 pi i / N) + 0.08 cos(4 pi i / N)."""
    return _cosine_window("blackman_window", (0.42, 0.5, 0.08), window_length, periodic, dtype,
                          device, requires_grad)


def bartlett_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                    pin_memory=False, requires_grad=False):
    """The triangle 1 - |2 i / N - 1|."""
    from .._creation import arange, ones
    dt = D.to_dtype(dtype, "bartlett_window") or D.get_default_dtype()
    if window_length <= 1:
        w = ones(max(window_length, 0), dtype=dt, device=device)
    else:
        n = window_length if periodic else window_length - 1
        i = arange(window_length, dtype=D.float64, device=device)
        w = (1 - (i * (2.0 / n) - 1).abs()).to(dt)
    return w.requires_grad_(requires_grad) if requires_grad else w
