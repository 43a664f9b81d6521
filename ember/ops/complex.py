"""Complex numbers: the parts of a complex tensor and the ways to build one.

``real``/``imag`` and ``view_as_real``/``view_as_complex`` are views that share
memory (writing into ``z.real`` writes into ``z``), as torch's.  ``conj`` returns
a materialized conjugate: torch returns a lazy view with a conjugate bit, which
Ember does not have, so ``is_conj()`` is always False and ``resolve_conj()`` is
the identity.

Gradients follow torch's convention for a real loss L of complex z: the
gradient is dL/dRe(z) + i dL/dIm(z), so a holomorphic f's backward is
``g * conj(f'(z))`` (see ``_bw.conj``).
"""
from .. import _dtype as D
from .._tensor_base import TensorBase, _wrap
from ..autograd.function import Op
from ..backends import namespace
from . import _bw
from .elementwise import _out
from .math import _not_tensor

__all__ = ["real", "imag", "conj", "conj_physical", "resolve_conj", "resolve_neg", "is_conj",
           "is_complex", "view_as_real", "view_as_complex", "complex", "polar", "angle",
           "isreal"]


def _check(x, fname, arg="input", pos=1):
    if not isinstance(x, TensorBase):
        raise _not_tensor(fname, x, arg, pos)
    return x


def _is_c(t):
    return t._data.dtype.kind == "c"


# ---- the parts: views ----------------------------------------------------------------------

class Real(Op):
    """The real parts of a complex tensor: a view (writable)."""
    _view = True

    @staticmethod
    def forward(ctx, x):
        return x.real

    @staticmethod
    def backward(ctx, g):
        return g        # (the engine casts it to the input's complex dtype: g + 0j)


class Imag(Op):
    """The imaginary parts of a complex tensor: a view (writable)."""
    _view = True

    @staticmethod
    def forward(ctx, x):
        return x.imag

    @staticmethod
    def backward(ctx, g):
        return g * 1j   # dL/dIm(z) lands on the imaginary part of the gradient


def real(input):
    """The real parts of a complex tensor (a view); a real tensor itself."""
    _check(input, "real")
    return Real.apply(input) if _is_c(input) else input


def imag(input):
    """The imaginary parts of a complex tensor (a view); real tensors have none."""
    _check(input, "imag")
    if not _is_c(input):
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    return Imag.apply(input)


class ViewAsReal(Op):
    """(...) complex -> (..., 2) real parts, sharing memory."""
    _view = True

    @staticmethod
    def forward(ctx, x):
        # a trailing axis of one complex number, reinterpreted as its two parts
        return x[..., None].view(x.real.dtype)

    @staticmethod
    def backward(ctx, g):
        return _complex_of_pairs(g)


class ViewAsComplex(Op):
    """(..., 2) real -> (...) complex, sharing memory."""
    _view = True

    @staticmethod
    def forward(ctx, x):
        return x.view(D.from_numpy_dtype(x.dtype).to_complex().np)[..., 0]

    @staticmethod
    def backward(ctx, g):
        return _pairs_of_complex(g)


def _complex_of_pairs(g):
    """An (..., 2) real gradient as complex numbers (a contiguous copy when needed)."""
    if _bw.is_array(g):
        xp = namespace(g)
        return xp.ascontiguousarray(g).view(D.from_numpy_dtype(g.dtype).to_complex().np)[..., 0]
    return view_as_complex(g.contiguous())


def _pairs_of_complex(g):
    if _bw.is_array(g):
        return g[..., None].view(g.real.dtype)
    return view_as_real(g)


def view_as_real(input):
    """A complex tensor's memory as real pairs: shape (..., 2), sharing memory."""
    _check(input, "view_as_real")
    if not _is_c(input):
        raise RuntimeError("view_as_real is only supported for complex tensors")
    return ViewAsReal.apply(input)


def view_as_complex(input):
    """An (..., 2) float32/float64 tensor's memory as complex numbers, sharing memory."""
    _check(input, "view_as_complex")
    d = input._data
    if d.dtype.kind != "f" or d.dtype.itemsize < 4:
        raise RuntimeError("view_as_complex is only supported for float and double tensors, "
                           f"but got a tensor of scalar type: {D.scalar_name_of(d.dtype)}")
    if d.ndim == 0 or d.shape[-1] != 2:
        raise RuntimeError("Tensor must have a last dimension of size 2")
    st = input.stride()
    if st[-1] != 1:
        raise RuntimeError("Tensor must have a last dimension with stride 1")
    if any(s % 2 for s in st[:-1]):
        raise RuntimeError("Tensor must have a stride divisible by 2 for all but last dimension")
    if input.storage_offset() % 2:
        raise RuntimeError("Tensor must have a storage_offset divisible by 2")
    return ViewAsComplex.apply(input)


