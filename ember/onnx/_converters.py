"""The table of op converters: one function per Ember op, turning one traced
call into ONNX nodes.

A converter is registered for its Op classes with ``@converts(Op, ...)``
(ops that map one-to-one onto an ONNX op of the same meaning share one
converter and a table of names: ``_UNARY``, ``_BINARY``, ``_COMPARE``) and
is called as ``fn(g, *args, **kwargs)`` with the op's own arguments, except
that tensor (and raw array) arguments arrive as ``V`` objects (``.name``,
``.shape``, ``.dtype``, ``.const`` for constants; see ``_export.py``).  ``g``
is the ``Builder``: ``g.op("Relu", x)`` adds a node and returns its output
name, ``g.i64([...])`` / ``g.const(v, dtype)`` make constants, ``g.outs``
lists the op's outputs as (shape, NumPy dtype) from the trace.  A converter
returns the output name (or a tuple, one per output of the op).

Sizes: the exporter traces twice (the second time with the dynamic axes
resized) and refuses a call whose non-tensor arguments differ between the
traces, unless its converter is registered with ``sizes=True``: such a
converter reads the sizes itself, through ``g.dims(sizes, g.other(i))``,
which turns each size that follows a dynamic axis into a run-time value.
"""
import importlib
import math

import numpy as np

from .errors import OnnxExporterError


def _module(name):
    # (by name: ember.nn.functional.linear is also the function F.linear)
    return importlib.import_module(f"ember.{name}")


E, M, S, IX, R = (_module(f"ops.{n}") for n in ("elementwise", "math", "shape", "indexing",
                                                 "reduction"))
LA, A, DEV = (_module(f"ops.{n}") for n in ("linalg", "activation", "device"))
FA, FT, FC, FL, FN, FP, FR, FS, FV = (_module(f"nn.functional.{n}") for n in (
    "activation", "attention", "conv", "linear", "normalization", "pooling", "rnn", "sparse",
    "vision"))
LLM = _module("nn.llm")

__all__ = ["CONVERTERS", "converts"]

CONVERTERS = {}
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def converts(*ops, sizes=False):
    """Register the decorated function as the converter of ``ops``."""
    def register(fn):
        fn.sizes = sizes
        for op in ops:
            if op in CONVERTERS:
                raise ValueError(f"{op.__name__} already has a converter")
            CONVERTERS[op] = fn
        return fn
    return register


def _out_dtype(g, i=0):
    return np.dtype(g.outs[i][1])


def _operand(g, v, dtype):
    """An operand (a V or a Python number) as a value of ``dtype``."""
    if hasattr(v, "name"):
        return g.cast(v, dtype)
    return g.scalar_like(v, dtype)


def _axis(a, ndim):
    return a + ndim if a < 0 else a


# ---- elementwise ------------------------------------------------------------------------

_UNARY = {M.Relu: "Relu", M.Sigmoid: "Sigmoid", M.Tanh: "Tanh", M.Exp: "Exp", M.Log: "Log",
          M.Sqrt: "Sqrt", M.Abs: "Abs", E.Neg: "Neg", M.Erf: "Erf", M.Sin: "Sin", M.Cos: "Cos",
          M.Tan: "Tan", M.Reciprocal: "Reciprocal", M.Sign: "Sign", M.Asin: "Asin",
          M.Acos: "Acos", M.Atan: "Atan", M.Sinh: "Sinh", M.Cosh: "Cosh"}


@converts(*_UNARY)
def unary(g, x):
    """One ONNX op of the same name and meaning (float inputs)."""
    return g.op(_UNARY[g.current], g.cast(x, _out_dtype(g)))


@converts(M.Rsqrt)
def rsqrt(g, x):
    return g.op("Reciprocal", g.op("Sqrt", x))


@converts(M.Log1p)
def log1p(g, x):
    return g.op("Log", g.op("Add", x, g.scalar_like(1, x.dtype)))


@converts(M.Expm1)
def expm1(g, x):
    return g.op("Sub", g.op("Exp", x), g.scalar_like(1, x.dtype))


