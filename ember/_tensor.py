"""ember.Tensor: the tensor class users see, with every method torch's Tensor has.

``TensorBase`` (_tensor_base.py) holds what a tensor *is*: its array, dtype,
device and autograd fields.  This class adds what a tensor *does*: each
method below is an op from ember.ops (or ember.random), listed by name so a
reader, or an IDE, sees the whole class in one place.  ``x.add(y)`` is
``ember.ops.elementwise.add(x, y)``: one function serves ``torch.add``,
``Tensor.add`` and ``x + y``.

The layers import downward only:

    _tensor_base -> autograd -> ops -> _tensor (this file) -> nn, optim, ...

Ops make their results as instances of this class: it registers itself with
_tensor_base when it loads (the last line of this file).
"""
import types
import warnings
import weakref

from . import _dtype as D
from . import random
from ._tensor_base import TensorBase, device, _backend_for, _index_of, _wrap, _register_tensor_class
from .autograd.engine import backward as _backward
from .autograd.function import _RemovableHandle
from .autograd.grad_mode import state as _gm
from .ops import elementwise as E, reduction as R, shape as S, linalg as L, math as M
from .ops import indexing as I, activation as A, methods
from .ops import special as SP
from .ops import special_functions as SF
from .ops import misc as X
from .ops import complex as CX
from .ops import spectral as SPEC
from .ops import sparse as SPR
from .ops.device import to_device
from .ops.elementwise import _cast
from .ops.methods import binop, iop, inplace_method
from .ops.inplace import apply_inplace as _apply_inplace
from . import _creation as C


def _device_type(dev):
    return (dev if isinstance(dev, device) else device(dev)).type


