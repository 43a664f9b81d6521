"""Gamma-family and Bessel special functions, and the gamma/binomial samplers.

lgamma, digamma, polygamma, mvlgamma, igamma/igammac (torch.special's
gammainc/gammaincc), i0 (and torch.special's i0e, i1, i1e, here by those
names) and ``_standard_gamma`` are what the log-densities,
entropies, KL divergences and reparameterised samples of
``ember.distributions`` are made of.  Values come from SciPy through the
kernel table (``ember/backends/generic/special.py``); each op's backward is
written with operators and the helpers below, so it records under
``create_graph=True`` as every other op's does.

dtype rules (torch's): integer/bool input gives the default float dtype.
"""
import math as _m
import operator

from .. import _dtype as D
from .._tensor_base import TensorBase, _wrap
from ..autograd.function import Op, once_differentiable
from ..backends import kernels
from . import _bw
from ._util import promote, cast
from .elementwise import _out, _binary
from .math import _float_unary, _as_float, _not_tensor
from .._bfloat16 import is_float as _isf


def _digamma(x):
    """digamma of an array (plain backward) or a Tensor (recorded backward)."""
    return kernels(x).digamma(x) if _bw.is_array(x) else Digamma.apply(x)


def _polygamma(n, x):
    return kernels(x).polygamma(n, x) if _bw.is_array(x) else Polygamma.apply(n, x)


def _lgamma(x):
    return kernels(x).lgamma(x) if _bw.is_array(x) else Lgamma.apply(x)