_BINARY = {E.Add: "Add", E.Sub: "Sub", E.Mul: "Mul", E.Div: "Div", E.Pow: "Pow",
           M.Maximum: "Max", M.Minimum: "Min"}


@converts(*_BINARY)
def binary(g, a, b):
    """Broadcasting arithmetic, both operands first cast to the result's dtype
    (torch's type promotion already decided it)."""
    op = _BINARY[g.current]
    dt = _out_dtype(g)
    if op == "Pow" and not hasattr(b, "name"):   # (x ** 2: the exponent keeps its own type)
        return g.op("Pow", _operand(g, a, dt), g.scalar_like(b, dt))
    return g.op(op, _operand(g, a, dt), _operand(g, b, dt))


@converts(E.PowScalar)
def pow_scalar(g, x, p):
    return g.op("Pow", g.cast(x, _out_dtype(g)), g.scalar_like(p, _out_dtype(g)))


@converts(E.ScalarPowTensor)
def scalar_pow(g, c, x):
    dt = _out_dtype(g)
    return g.op("Pow", g.scalar_like(c, dt), g.cast(x, dt))


_COMPARE = {E._EQ: "Equal", E._NE: "Equal", E._LT: "Less", E._LE: "LessOrEqual",
            E._GT: "Greater", E._GE: "GreaterOrEqual"}


@converts(*_COMPARE)
def compare(g, a, b):
    """Comparisons in the operands' common dtype; ``!=`` is Not(Equal)."""
    tensors = [v.dtype for v in (a, b) if hasattr(v, "name")]
    dt = np.result_type(*tensors)
    other = b if hasattr(a, "name") else a
    if not hasattr(other, "name") and isinstance(other, float) and dt.kind != "f":
        dt = np.dtype(np.float32)
    out = g.op(_COMPARE[g.current], _operand(g, a, dt), _operand(g, b, dt))
    return g.op("Not", out) if g.current is E._NE else out


_LOGICAL = {E._LAND: "And", E._LOR: "Or", E._LXOR: "Xor"}


@converts(*_LOGICAL)
def logical(g, a, b):
    return g.op(_LOGICAL[g.current], _operand(g, a, np.bool_), _operand(g, b, np.bool_))


def _unary0(name):
    return next(c for c in E._Unary0.__subclasses__() if c.__name__ == name)


_PREDICATE = {_unary0("logical_not"): "Not", _unary0("isnan"): "IsNaN", _unary0("isinf"): "IsInf"}


@converts(*_PREDICATE)
def predicate(g, x):
    op = _PREDICATE[g.current]
    return g.op(op, g.cast(x, np.bool_) if op == "Not" else x)


@converts(E.Where)
def where(g, cond, a, b):
    dt = _out_dtype(g)
    return g.op("Where", _operand(g, cond, np.bool_), _operand(g, a, dt), _operand(g, b, dt))


@converts(E.Cast)
def cast(g, x, np_dtype):
    return g.cast(x, np_dtype)


@converts(M.Clamp)
def clamp(g, x, lo, hi):
    dt = _out_dtype(g)
    return g.op("Clip", g.cast(x, dt), None if lo is None else g.scalar_like(lo, dt),
                None if hi is None else g.scalar_like(hi, dt))


@converts(IX.MaskedFill)
def masked_fill(g, x, mask, value):
    dt = _out_dtype(g)
    if hasattr(value, "name"):
        value = g.op("Reshape", g.cast(value, dt), g.i64([]))
    else:
        value = g.scalar_like(value, dt)
    return g.op("Where", g.cast(mask, np.bool_), value, g.cast(x, dt))


# ---- activations ------------------------------------------------------------------------

@converts(FA._GELU)
def gelu(g, x, tanh_approx):
    """Gelu from opset 20; before it, its formula."""
    if g.opset >= 20:
        return g.op("Gelu", x, approximate="tanh" if tanh_approx else "none")
    dt = x.dtype
    if tanh_approx:
        cube = g.op("Mul", g.op("Mul", x, x), x)
        inner = g.op("Add", x, g.op("Mul", cube, g.scalar_like(0.044715, dt)))
        t = g.op("Tanh", g.op("Mul", inner, g.scalar_like(math.sqrt(2 / math.pi), dt)))
    else:
        t = g.op("Erf", g.op("Mul", x, g.scalar_like(1 / math.sqrt(2), dt)))
    half_x = g.op("Mul", x, g.scalar_like(0.5, dt))
    return g.op("Mul", half_x, g.op("Add", t, g.scalar_like(1, dt)))