class Tensor(TensorBase):
    """A multi-dimensional array with autograd, API-compatible with torch.Tensor."""

    __slots__ = ()

    @property
    def T(self):
        if self._data.ndim > 2:
            warnings.warn("The use of `x.T` on tensors of dimension other than 2 to reverse "
                          "their shape is deprecated; use x.mT or x.permute instead.",
                          UserWarning, stacklevel=2)
        return self.permute(*range(self._data.ndim - 1, -1, -1))

    @property
    def mT(self):
        if self._data.ndim == 0:
            warnings.warn("Tensor.mT is deprecated on 0-D tensors. This function is the identity "
                          "in these cases.", UserWarning, stacklevel=2)
            return self
        if self._data.ndim < 2:
            raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. "
                               f"Got {self._data.ndim}-D tensor.")
        return self.transpose(-2, -1)

    @property
    def H(self):
        return self.T.conj()

    @property
    def mH(self):
        return self.mT.conj()

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def to(self, *args, **kwargs):
        """``to(dtype)``, ``to(device)``, ``to(other)``, ``to(device, dtype)``;
        returns self when nothing changes, as torch does."""
        dtype = kwargs.pop("dtype", None)
        dev = kwargs.pop("device", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):       # (to(other): its dtype and its device)
                dtype, dev = a.dtype, a.device
            elif isinstance(a, (str, device, int)) and not isinstance(a, bool):
                dev = a
            elif a is not None:
                dtype = a
        t = self
        if dev is not None:
            b = _backend_for(dev)
            t = to_device(t, b, None if b is None else _index_of(dev, b))
            copy = copy and t is self
        if dtype is None:
            return t.clone() if copy else t
        dt = D.to_dtype(dtype)
        if dt.np == t._data.dtype:
            return t.clone() if copy else t
        return _cast(t, dt)

    def cpu(self, memory_format=None):
        return to_device(self, None)

    def cuda(self, device=None, non_blocking=False, memory_format=None):
        """A copy on CUDA device ``device`` (a number, "cuda:N", a device; None: the
        current device), or self when already there."""
        if isinstance(device, int) and not isinstance(device, bool):
            device = f"cuda:{device}"
        elif device is None:
            device = "cuda"
        elif _device_type(device) != "cuda":
            raise RuntimeError(f"Invalid device, must be cuda device")
        b = _backend_for(device)
        return to_device(self, b, _index_of(device, b))

    def type(self, dtype=None, non_blocking=False):
        if dtype is None:
            return D.tensor_type_name(self._data.dtype)
        dtype = getattr(dtype, "_legacy_dtype", dtype)   # x.type(ember.LongTensor)
        if isinstance(dtype, str):
            name = dtype.split(".")[-1]
            if name not in _TYPE_NAMES_REV:
                raise ValueError(f"invalid type: '{dtype}'")
            dtype = _TYPE_NAMES_REV[name]
        return self.to(dtype)

    def type_as(self, other):
        # torch: self.type(other.type()), and a tensor type names its device too
        return self.to(other.device, other.dtype)

    def float(self, memory_format=None):
        return self.to(D.float32)

    def double(self, memory_format=None):
        return self.to(D.float64)

    def half(self, memory_format=None):
        return self.to(D.float16)

    def long(self, memory_format=None):
        return self.to(D.int64)

    def int(self, memory_format=None):
        return self.to(D.int32)

    def short(self, memory_format=None):
        return self.to(D.int16)

    def char(self, memory_format=None):
        return self.to(D.int8)

    def byte(self, memory_format=None):
        return self.to(D.uint8)

    def bool(self, memory_format=None):
        return self.to(D.bool)

    def bfloat16(self, memory_format=None):
        return self.to(D.bfloat16)

    def register_hook(self, hook):
        """``hook(grad) -> Tensor or None`` runs when this tensor's gradient is
        computed; a returned tensor replaces the gradient."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            return self.grad_fn._add_pre_hook(self._out_nr, hook)
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return _RemovableHandle(self._hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if self._post_acc_hooks is None:
            self._post_acc_hooks = []
        self._post_acc_hooks.append(hook)
        return _RemovableHandle(self._post_acc_hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate the gradient of this tensor into the leaves' ``.grad``."""
        _backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def retain_grad(self):
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self.retains_grad:
            return
        ref = weakref.ref(self)

        def _retain(grad):
            t = ref()
            if t is not None:
                g = grad.detach() if not _gm.enabled else grad
                if t.grad is None:
                    t.grad = _wrap(g._data.copy()) if not _gm.enabled else g
                else:
                    t.grad = t.grad + g
        _retain._ember_retain = True
        self.grad_fn._add_pre_hook(self._out_nr, _retain)

    @property
    def retains_grad(self):
        fn = self.grad_fn
        if fn is None or fn._pre_hooks is None:
            return False
        return any(nr == self._out_nr and getattr(h, "_ember_retain", False) for nr, h in fn._pre_hooks)

    # ---- Python operators ----------------------------------------------------
    # (+ - * / take the fast paths of ops/elementwise.py; the rest go through
    # binop, which answers NotImplemented for operands Ember does not take)
    __add__ = E.fast_add
    __radd__ = E.fast_add
    __sub__ = E.fast_sub
    __rsub__ = E.fast_rsub
    __mul__ = E.fast_mul
    __rmul__ = E.fast_mul
    __truediv__ = E.fast_div
    __rtruediv__ = E.fast_rdiv
    __floordiv__ = binop(E.floor_divide)
    __rfloordiv__ = binop(E.floor_divide, reflected=True)
    __mod__ = binop(E.remainder)
    __rmod__ = binop(E.remainder, reflected=True)
    __pow__ = binop(E.pow)
    __rpow__ = binop(E.pow, reflected=True)
    __matmul__ = binop(L.matmul)
    __rmatmul__ = binop(L.matmul, reflected=True)
    __eq__ = binop(E.eq)
    __ne__ = binop(E.ne)
    __lt__ = binop(E.lt)
    __le__ = binop(E.le)
    __gt__ = binop(E.gt)
    __ge__ = binop(E.ge)
    __hash__ = TensorBase.__hash__   # (a class that defines __eq__ must restate it)
    __and__ = binop(methods.and_)
    __rand__ = binop(methods.and_, reflected=True)
    __or__ = binop(methods.or_)
    __ror__ = binop(methods.or_, reflected=True)
    __xor__ = binop(methods.xor)
    __rxor__ = binop(methods.xor, reflected=True)
    __lshift__ = binop(E.bitwise_left_shift)
    __rshift__ = binop(E.bitwise_right_shift)
    __neg__ = E.neg
    __pos__ = methods.pos
    __abs__ = M.abs
    __invert__ = methods.invert
    __getitem__ = I.getitem
    __setitem__ = I.setitem
    __iadd__ = iop("add_")
    __isub__ = iop("sub_")
    __imul__ = iop("mul_")
    __itruediv__ = iop("div_")
    __ifloordiv__ = iop("floor_divide_")
    __imod__ = iop("remainder_")
    __ipow__ = iop("pow_")
    __iand__ = iop("bitwise_and_")
    __ior__ = iop("bitwise_or_")
    __ixor__ = iop("bitwise_xor_")

    # ---- arithmetic, comparison, logic (ops/elementwise.py) ------------------
    add = E.add
    sub = E.sub
    subtract = E.sub
    mul = E.mul
    multiply = E.mul
    div = E.div
    divide = E.div
    true_divide = E.div
    floor_divide = E.floor_divide
    remainder = E.remainder
    fmod = E.fmod
    neg = E.neg
    negative = E.neg
    pow = E.pow
    float_power = E._float_power
    square = E.square
    eq = E.eq
    ne = E.ne
    not_equal = E.ne
    lt = E.lt
    less = E.lt
    le = E.le
    less_equal = E.le
    gt = E.gt
    greater = E.gt
    ge = E.ge
    greater_equal = E.ge
    logical_and = E.logical_and
    logical_or = E.logical_or
    logical_xor = E.logical_xor
    logical_not = E.logical_not
    bitwise_and = E.bitwise_and
    bitwise_or = E.bitwise_or
    bitwise_xor = E.bitwise_xor
    bitwise_not = E.bitwise_not
    bitwise_left_shift = E.bitwise_left_shift
    bitwise_right_shift = E.bitwise_right_shift
    isnan = E.isnan
    isinf = E.isinf
    isfinite = E.isfinite
    isposinf = E.isposinf
    isneginf = E.isneginf
    signbit = E.signbit
    equal = E.equal
    lerp = E.lerp
    isclose = E.isclose
    allclose = E.allclose
    floor_divide_ = inplace_method(E.floor_divide)
    remainder_ = inplace_method(E.remainder)
    fmod_ = inplace_method(E.fmod)
    neg_ = inplace_method(E.neg)
    negative_ = inplace_method(E.negative)
    pow_ = inplace_method(E.pow)
    float_power_ = inplace_method(E.float_power)
    square_ = inplace_method(E.square)
    eq_ = inplace_method(E.eq)
    ne_ = inplace_method(E.ne)
    lt_ = inplace_method(E.lt)
    le_ = inplace_method(E.le)
    gt_ = inplace_method(E.gt)
    ge_ = inplace_method(E.ge)
    logical_and_ = inplace_method(E.logical_and)
    logical_or_ = inplace_method(E.logical_or)
    logical_xor_ = inplace_method(E.logical_xor)
    logical_not_ = inplace_method(E.logical_not)
    bitwise_and_ = inplace_method(E.bitwise_and)
    bitwise_or_ = inplace_method(E.bitwise_or)
    bitwise_xor_ = inplace_method(E.bitwise_xor)
    bitwise_not_ = inplace_method(E.bitwise_not)
    lerp_ = inplace_method(E.lerp)

    # ---- math functions (ops/math.py) ----------------------------------------
    abs = M.abs
    absolute = M.abs
    sign = M.sign
    sgn = M.sgn
    exp = M.exp
    exp2 = M.exp2
    expm1 = M.expm1
    log = M.log
    log2 = M.log2
    log10 = M.log10
    log1p = M.log1p
    sqrt = M.sqrt
    rsqrt = M.rsqrt
    sin = M.sin
    cos = M.cos
    tan = M.tan
    asin = M.asin
    arcsin = M.asin
    acos = M.acos
    arccos = M.acos
    atan = M.atan
    arctan = M.atan
    sinh = M.sinh
    cosh = M.cosh
    tanh = M.tanh
    asinh = M.asinh
    arcsinh = M.asinh
    acosh = M.acosh
    arccosh = M.acosh
    atanh = M.atanh
    arctanh = M.atanh
    atan2 = M.atan2
    arctan2 = M.atan2
    sigmoid = M.sigmoid
    logit = M.logit
    erf = M.erf
    erfc = M.erfc
    erfinv = M.erfinv
    reciprocal = M.reciprocal
    clamp = M.clamp
    clip = M.clamp
    clamp_min = M.clamp_min
    clamp_max = M.clamp_max
    floor = M.floor
    ceil = M.ceil
    round = M.round
    trunc = M.trunc
    fix = M.trunc
    frac = M.frac
    maximum = M.maximum
    minimum = M.minimum
    fmax = M.fmax
    fmin = M.fmin
    nan_to_num = M.nan_to_num
    hypot = M.hypot
    deg2rad = M.deg2rad
    rad2deg = M.rad2deg
    xlogy = M.xlogy
    copysign = M.copysign
    heaviside = M.heaviside
    relu = M.relu
    logaddexp = M.logaddexp
    logaddexp2 = M.logaddexp2
    addcmul = M.addcmul
    addcdiv = M.addcdiv
    sinc = SF.sinc                   # (a torch.special function that is a method too)
    abs_ = inplace_method(M.abs)
    absolute_ = inplace_method(M.absolute)
    sign_ = inplace_method(M.sign)
    sgn_ = inplace_method(M.sgn)
    exp_ = inplace_method(M.exp)
    exp2_ = inplace_method(M.exp2)
    expm1_ = inplace_method(M.expm1)
    log_ = inplace_method(M.log)
    log2_ = inplace_method(M.log2)
    log10_ = inplace_method(M.log10)
    log1p_ = inplace_method(M.log1p)
    sqrt_ = inplace_method(M.sqrt)
    rsqrt_ = inplace_method(M.rsqrt)
    sin_ = inplace_method(M.sin)
    cos_ = inplace_method(M.cos)
    tan_ = inplace_method(M.tan)
    asin_ = inplace_method(M.asin)
    arcsin_ = inplace_method(M.arcsin)
    acos_ = inplace_method(M.acos)
    arccos_ = inplace_method(M.arccos)
    atan_ = inplace_method(M.atan)
    arctan_ = inplace_method(M.arctan)
    sinh_ = inplace_method(M.sinh)
    cosh_ = inplace_method(M.cosh)
    tanh_ = inplace_method(M.tanh)
    asinh_ = inplace_method(M.asinh)
    arcsinh_ = inplace_method(M.arcsinh)
    acosh_ = inplace_method(M.acosh)
    arccosh_ = inplace_method(M.arccosh)
    atanh_ = inplace_method(M.atanh)
    arctanh_ = inplace_method(M.arctanh)
    atan2_ = inplace_method(M.atan2)
    arctan2_ = inplace_method(M.arctan2)
    sigmoid_ = inplace_method(M.sigmoid)
    logit_ = inplace_method(M.logit)
    erf_ = inplace_method(M.erf)
    erfc_ = inplace_method(M.erfc)
    erfinv_ = inplace_method(M.erfinv)
    # gamma-family special functions (ember/ops/special.py)
    lgamma = SP.lgamma
    digamma = SP.digamma
    mvlgamma = SP.mvlgamma
    igamma = SP.igamma
    igammac = SP.igammac
    lgamma_ = inplace_method(SP.lgamma)
    digamma_ = inplace_method(SP.digamma)
    igamma_ = inplace_method(SP.igamma)
    igammac_ = inplace_method(SP.igammac)
    i0 = SP.i0
    i0_ = inplace_method(SP.i0)

    def polygamma(self, n):
        return SP.polygamma(n, self)

    def polygamma_(self, n):
        return _apply_inplace(self, lambda t: SP.polygamma(n, t))

    mvlgamma_ = inplace_method(SP.mvlgamma)
    reciprocal_ = inplace_method(M.reciprocal)
    clamp_ = inplace_method(M.clamp)
    clip_ = inplace_method(M.clip)
    clamp_min_ = inplace_method(M.clamp_min)
    clamp_max_ = inplace_method(M.clamp_max)
    floor_ = inplace_method(M.floor)
    ceil_ = inplace_method(M.ceil)
    round_ = inplace_method(M.round)
    trunc_ = inplace_method(M.trunc)
    fix_ = inplace_method(M.fix)
    frac_ = inplace_method(M.frac)
    nan_to_num_ = inplace_method(M.nan_to_num)
    hypot_ = inplace_method(M.hypot)
    deg2rad_ = inplace_method(M.deg2rad)
    rad2deg_ = inplace_method(M.rad2deg)
    xlogy_ = inplace_method(M.xlogy)
    copysign_ = inplace_method(M.copysign)
    heaviside_ = inplace_method(M.heaviside)
    relu_ = inplace_method(M.relu)
    addcmul_ = inplace_method(M.addcmul)
    addcdiv_ = inplace_method(M.addcdiv)
    sinc_ = inplace_method(SF.sinc)

    # ---- reductions, scans, sorting (ops/reduction.py) -----------------------
    sum = R.sum
    mean = R.mean
    nansum = R.nansum
    nanmean = R.nanmean
    var = R.var
    std = R.std
    prod = R.prod
    max = R.max
    min = R.min
    amax = R.amax
    amin = R.amin
    aminmax = R.aminmax
    argmax = R.argmax
    argmin = R.argmin
    logsumexp = R.logsumexp
    cumsum = R.cumsum
    cumprod = R.cumprod
    cummax = R.cummax
    cummin = R.cummin
    sort = R.sort
    argsort = R.argsort
    msort = R.msort
    topk = R.topk
    kthvalue = R.kthvalue
    median = R.median
    nanmedian = R.nanmedian
    mode = R.mode
    quantile = R.quantile
    nanquantile = R.nanquantile
    all = R.all
    any = R.any
    count_nonzero = R.count_nonzero
    unique = R.unique
    unique_consecutive = R.unique_consecutive
    norm = R.norm
    cumsum_ = inplace_method(R.cumsum)
    cumprod_ = inplace_method(R.cumprod)

    # ---- shape and views (ops/shape.py) --------------------------------------
    squeeze_ = S.squeeze_
    unsqueeze_ = S.unsqueeze_
    t_ = S.t_
    transpose_ = S.transpose_
    swapaxes_ = S.swapaxes_
    swapdims_ = S.swapdims_
    reshape = S.reshape
    view = S.view
    view_as = S.view_as
    reshape_as = S.reshape_as
    flatten = S.flatten
    unflatten = S.unflatten
    ravel = S.ravel
    permute = S.permute
    transpose = S.transpose
    swapaxes = S.transpose
    swapdims = S.transpose
    t = S.t
    adjoint = S.adjoint
    movedim = S.movedim
    moveaxis = S.movedim
    expand = S.expand
    expand_as = S.expand_as
    broadcast_to = S.broadcast_to
    squeeze = S.squeeze
    unsqueeze = S.unsqueeze
    contiguous = S.contiguous
    clone = S.clone
    narrow = S.narrow
    select = S.select
    split = S.split
    tensor_split = S.tensor_split
    hsplit = S.hsplit
    vsplit = S.vsplit
    dsplit = S.dsplit
    chunk = S.chunk
    unbind = S.unbind
    flip = S.flip
    fliplr = S.fliplr
    flipud = S.flipud
    roll = S.roll
    rot90 = S.rot90
    repeat = S._repeat
    repeat_interleave = S.repeat_interleave
    tile = S.tile
    tril = S.tril
    triu = S.triu
    diag = S.diag
    diagonal = S.diagonal
    diag_embed = S.diag_embed
    tril_ = inplace_method(S.tril)
    triu_ = inplace_method(S.triu)

    # ---- matrix products and linear algebra (ops/linalg.py) ------------------
    matmul = L.matmul
    mm = L.mm
    bmm = L.bmm
    mv = L.mv
    dot = L.dot
    vdot = L.dot
    inner = L.inner
    outer = L.outer
    ger = L.outer
    kron = L.kron
    trace = L.trace
    addmm = L.addmm
    addmv = L.addmv
    baddbmm = L.baddbmm
    addbmm = L.addbmm
    matrix_power = L.matrix_power
    cross = L.cross
    inverse = L.inverse
    det = L.det
    logdet = L.logdet
    slogdet = L.slogdet
    addmm_ = inplace_method(L.addmm)
    addmv_ = inplace_method(L.addmv)
    baddbmm_ = inplace_method(L.baddbmm)
    addbmm_ = inplace_method(L.addbmm)

    matrix_exp = L.matrix_exp
    orgqr = L.orgqr

    # ---- indexing, gather and scatter (ops/indexing.py) ----------------------
    gather = I.gather
    scatter = I.scatter
    scatter_add = I.scatter_add
    scatter_reduce = I.scatter_reduce
    index_select = I.index_select
    index_add = I.index_add
    index_copy = I.index_copy
    index_fill = I.index_fill
    index_put = I.index_put
    masked_fill = I.masked_fill
    masked_scatter = I.masked_scatter
    masked_select = I.masked_select
    take = I.take
    take_along_dim = I.take_along_dim
    put = I.put
    nonzero = I.nonzero
    argwhere = I.argwhere
    scatter_ = I.scatter_
    scatter_add_ = I.scatter_add_
    scatter_reduce_ = I.scatter_reduce_
    index_add_ = I.index_add_
    index_copy_ = I.index_copy_
    index_fill_ = I.index_fill_
    index_put_ = I.index_put_
    masked_fill_ = I.masked_fill_
    masked_scatter_ = I.masked_scatter_
    put_ = I.put_

    # ---- activations (ops/activation.py) -------------------------------------
    softmax = A.softmax
    log_softmax = A.log_softmax
    hardshrink = A.hardshrink
    prelu = A.prelu

    # ---- in-place arithmetic, fill_, copy_, where (ops/methods.py) -----------
    where = methods.where
    add_ = methods.add_
    sub_ = methods.sub_
    subtract_ = methods.sub_
    mul_ = methods.mul_
    multiply_ = methods.mul_
    div_ = methods.div_
    divide_ = methods.div_
    true_divide_ = methods.div_
    fill_ = methods.fill_
    zero_ = methods.zero_
    copy_ = methods.copy_

    # ---- the rest of torch's everyday methods (ops/misc.py) ------------------
    diff = X.diff
    unfold = X.unfold
    cov = X.cov
    corrcoef = X.corrcoef
    addr = X.addr
    dist = X.dist
    diagflat = X.diagflat
    renorm = X.renorm
    ldexp = X.ldexp
    logcumsumexp = X.logcumsumexp
    select_scatter = X.select_scatter
    slice_scatter = X.slice_scatter
    diagonal_scatter = X.diagonal_scatter
    bincount = X.bincount
    histc = X.histc
    histogram = X.histogram
    set_ = X.set_
    cholesky = X.cholesky
    gcd = X.gcd
    lcm = X.lcm
    frexp = X.frexp
    nextafter = X.nextafter
    positive = X.positive
    nonzero_static = X.nonzero_static
    sum_to_size = X.sum_to_size
    split_with_sizes = X.split_with_sizes
    unsafe_split_with_sizes = X.split_with_sizes
    unsafe_split = S.split
    unsafe_chunk = S.chunk
    narrow_copy = X.narrow_copy
    fill_diagonal_ = X.fill_diagonal_
    apply_ = X.apply_
    map_ = X.map_
    resize_ = X.resize_
    resize_as_ = X.resize_as_
    dim_order = X.dim_order
    is_set_to = X.is_set_to
    get_device = X.get_device
    new = X.new
    as_subclass = X.as_subclass
    addr_ = inplace_method(X.addr)
    renorm_ = inplace_method(X.renorm)
    ldexp_ = inplace_method(X.ldexp)
    gcd_ = inplace_method(X.gcd)
    lcm_ = inplace_method(X.lcm)
    nextafter_ = inplace_method(X.nextafter)
    greater_ = inplace_method(E.gt)
    greater_equal_ = inplace_method(E.ge)
    less_ = inplace_method(E.lt)
    less_equal_ = inplace_method(E.le)
    not_equal_ = inplace_method(E.ne)
    bitwise_left_shift_ = inplace_method(E.bitwise_left_shift)
    bitwise_right_shift_ = inplace_method(E.bitwise_right_shift)

    # ---- complex numbers (ops/complex.py) -------------------------------------
    real = property(CX.real, lambda self, v: self.real.copy_(v),
                    doc="The real parts (a writable view); a real tensor itself.")
    imag = property(CX.imag, lambda self, v: self.imag.copy_(v),
                    doc="The imaginary parts (a writable view); complex tensors only.")
    conj = CX.conj
    conj_physical = CX.conj_physical
    resolve_conj = CX.resolve_conj
    resolve_neg = CX.resolve_neg
    is_conj = CX.is_conj
    angle = CX.angle
    isreal = CX.isreal
    stft = SPEC.stft
    istft = SPEC.istft

    def conj_physical_(self):
        """Conjugate in place (nothing to do for a real tensor)."""
        if self.is_complex():
            self.imag.neg_()
        return self

    # ---- sparse layouts (ops/sparse.py) ----
    to_dense = SPR.to_dense
    to_sparse = SPR.to_sparse
    to_sparse_coo = SPR.to_sparse_coo
    to_sparse_csr = SPR.to_sparse_csr
    coalesce = SPR.coalesce
    is_coalesced = SPR.is_coalesced
    indices = SPR.indices
    values = SPR.values
    _indices = SPR._indices
    _values = SPR._values
    crow_indices = SPR.crow_indices
    col_indices = SPR.col_indices
    _nnz = SPR._nnz
    sparse_dim = SPR.sparse_dim
    dense_dim = SPR.dense_dim

    def is_neg(self):
        return False

    def is_distributed(self):
        return False

    def is_same_size(self, other):
        return self.shape == other.shape

    def is_nonzero(self):
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.reshape(()).item())

    def const_data_ptr(self):
        return self.data_ptr()

    # ---- new tensors with this one's dtype and device (_creation.py) ---------
    new_zeros = C.new_zeros
    new_ones = C.new_ones
    new_empty = C.new_empty
    new_full = C.new_full
    new_tensor = C.new_tensor

    def new_empty_strided(self, size, stride, *, dtype=None, device=None, requires_grad=False,
                          layout=None, pin_memory=False):
        """new_empty(size): Ember's tensors are contiguous, whatever ``stride`` asks."""
        if len(size) != len(stride):
            raise RuntimeError("mismatch in length of strides and shape")
        return C.new_empty(self, tuple(size), dtype=dtype, device=device,
                           requires_grad=requires_grad)

    # ---- random sampling (random.py) -----------------------------------------
    normal_ = random.normal_
    uniform_ = random.uniform_
    exponential_ = random.exponential_
    cauchy_ = random.cauchy_
    log_normal_ = random.log_normal_
    geometric_ = random.geometric_
    bernoulli_ = random.bernoulli_
    random_ = random.random_
    bernoulli = random.bernoulli
    multinomial = random.multinomial


_TYPE_NAMES_REV = {d.scalar_name + "Tensor": d for d in D._ALL}   # "FloatTensor" -> float32


def _name_methods(cls):
    """Give each method made by a factory (``inplace_method``, ``binop``...) the
    name it has on the class, for Python's argument errors ("abs_() takes ...")."""
    for name, f in vars(cls).items():
        if isinstance(f, types.FunctionType) and "<locals>" in f.__qualname__:
            f.__name__ = f.__qualname__ = name


_name_methods(Tensor)
_register_tensor_class(Tensor)