class Lgamma(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return kernels(x).lgamma(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * _digamma(x)


class Digamma(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return kernels(x).digamma(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * _polygamma(1, x)


class Polygamma(Op):
    _ctx_fields = ("n",)

    @staticmethod
    def forward(ctx, n, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
            ctx.n = n
        return kernels(x).polygamma(n, x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return None, g * _polygamma(ctx.n + 1, x)


lgamma = _float_unary(Lgamma, "lgamma", "log|Gamma(input)| (+inf at 0 and the negative integers).")
digamma = _float_unary(Digamma, "digamma",
                       "The logarithmic derivative of Gamma (-inf at +0, nan at negative integers).")


def polygamma(n, input, *, out=None):
    """The n-th derivative of digamma (n = 0 is digamma itself); n a non-negative int."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"polygamma(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    if not isinstance(input, TensorBase):
        raise _not_tensor("polygamma", input, "input", 2)
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    input = _as_float(input, "polygamma")
    r = Digamma.apply(input) if n == 0 else Polygamma.apply(n, input)
    return _out(r, out)


def mvlgamma(input, p, *, out=None):
    """The multivariate log-gamma of dimension p: sum_j lgamma(x - j/2) + const.

    Every element must be > (p - 1) / 2, as torch requires."""
    if not isinstance(input, TensorBase):
        raise _not_tensor("mvlgamma", input)
    p = operator.index(p)
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    x = _as_float(input, "mvlgamma")
    if not bool((x._data > (p - 1) / 2).all()):
        raise RuntimeError(f"All elements must be greater than (p-1)/2")
    const = p * (p - 1) / 4 * _m.log(_m.pi)
    total = None
    for j in range(p):
        term = lgamma(x - j / 2)
        total = term if total is None else total + term
    return _out(total + const, out)


# ---- modified Bessel functions I0, I1 (and exp(-|x|)-scaled forms) -----------------------
# d I0 = I1;  d I1 = I0 - I1 / x (1/2 at 0);  the scaled forms add -sign(x) times themselves.

def _bessel(x, order, scaled):
    if _bw.is_array(x):
        return kernels(x).bessel_i(x, order, scaled)
    return BesselI.apply(x, order, scaled)


class BesselI(Op):
    _ctx_fields = ("order", "scaled")

    @staticmethod
    def forward(ctx, x, order, scaled):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
            ctx.order, ctx.scaled = order, scaled
        return kernels(x).bessel_i(x, order, scaled)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        order, scaled = ctx.order, ctx.scaled
        if order == 0:
            d = _bessel(x, 1, scaled)
            if scaled:
                d = d - _bw.mask(_bw.sign(_bw.data(x)), x) * _bessel(x, 0, scaled)
        else:
            xd = _bw.data(x)
            at_zero = ~(abs(xd) > 0)                  # (nan too: torch gives 1/2 there)
            safe_x = _bw.where(at_zero, 1.0, x)       # (I1(x) / x -> 1/2 at 0)
            d = _bessel(x, 0, scaled) - _bessel(x, 1, scaled) / safe_x
            if scaled:
                d = d - _bw.mask(_bw.sign(xd), x) * _bessel(x, 1, scaled)
            d = _bw.where(at_zero, 0.5, d)
        return g * d, None, None


def _bessel_fn(name, order, scaled, doc):
    def fn(input, *, out=None):
        x = _as_float(input, name)
        return _out(BesselI.apply(x, order, scaled), out)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc + " Any shape; integer input gives the default float dtype."
    return fn


i0 = _bessel_fn("i0", 0, False, "The modified Bessel function of the first kind, order 0.")
i0e = _bessel_fn("i0e", 0, True, "exp(-|input|) * I0(input), finite for large input.")
i1 = _bessel_fn("i1", 1, False, "The modified Bessel function of the first kind, order 1.")
i1e = _bessel_fn("i1e", 1, True, "exp(-|input|) * I1(input), finite for large input.")


# ---- incomplete gamma ---------------------------------------------------------------------

class Igamma(Op):
    """P(a, x) (upper=False) or Q(a, x) = 1 - P (upper=True); d/dx only, as torch."""
    _ctx_fields = ("upper",)

    @staticmethod
    def forward(ctx, a, x, upper):
        if ctx.needs_input_grad:
            ctx.save_for_backward(a, x)
            ctx.upper = upper
        k = kernels(a)
        return k.gammaincc(a, x) if upper else k.gammainc(a, x)

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        name = "igammac" if ctx.upper else "igamma"
        if ctx.needs_input_grad[0]:
            raise NotImplementedError(f"the derivative for '{name}: input' is not implemented.")
        # d/dx P(a, x) is the Gamma(a, 1) density x^(a-1) e^-x / Gamma(a)
        dens = _bw.exp((a - 1) * _bw.log(x) - x - _lgamma(a))
        return None, (-g * dens if ctx.upper else g * dens), None


def _igamma(input, other, out, upper, fname):
    if not isinstance(input, TensorBase):
        raise _not_tensor(fname, input)
    if not isinstance(other, TensorBase):
        raise _not_tensor(fname, other, "other", 2)
    a, x = promote(input, other)
    if not _isf(a._data.dtype):
        dt = D.get_default_dtype()
        a, x = cast(a, dt), cast(x, dt)
    try:
        r = Igamma.apply(a, x, upper)
    except ValueError:
        from ._util import check_broadcast
        check_broadcast(a.shape, x.shape)
        raise
    return _out(r, out)


def igamma(input, other, *, out=None):
    """The regularised lower incomplete gamma function P(input, other) (torch.special.gammainc)."""
    return _igamma(input, other, out, False, "igamma")


def igammac(input, other, *, out=None):
    """The regularised upper incomplete gamma function Q(input, other) = 1 - P."""
    return _igamma(input, other, out, True, "igammac")


# ---- samplers -----------------------------------------------------------------------------

class StandardGamma(Op):
    """Carries a Gamma(alpha, 1) sample drawn outside; backward is the implicit
    reparameterisation gradient dx/dalpha (see the kernel's docstring)."""

    @staticmethod
    def forward(ctx, alpha, sample):
        if ctx.needs_input_grad:
            ctx.save_for_backward(alpha, sample)
        return sample

    @staticmethod
    @once_differentiable          # (d2 x / d alpha2 has no formula here, nor in torch)
    def backward(ctx, g):
        alpha, sample = ctx.saved_tensors
        return g * kernels(sample).standard_gamma_grad(sample, alpha), None


def _standard_gamma(input, generator=None):
    """Samples of Gamma(concentration=input, rate=1), differentiable in ``input``
    by implicit reparameterisation (d sample / d alpha = -dF/dalpha / pdf)."""
    from ..random import _rng, _host
    if not isinstance(input, TensorBase):
        raise _not_tensor("_standard_gamma", input)
    alpha = _host(input)
    if not _isf(alpha.dtype):
        raise NotImplementedError(f"\"gamma_cpu\" not implemented for '{input.dtype}'")
    draw = _rng(generator).standard_gamma(alpha).astype(alpha.dtype)
    # SciPy/NumPy return exactly 0 for alpha = 0 and nan for nan; torch too
    sample = _wrap(_to_device(draw, input))
    return StandardGamma.apply(input, sample)


def _to_device(host_array, like):
    from .._tensor_base import _backend_for
    return _backend_for(like.device).from_host(host_array) if like.device.type != "cpu" else host_array


def binomial(count, prob, generator=None):
    """Samples of Binomial(count, prob), elementwise over the broadcast of both; prob's dtype."""
    from ..random import _rng, _host
    if not isinstance(count, TensorBase):
        raise _not_tensor("binomial", count, "count", 1)
    if not isinstance(prob, TensorBase):
        raise _not_tensor("binomial", prob, "prob", 2)
    n, p = _host(count), _host(prob)
    if not _isf(p.dtype):
        raise NotImplementedError(f"\"binomial_cpu\" not implemented for '{prob.dtype}'")
    if (p < 0).any() or (p > 1).any() or (n < 0).any():
        raise RuntimeError("binomial: expected count >= 0 and 0 <= prob <= 1")
    draw = _rng(generator).binomial(n.astype("int64"), p).astype(p.dtype)
    return _wrap(_to_device(draw, prob))


# (i0e, i1, i1e are torch.special's only: reachable here, not as ember.<name>)
__all__ = ["lgamma", "digamma", "polygamma", "mvlgamma", "igamma", "igammac", "_standard_gamma",
           "binomial", "i0"]