@converts(A._Softmax)
def softmax(g, x, dim):
    return g.op("Softmax", x, axis=dim)


@converts(A._LogSoftmax)
def log_softmax(g, x, dim):
    return g.op("LogSoftmax", x, axis=dim)


@converts(FA._SiLU)
def silu(g, x):
    return g.op("Mul", x, g.op("Sigmoid", x))


@converts(FA._LeakyReLU)
def leaky_relu(g, x, slope):
    return g.op("LeakyRelu", x, alpha=float(slope))


@converts(FA._ELU)
def elu(g, x, alpha, scale, input_scale):
    """ELU / SELU / CELU: scale * (x if x > 0 else alpha * (exp(x * input_scale) - 1))."""
    dt = x.dtype
    if input_scale == 1 and scale == 1:
        return g.op("Elu", x, alpha=float(alpha))
    neg = g.op("Mul", g.op("Sub", g.op("Exp", g.op("Mul", x, g.scalar_like(input_scale, dt))),
                           g.scalar_like(1, dt)), g.scalar_like(alpha * scale, dt))
    pos = g.op("Mul", x, g.scalar_like(scale, dt))
    return g.op("Where", g.op("Greater", x, g.scalar_like(0, dt)), pos, neg)


@converts(FA._Hardtanh)
def hardtanh(g, x, lo, hi):
    return g.op("Clip", x, g.scalar_like(lo, x.dtype), g.scalar_like(hi, x.dtype))


@converts(FA._Softplus)
def softplus(g, x, beta, threshold):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold."""
    dt = x.dtype
    bx = g.op("Mul", x, g.scalar_like(beta, dt))
    soft = g.op("Div", g.op("Softplus", bx), g.scalar_like(beta, dt))
    return g.op("Where", g.op("Greater", bx, g.scalar_like(threshold, dt)), x, soft)


@converts(FA._Hardsigmoid)
def hardsigmoid(g, x):
    return g.op("HardSigmoid", x, alpha=1 / 6, beta=0.5)


@converts(FA._Hardswish)
def hardswish(g, x):
    return g.op("HardSwish", x)


@converts(FA._Mish)
def mish(g, x):
    return g.op("Mul", x, g.op("Tanh", g.op("Softplus", x)))


# ---- linear algebra ---------------------------------------------------------------------

@converts(FL._Linear)
def linear(g, x, w, b):
    """x @ w.T + b: Gemm for a matrix, MatMul (+ Add) otherwise, as torch exports it."""
    if x.ndim == 2:
        return g.op("Gemm", x, w, b, transB=1)
    y = g.op("MatMul", x, g.op("Transpose", w, perm=[1, 0]))
    return y if b is None else g.op("Add", y, b)


@converts(LA.MatMul, LA.Bmm, LA.Mv, LA.Dot)
def matmul(g, a, b):
    return g.op("MatMul", a, b)


@converts(LA.AddMm)
def addmm(g, c, a, b, beta, alpha):
    return g.op("Gemm", a, b, c, alpha=float(alpha), beta=float(beta))


# ---- shapes -----------------------------------------------------------------------------

@converts(S.Reshape, S.Squeeze, S.Unsqueeze, sizes=True)
def reshape(g, x, shape):
    """view / reshape / flatten / (un)squeeze: Reshape to the traced sizes,
    sizes that follow a dynamic axis read at run time."""
    target = g.dims(shape, g.other(1), infer=True, what=f"the target shape {list(shape)}")
    return g.op("Reshape", x, target, allowzero=1 if 0 in tuple(shape) else None)


@converts(S.Expand, sizes=True)
def expand(g, x, shape):
    return g.op("Expand", x, g.dims(shape, g.other(1), what=f"expand's size {list(shape)}"))


@converts(S.Permute, S.Transpose, S.MatrixT)
def permute(g, x, axes):
    return g.op("Transpose", x, perm=[_axis(a, x.ndim) for a in axes])


@converts(S.Contiguous, S.Clone, DEV.ToDevice)
def identity(g, x, *_):
    return g.op("Identity", x)


@converts(S.Cat)
def cat(g, *arrays, axis, dtype=None, skip=None):
    parts = arrays if skip is None else [a for a, s in zip(arrays, skip) if not s]
    dt = _out_dtype(g)
    return g.op("Concat", *[g.cast(p, dt) for p in parts], axis=axis)


@converts(S.Stack)
def stack(g, *arrays, axis, dtype=None):
    dt = _out_dtype(g)
    axis = _axis(axis, len(g.outs[0][0]))
    one = g.i64([axis])
    return g.op("Concat", *[g.op("Unsqueeze", g.cast(a, dt), one) for a in arrays], axis=axis)


@converts(S.Unbind)
def unbind(g, x, axis):
    return tuple(g.op("Gather", x, g.const(i, np.int64), axis=axis) for i in range(len(g.outs)))


@converts(S.Split, sizes=True)
def split(g, x, bounds, axis):
    """split / chunk: one Slice per piece (bounds that follow a dynamic axis
    read at run time)."""
    other = g.other(1)
    axes = g.i64([axis])
    return tuple(g.op("Slice", x, g.dims([a], [ab], what="a split's start"),
                      g.dims([b], [bb], what="a split's end"), axes)
                 for (a, b), (ab, bb) in zip(bounds, other))


@converts(S.Repeat)
def repeat(g, x, reps):
    """x.repeat(*reps): Tile, after adding the leading dims reps has beyond x's."""
    if len(reps) > x.ndim:
        x = g.op("Reshape", x, g.i64((1,) * (len(reps) - x.ndim) + x.shape))
    return g.op("Tile", x, g.i64(reps))