# ---- conjugation ---------------------------------------------------------------------------

class Conj(Op):
    _node_name = "ConjBackward0"

    @staticmethod
    def forward(ctx, x):
        return x.conj()

    @staticmethod
    def backward(ctx, g):
        return _bw.conj(g)


def conj(input):
    """The complex conjugate (a new tensor: Ember has no lazy conjugate views); a real
    tensor itself."""
    _check(input, "conj")
    return Conj.apply(input) if _is_c(input) else input


def conj_physical(input, *, out=None):
    """The complex conjugate, computed (a real tensor itself)."""
    return _out(conj(input), out) if out is not None else conj(input)


def resolve_conj(input):
    """``input`` itself: Ember's conjugates are always materialized."""
    return _check(input, "resolve_conj")


def resolve_neg(input):
    return _check(input, "resolve_neg")


def is_conj(input):
    """False: no Ember tensor carries a lazy conjugate bit."""
    _check(input, "is_conj")
    return False


def is_complex(input):
    """Whether the tensor's dtype is complex64 or complex128."""
    _check(input, "is_complex")
    return _is_c(input)


def isreal(input):
    """True where the imaginary part is 0 (everywhere for real tensors)."""
    _check(input, "isreal")
    if _is_c(input):
        return imag(input.detach()) == 0
    return input.new_ones(input.shape, dtype=D.bool)


# ---- building complex tensors ---------------------------------------------------------------

class Complex(Op):
    """real + i imag (broadcast)."""

    @staticmethod
    def forward(ctx, re, im):
        xp = namespace(re, im)
        out = xp.empty(xp.broadcast_shapes(re.shape, im.shape),
                       D.from_numpy_dtype(re.dtype).to_complex().np)
        out.real[...] = re
        out.imag[...] = im
        return out

    @staticmethod
    def backward(ctx, g):
        return _bw.real(g), _imag_part(g)


def _imag_part(g):
    return g.imag if _bw.is_array(g) else imag(g)


def _check_parts(a, b, fname, names):
    _check(a, fname, names[0], 1)
    _check(b, fname, names[1], 2)
    da, db = a._data.dtype, b._data.dtype
    if da.kind != "f" or db.kind != "f":
        raise RuntimeError(f"Expected both inputs to be Half, Float or Double tensors but got "
                           f"{D.scalar_name_of(da)} and {D.scalar_name_of(db)}")
    if da != db:
        raise RuntimeError(f"Expected object of scalar type {D.scalar_name_of(da)} but got "
                           f"scalar type {D.scalar_name_of(db)} for second argument")
    if da.itemsize < 4:
        raise TypeError("Ember has no complex32: complex() takes float32 or float64 parts")


def complex(real, imag, *, out=None):
    """A complex tensor from real and imaginary parts of one float dtype (broadcast)."""
    _check_parts(real, imag, "complex", ("real", "imag"))
    return _out(Complex.apply(real, imag), out) if out is not None else Complex.apply(real, imag)


def polar(abs, angle, *, out=None):
    """abs * (cos(angle) + i sin(angle)), differentiable in both."""
    _check_parts(abs, angle, "polar", ("abs", "angle"))
    r = complex(abs * angle.cos(), abs * angle.sin())
    return _out(r, out) if out is not None else r


# ---- the argument -----------------------------------------------------------------------------

class Angle(Op):
    """arg(z) in (-pi, pi]; gradient g * i z / |z|^2 (0 at z == 0)."""

    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).angle(x)

    @staticmethod
    def backward(ctx, g):
        z, = ctx.saved_tensors
        # angle = atan2(y, x): d/dx = -y/|z|^2, d/dy = x/|z|^2, so the gradient
        # dL/dx + i dL/dy is g * (-y + i x) / |z|^2 = g * i z / |z|^2
        a2 = _bw.real(z * _bw.conj(z))
        zero = _bw.data(a2) == 0
        r = g * (z * 1j) / _bw.where(zero, 1.0, a2)
        return _bw.where(zero, 0.0, r)


def angle(input, *, out=None):
    """The argument of each element: arg(z) for complex tensors (a real tensor of the
    parts' dtype); 0 for x >= 0 and pi for x < 0 on real ones (nan kept)."""
    _check(input, "angle")
    if not _is_c(input):
        from .misc import _real_angle
        return _real_angle(input, out)
    r = Angle.apply(input)
    return _out(r, out) if out is not None else r