@converts(FV._ConstPad)
def constant_pad(g, x, pads, value):
    """F.pad(mode='constant'): ``pads`` holds (axis, (before, after)) pairs;
    negative amounts crop, as ONNX's Pad does."""
    begin, end = [0] * x.ndim, [0] * x.ndim
    for axis, (a, b) in pads:
        begin[axis], end[axis] = a, b
    return g.op("Pad", x, g.i64(begin + end), g.scalar_like(value, x.dtype))


@converts(S.Tril, S.Triu)
def trilu(g, x, k):
    return g.op("Trilu", x, g.const(k, np.int64), upper=int(g.current is S.Triu))


@converts(IX.Slice, IX.Select, S.SliceView, S.Select, sizes=True)
def basic_index(g, x, key):
    """x[ints, slices, None, ...]: one Slice for the slices and ints, then
    Squeeze (the ints' axes) and Unsqueeze (the Nones')."""
    key_a, key_b = _full_key(key, x.ndim), _full_key(g.other(1), x.ndim)
    starts, ends, steps, axes, squeeze, unsqueeze = ([], []), ([], []), [], [], [], []
    axis = out_axis = 0
    for ka, kb in zip(key_a, key_b):
        if ka is None:
            unsqueeze.append(out_axis)
            out_axis += 1
            continue
        if isinstance(ka, slice):
            if ka != slice(None):
                step = 1 if ka.step is None else int(ka.step)
                if step != (1 if kb.step is None else int(kb.step)):
                    raise OnnxExporterError("a slice step changes with the inputs' sizes")
                for k, (lo, hi) in enumerate(((ka.start, ka.stop), (kb.start, kb.stop))):
                    starts[k].append(_bound(lo, step, True))
                    ends[k].append(_bound(hi, step, False))
                steps.append(step)
                axes.append(axis)
            out_axis += 1
        else:       # an int: a one-wide slice, squeezed away after
            for k, i in enumerate((int(ka), int(kb))):
                starts[k].append(i)
                ends[k].append(INT64_MAX if i == -1 else i + 1)
            steps.append(1)
            axes.append(axis)
            squeeze.append(axis)
        axis += 1
    y = x.name
    if axes:
        y = g.op("Slice", y, g.dims(*starts, what="a slice's start"),
                 g.dims(*ends, what="a slice's end"), g.i64(axes), g.i64(steps))
    if squeeze:
        y = g.op("Squeeze", y, g.i64(squeeze))
    if unsqueeze:
        y = g.op("Unsqueeze", y, g.i64(unsqueeze))
    return y if y != x.name else g.op("Identity", y)


def _full_key(key, ndim):
    """A basic index as a tuple with one entry per input axis (plus Nones)."""
    key = key if isinstance(key, tuple) else (key,)
    for k in key:
        if not (k is None or k is Ellipsis or isinstance(k, slice)
                or isinstance(k, (int, np.integer))):
            raise OnnxExporterError(f"index {k!r} is not a basic index")
    used = sum(1 for k in key if k is not None and k is not Ellipsis)
    if Ellipsis in key:
        at = key.index(Ellipsis)
        return key[:at] + (slice(None),) * (ndim - used) + key[at + 1:]
    return key + (slice(None),) * (ndim - used)


def _bound(v, step, start):
    """A slice bound for ONNX Slice (None: the end the step walks from/to)."""
    if v is not None:
        return int(v)
    if step > 0:
        return 0 if start else INT64_MAX
    return INT64_MAX if start else INT64_MIN


# ---- indexing ---------------------------------------------------------------------------

@converts(FS._Take)
def embedding(g, w, idx, s):
    if s is not None:
        raise OnnxExporterError("embedding with max_norm or scale_grad_by_freq's rescaling "
                                "cannot be exported")
    return g.op("Gather", w, idx, axis=0)


@converts(IX.IndexSelect)
def index_select(g, x, dim, idx):
    return g.op("Gather", x, idx, axis=dim)


@converts(IX.Gather)
def gather(g, x, dim, idx):
    return g.op("GatherElements", x, idx, axis=dim)


# ---- reductions -------------------------------------------------------------------------

def _reduce(op_type):
    def convert(g, x, axes, keepdim, *_):
        axes = tuple(range(x.ndim)) if axes is None else (axes if isinstance(axes, tuple) else (axes,))
        return g.reduce(op_type, g.cast(x, _out_dtype(g)), [_axis(a, x.ndim) for a in axes],
                        keepdim)
    convert.__name__ = op_type
    return convert


converts(R.Sum)(_reduce("ReduceSum"))
converts(R.Mean)(_reduce("ReduceMean"))
converts(R.SumDims)(_reduce("ReduceSum"))
converts(R.MeanDims)(_reduce("ReduceMean"))
converts(R.Amax)(_reduce("ReduceMax"))
converts(R.Amin)(_reduce("ReduceMin"))


# ---- networks: convolution, pooling, normalization --------------------------------------

@converts(FC._Conv, sizes=True)
def conv(g, x, w, b, geo, baxes):
    """Conv2d (and Conv1d) with stride, padding, dilation and groups; the
    geometry's sizes are read, never its batch."""
    if not isinstance(geo, FC._Geo):
        raise OnnxExporterError("3-D convolution is not supported by the exporter")
    if x.ndim == 4 and w.ndim == 4:
        return g.op("Conv", x, w, b, kernel_shape=list(geo.w4[2:]), strides=[geo.sh, geo.sw],
                    pads=[geo.pt, geo.pl, geo.pb, geo.pr], dilations=[geo.dh, geo.dw],
                    group=geo.G)
    if x.ndim == 3 and w.ndim == 3:     # Conv1d on (N, C, L)
        return g.op("Conv", x, w, b, kernel_shape=[geo.w4[3]], strides=[geo.sw],
                    pads=[geo.pl, geo.pr], dilations=[geo.dw], group=geo.G)
    raise OnnxExporterError("only batched Conv1d/Conv2d inputs are supported by the exporter")