# ---- real-only ops: refused for complex input, as torch ---------------------------------------
# These order or round numbers, which complex numbers have no notion of.  Their NumPy
# formulas would not refuse (NumPy orders complex numbers by real part, then imaginary
# part), so each public function is wrapped once, here, with torch's error.  The check is
# one dtype test per call.  (Wrapping happens when ember.ops loads, before ember.Tensor
# and the ember namespace take these functions.)

def _refusing_complex(fn, exc, msg):
    import functools

    @functools.wraps(fn)
    def wrapper(input, *args, **kwargs):
        if isinstance(input, TensorBase) and input._data.dtype.kind == "c":
            raise exc(msg.replace("{T}", D.scalar_name_of(input._data.dtype)))
        for a in args:
            if isinstance(a, TensorBase) and a._data.dtype.kind == "c":
                raise exc(msg.replace("{T}", D.scalar_name_of(a._data.dtype)))
        return fn(input, *args, **kwargs)
    return wrapper


_NI, _RT = NotImplementedError, RuntimeError
_REAL_ONLY = {      # module -> function -> (exception, torch's message; {T}: "ComplexFloat")
    "reduction": {
        "max": (_RT, "max(): does not support complex input"),
        "min": (_RT, "min(): does not support complex input"),
        "amax": (_NI, "\"max_values_cpu\" not implemented for '{T}'"),
        "amin": (_NI, "\"min_values_cpu\" not implemented for '{T}'"),
        "aminmax": (_RT, "aminmax(): does not support complex input"),
        "argmax": (_RT, "argmax(): does not support complex input"),
        "argmin": (_RT, "argmin(): does not support complex input"),
        "cummax": (_NI, "\"cummax_cpu\" not implemented for '{T}'"),
        "cummin": (_NI, "\"cummin_cpu\" not implemented for '{T}'"),
        "sort": (_RT, " Sort does not support complex dtypes on CPU"),
        "argsort": (_RT, " Sort does not support complex dtypes on CPU"),
        "msort": (_RT, " Sort does not support complex dtypes on CPU"),
        "topk": (_RT, " topk does not support complex dtypes on CPU"),
        "kthvalue": (_NI, "\"kthvalue_cpu\" not implemented for '{T}'"),
        "median": (_NI, "\"median_cpu\" not implemented for '{T}'"),
        "nanmedian": (_NI, "\"nanmedian_cpu\" not implemented for '{T}'"),
        "mode": (_NI, "\"mode_cpu\" not implemented for '{T}'"),
    },
    "math": {
        "floor": (_NI, "floor is not supported for complex inputs"),
        "ceil": (_NI, "ceil is not supported for complex inputs"),
        "trunc": (_NI, "trunc is not supported for complex inputs"),
        "fix": (_NI, "trunc is not supported for complex inputs"),
        "round": (_NI, "\"round_vml_cpu\" not implemented for '{T}'"),
        "frac": (_NI, "\"frac_cpu\" not implemented for '{T}'"),
        "clamp": (_NI, "clamp is not supported for complex types"),
        "clip": (_NI, "clamp is not supported for complex types"),
        "clamp_min": (_NI, "clamp is not supported for complex types"),
        "clamp_max": (_NI, "clamp is not supported for complex types"),
        "relu": (_NI, "clamp is not supported for complex types"),
        "maximum": (_RT, "maximum not implemented for complex tensors."),
        "minimum": (_RT, "minimum not implemented for complex tensors."),
        "fmax": (_RT, "fmax not implemented for complex tensors."),
        "fmin": (_RT, "fmin not implemented for complex tensors."),
        "heaviside": (_RT, "heaviside is not yet implemented for complex tensors."),
        "atan2": (_NI, "\"atan2_cpu\" not implemented for '{T}'"),
    },
    "elementwise": {
        "remainder": (_NI, "\"remainder_cpu\" not implemented for '{T}'"),
        "fmod": (_NI, "\"fmod_cpu\" not implemented for '{T}'"),
    },
}


def _wrap_real_only():
    import importlib
    for mod_name, table in _REAL_ONLY.items():
        mod = importlib.import_module(f"{__package__}.{mod_name}")
        for name, (exc, msg) in table.items():
            setattr(mod, name, _refusing_complex(getattr(mod, name), exc, msg))


_wrap_real_only()