@converts(FC._ConvT, sizes=True)
def conv_transpose(g, y, w, b, geo, baxes):
    """ConvTranspose2d: the geometry is the forward conv it transposes."""
    if not isinstance(geo, FC._Geo) or y.ndim != 4:
        raise OnnxExporterError("only batched ConvTranspose2d is supported by the exporter")
    (_, _, H, W), (_, _, Hi, Wi) = geo.x4, geo.y4
    kh, kw = geo.w4[2:]
    pads = [geo.pt, geo.pl, geo.pb, geo.pr]
    # the rows/columns the forward conv never read: torch's output_padding
    extra = [H - (geo.sh * (Hi - 1) + geo.dh * (kh - 1) + 1 - geo.pt - geo.pb),
             W - (geo.sw * (Wi - 1) + geo.dw * (kw - 1) + 1 - geo.pl - geo.pr)]
    return g.op("ConvTranspose", y, w, b, kernel_shape=[kh, kw], strides=[geo.sh, geo.sw],
                pads=pads, dilations=[geo.dh, geo.dw], group=geo.G, output_padding=extra)


def _pool_attrs(x, geo):
    """(kernel, strides, pads, dilations, ceil_mode) of a pooling's geometry, in
    2-D or (for (N, C, L) inputs) 1-D form."""
    N, C, H, W = geo.x4
    Ho, Wo = geo.y4[2:]
    floor = ((H + 2 * geo.ph - geo.dh * (geo.kh - 1) - 1) // geo.sh + 1,
             (W + 2 * geo.pw - geo.dw * (geo.kw - 1) - 1) // geo.sw + 1)
    ceil = int(floor != (Ho, Wo))
    if x.ndim == 4:
        return [geo.kh, geo.kw], [geo.sh, geo.sw], [geo.ph, geo.pw] * 2, [geo.dh, geo.dw], ceil
    if x.ndim == 3 and geo.kh == 1 and H == 1 and len(geo.x_shape) == 3 and geo.x_shape[0] == N:
        return [geo.kw], [geo.sw], [geo.pw] * 2, [geo.dw], ceil
    raise OnnxExporterError("only batched 1-D/2-D pooling inputs are supported by the exporter")


@converts(FP._MaxPool, sizes=True)
def max_pool(g, x, geo, return_indices):
    if return_indices:
        raise OnnxExporterError("max pooling with return_indices cannot be exported")
    k, s, p, d, ceil = _pool_attrs(x, geo)
    return g.op("MaxPool", x, kernel_shape=k, strides=s, pads=p, dilations=d, ceil_mode=ceil)


@converts(FP._AvgPool, sizes=True)
def avg_pool(g, x, geo):
    """AvgPool2d/1d and adaptive average pooling with whole windows.  The
    divisor decides count_include_pad (a per-window map: False) and
    divisor_override (a scalar other than the window's size)."""
    k, s, p, d, ceil = _pool_attrs(x, geo)
    if d != [1] * len(d):
        raise OnnxExporterError("average pooling with dilation cannot be exported")
    if geo.ph == geo.pw == 0 and not ceil and list(geo.y4[2:]) == [1, 1] and \
            list(geo.x4[2:]) == [geo.kh, geo.kw]:
        y = g.op("GlobalAveragePool", x)        # (adaptive_avg_pool2d(x, 1): any image size)
    else:
        uniform = np.ndim(geo.div) == 0
        y = g.op("AveragePool", x, kernel_shape=k, strides=s, pads=p, ceil_mode=ceil,
                 count_include_pad=int(uniform))
        if uniform and not math.isclose(float(geo.div) * geo.kh * geo.kw, 1.0, rel_tol=1e-12):
            y = g.op("Mul", y, g.scalar_like(float(geo.div) * geo.kh * geo.kw, x.dtype))
    return y


@converts(FP._GlobalAvg)
def global_avg_pool(g, x, axes, keepdim, acc):
    """adaptive_avg_pool2d(x, 1): GlobalAveragePool on (N, C, H, W), else the
    mean over the last two axes."""
    if x.ndim == 4:
        return g.op("GlobalAveragePool", x)
    return _reduce("ReduceMean")(g, x, axes, keepdim)


@converts(FN._Affine)
def batch_norm_eval(g, x, w, b, rm, rv, eps, pshape):
    """Batch norm with running statistics: BatchNormalization (channels on axis 1)."""
    C = rm.shape[0]
    if w is None:
        w = g.const(np.ones(C), x.dtype)
    if b is None:
        b = g.const(np.zeros(C), x.dtype)
    return g.op("BatchNormalization", x, w, b, rm, rv, epsilon=float(eps))


@converts(FN._Norm, FN._LayerNorm, FN._GroupNorm, FN._RMSNorm, sizes=True)
def normalize(g, x, w, b, spec, running, shape):
    """Layer norm: LayerNormalization.  RMS, group and instance norm (and layer
    norm over non-trailing dims): their formula over the op's reshaped view."""
    if running is not None:
        raise OnnxExporterError("batch norm updating its running statistics (training "
                                "mode) cannot be exported; export in eval mode")
    nd, k = len(spec.view), len(spec.axes)
    trailing = (tuple(spec.axes) == tuple(range(nd - k, nd))
                and tuple(spec.view[nd - k:]) == tuple(x.shape[x.ndim - k:])
                and all(s == 1 for s in spec.pshape[:nd - k]))
    if spec.center and trailing:
        if w is None:
            w = g.const(np.ones(x.shape[x.ndim - k:]), x.dtype)
        return g.op("LayerNormalization", x, w, b, axis=-k, epsilon=float(spec.eps))
    dt = x.dtype
    spec_b = g.other(3)
    xv = g.op("Reshape", x, g.dims(spec.view, spec_b.view, infer=True, what="the norm's view"))
    axes = list(spec.axes)
    if spec.center:
        xv = g.op("Sub", xv, g.reduce("ReduceMean", xv, axes, True))
    var = g.reduce("ReduceMean", g.op("Mul", xv, xv), axes, True)
    y = g.op("Div", xv, g.op("Sqrt", g.op("Add", var, g.scalar_like(spec.eps, dt))))
    pshape = g.dims(spec.pshape, spec_b.pshape, what="the norm's weight shape")
    if w is not None:
        y = g.op("Mul", y, g.op("Reshape", w, pshape))
    if b is not None:
        y = g.op("Add", y, g.op("Reshape", b, pshape))
    return g.op("Reshape", y, g.dims(shape, g.other(5), infer=True, what="the norm's output"))


# ---- recurrent and attention ------------------------------------------------------------

def _recurrent(g, op, x, w_ih, b_ih, states, w_hh, b_hh, reverse, bsz, bf, blocks, **attrs):
    """One recurrent layer direction as ONNX's LSTM/GRU op: torch's gate blocks
    reordered into ONNX's (``blocks``: the torch block of each ONNX block, one
    Gather per weight), zero initial states left out (ONNX's default),
    batch-first input transposed (onnxruntime runs only the time-major
    layout).  Returns Y (..., H) and the final states, without ONNX's
    num_directions axis."""
    if bsz is not None:
        raise OnnxExporterError(f"{op} over a PackedSequence cannot be exported")
    if x.ndim != 3:
        raise OnnxExporterError(f"only batched {op} input is supported by the exporter")
    H = w_hh.shape[1]
    order = g.i64(np.concatenate([np.arange(b * H, (b + 1) * H) for b in blocks]))
    first = g.i64([0])     # (the num_directions axis of ONNX's weights and states)

    def gates(v):
        return g.op("Unsqueeze", g.op("Gather", v, order, axis=0), first)

    bias = None
    if b_ih is not None or b_hh is not None:
        n = len(blocks) * H
        parts = [gates(v) if v is not None else g.const(np.zeros((1, n)), x.dtype)
                 for v in (b_ih, b_hh)]
        bias = g.op("Concat", *parts, axis=1)

    def state(v):
        if v.const is not None and not v.const.any():
            return None
        return g.op("Unsqueeze", v, first)

    xt = g.op("Transpose", x, perm=[1, 0, 2]) if bf else x.name
    outs = g.op(op, xt, gates(w_ih), gates(w_hh), bias, None, *[state(v) for v in states],
                outputs=1 + len(states), hidden_size=H,
                direction="reverse" if reverse else "forward", **attrs)
    y = g.op("Squeeze", outs[0], g.i64([1]))          # Y: (T, 1, N, H) -> (T, N, H)
    if bf:
        y = g.op("Transpose", y, perm=[1, 0, 2])
    return (y,) + tuple(g.op("Squeeze", h, first) for h in outs[1:])


@converts(FR._LSTMLayer, sizes=True)
def lstm_layer(g, x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, reverse, bsz, bf):
    """One LSTM layer direction: ONNX's LSTM (gates i, o, f, c; torch's are
    i, f, g, o)."""
    if w_hr is not None:
        raise OnnxExporterError("LSTM with proj_size cannot be exported")
    return _recurrent(g, "LSTM", x, w_ih, b_ih, (h0, c0), w_hh, b_hh, reverse, bsz, bf,
                      blocks=(0, 3, 1, 2))


@converts(FR._GRULayer, sizes=True)
def gru_layer(g, x, w_ih, b_ih, h0, w_hh, b_hh, reverse, bsz, bf):
    """One GRU layer direction: ONNX's GRU (gates z, r, h; torch's are r, z, n),
    with the reset gate applied after the hidden projection as torch does
    (linear_before_reset)."""
    return _recurrent(g, "GRU", x, w_ih, b_ih, (h0,), w_hh, b_hh, reverse, bsz, bf,
                      blocks=(1, 0, 2), linear_before_reset=1)


@converts(FT._SDPA, sizes=True)
def attention(g, q, k, v, add, bias, causal, scale, p, gk, gv, weights):
    """scaled_dot_product_attention: softmax(q k^T * scale + masks) v.  The
    causal mask is built at run time from q's and k's lengths."""
    if p:
        raise OnnxExporterError("attention dropout cannot be exported; export in eval mode")
    dt = q.dtype
    k_, v_ = _repeat_heads(g, k, gk), _repeat_heads(g, v, gv)
    perm = list(range(k.ndim - 2)) + [k.ndim - 1, k.ndim - 2]
    scores = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k_, perm=perm)),
                  g.scalar_like(scale, dt))
    if add is not None:
        scores = g.op("Add", scores, g.cast(add, dt))
    masked_rows = add is not None
    if causal:
        L = g.op("Shape", q, start=-2, end=-1)
        S = g.op("Shape", k, start=-2, end=-1)
        neg = g.op("ConstantOfShape", g.op("Concat", L, S, axis=0),
                   value=g.onnx.numpy_helper.from_array(np.asarray([-np.inf], dtype=dt)))
        scores = g.op("Add", scores, g.op("Trilu", neg, g.const(1, np.int64), upper=1))
    elif bias is not None:
        masked_rows = masked_rows or bool(np.isneginf(bias.const).all(axis=-1).any())
        scores = g.op("Add", scores, g.cast(bias, dt))
    probs = g.op("Softmax", scores, axis=-1)
    if masked_rows:   # (a row with every key masked: zeros, as torch's safe softmax)
        probs = g.op("Where", g.op("IsNaN", probs), g.scalar_like(0, dt), probs)
    out = g.op("MatMul", probs, v_)
    return (out, probs) if weights else out


def _repeat_heads(g, t, n):
    """(B, Hkv, S, E) -> (B, Hkv * n, S, E), each head repeated n times in a
    row (grouped-query attention)."""
    if n == 1:
        return t.name
    if t.ndim != 4:
        raise OnnxExporterError("grouped-query attention needs 4-D keys and values")
    five = g.op("Unsqueeze", t, g.i64([2]))
    five = g.op("Expand", five, g.i64([1, 1, n, 1, 1]))
    shape = g.op("Concat", g.op("Shape", t, start=0, end=1), g.i64([-1]),
                 g.op("Shape", t, start=2), axis=0)
    return g.op("Reshape", five, shape)


@converts(LLM._Rope)
def rope(g, x, cos, sin):
    """Rotary embedding: x * cos + cat(-x2, x1) * sin, x1 and x2 the halves of
    the last dim."""
    h = x.shape[-1] // 2
    last = g.i64([-1])
    x1 = g.op("Slice", x, g.i64([0]), g.i64([h]), last)
    x2 = g.op("Slice", x, g.i64([h]), g.i64([INT64_MAX]), last)
    rotated = g.op("Concat", g.op("Neg", x2), x1, axis=-1)
    return g.op("Add", g.op("Mul", x, cos), g.op("Mul", rotated, sin))
