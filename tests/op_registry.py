"""The op registry: one table of op cases that any backend reruns whole.

Each ``OpCase`` says what to call (``fn(lib, *tensors)`` with ``lib`` being
``ember`` or ``torch``), on which inputs (``Arg`` specs, made into arrays of
the case's dtype), whether gradients are compared, whether the float64
numerical gradcheck runs, and the tolerances.  ``tests/test_op_registry.py``
runs every case against torch (outputs and gradients, float32 and float64)
and by gradcheck; ``EMBER_TEST_DEVICE=guard`` reruns the same cases on the
guard backend (tests/guard_backend.py), and a new backend does the same.

To add an op: append a case here (or a row to one of the tables below).
"""
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Arg:
    """An input: a float array of ``shape`` drawn uniformly from [low, high)
    (gradients taken), or ``kind="int"`` indices in [0, high), or ``"bool"``."""
    shape: tuple
    low: float = -2.0
    high: float = 2.0
    kind: str = "float"
    grad: bool = True

    def make(self, dtype, rng):
        if self.kind == "int":
            return rng.integers(0, int(self.high), size=self.shape).astype(np.int64)
        if self.kind == "bool":
            return rng.random(self.shape) < 0.5
        return rng.uniform(self.low, self.high, size=self.shape).astype(dtype)


@dataclass(frozen=True)
class OpCase:
    name: str
    fn: object
    args: tuple
    grad: bool = True              # compare gradients with torch
    gradcheck: bool = True         # float64 finite differences
    dtypes: tuple = (np.float32, np.float64)
    atol: float = None
    rtol: float = None
    tags: tuple = field(default=())
    missing: str = None            # why Ember can't run it yet (the test xfails, naming it)

    def arrays(self, dtype, seed=0):
        rng = np.random.default_rng(seed)
        return [a.make(dtype, rng) if isinstance(a, Arg) else a for a in self.args]


def A(*shape, low=-2.0, high=2.0, grad=True):
    return Arg(tuple(shape), low, high, "float", grad)


def P(*shape):
    """A positive float input (log, sqrt, division by it ...)."""
    return Arg(tuple(shape), 0.2, 2.0)


def U(*shape):
    """A float input inside (-1, 1) (asin, atanh ...)."""
    return Arg(tuple(shape), -0.9, 0.9)


def I(*shape, high):
    return Arg(tuple(shape), 0, high, "int", False)


def B(*shape):
    return Arg(tuple(shape), kind="bool", grad=False)


CASES = []


def case(name, fn, *args, **kw):
    CASES.append(OpCase(name, fn, args, **kw))


# ---- elementwise, unary ----------------------------------------------------------

_UNARY = {   # name: input spec (default: A)
    "neg": A, "abs": A, "exp": A, "expm1": A, "sin": A, "cos": A, "tan": U, "tanh": A,
    "sigmoid": A, "sinh": A, "cosh": A, "asinh": A, "atan": A, "erf": A, "square": A,
    "log": P, "log2": P, "log10": P, "log1p": P, "sqrt": P, "rsqrt": P, "reciprocal": P,
    "asin": U, "acos": U, "atanh": U, "acosh": lambda *s: Arg(s, 1.2, 3.0), "erfinv": U,
    "relu": A, "sign": A, "floor": A, "ceil": A, "round": A, "trunc": A, "frac": A,
    "exp2": A,
}
_NO_GRADCHECK = {"sign", "floor", "ceil", "round", "trunc", "frac", "abs", "relu"}
for _n, _spec in _UNARY.items():
    case(_n, lambda lib, x, n=_n: getattr(lib, n)(x), _spec(3, 4),
         gradcheck=_n not in _NO_GRADCHECK)
    case(f"Tensor.{_n}", lambda lib, x, n=_n: getattr(x, n)(), _spec(2, 3),
         gradcheck=_n not in _NO_GRADCHECK)

# ---- elementwise, binary (with broadcasting) ---------------------------------------

_BINARY = {
    "add": (A, A), "sub": (A, A), "mul": (A, A), "div": (A, P), "pow": (P, A),
    "maximum": (A, A), "minimum": (A, A), "atan2": (A, P), "hypot": (A, A),
    "fmod": (A, P), "remainder": (A, P), "copysign": (A, A), "xlogy": (P, P),
    "logaddexp": (A, A), "logaddexp2": (A, A),
}
_MISSING = {}
for _n, (_a, _b) in _BINARY.items():
    gc = _n not in ("maximum", "minimum", "fmod", "remainder", "copysign")
    m = _MISSING.get(_n)
    case(_n, lambda lib, x, y, n=_n: getattr(lib, n)(x, y), _a(3, 4), _b(3, 4), gradcheck=gc,
         missing=m)
    case(f"{_n}_broadcast", lambda lib, x, y, n=_n: getattr(lib, n)(x, y), _a(2, 3, 4), _b(4),
         gradcheck=gc, missing=m)
case("add_alpha", lambda lib, x, y: lib.add(x, y, alpha=0.5), A(3, 4), A(3, 4))
case("sub_scalar", lambda lib, x: x - 1.5, A(3, 4))
case("rsub_scalar", lambda lib, x: 2.0 - x, A(3, 4))
case("mul_scalar", lambda lib, x: x * 3, A(3, 4))
case("rdiv_scalar", lambda lib, x: 1.0 / x, P(3, 4))
case("pow_scalar", lambda lib, x: x ** 3, A(3, 4))
case("pow_half", lambda lib, x: x ** 0.5, P(3, 4))
case("rpow", lambda lib, x: 2.0 ** x, A(3, 4))
case("clamp", lambda lib, x: lib.clamp(x, -0.5, 0.7), A(3, 4), gradcheck=False)
case("clamp_tensor", lambda lib, x, lo: lib.clamp(x, min=lo), A(3, 4), A(4), gradcheck=False)
case("where", lambda lib, m, x, y: lib.where(m, x, y), B(3, 4), A(3, 4), A(4))
case("lerp", lambda lib, x, y, w: lib.lerp(x, y, w), A(3, 4), A(3, 4), A(3, 4))
case("addcmul", lambda lib, x, a, b: lib.addcmul(x, a, b, value=0.5), A(3, 4), A(3, 4), A(4))
case("Tensor.addcdiv", lambda lib, x, a, b: x.addcdiv(a, b), A(3, 4), A(3, 4), P(3, 4))
case("addcdiv", lambda lib, x, a, b: lib.addcdiv(x, a, b, value=0.5), A(3, 4), A(3, 4), P(4))
case("nan_to_num", lambda lib, x: lib.nan_to_num(x / (x - x)), A(3, 4), grad=False,
     gradcheck=False)
case("comparisons", lambda lib, x, y: ((x < y) | (x >= 0.5)) & ~(x == y), A(3, 4), A(3, 4),
     grad=False, gradcheck=False)
case("isfinite", lambda lib, x: lib.isfinite(lib.log(x)), A(3, 4), grad=False, gradcheck=False)
case("to_float64", lambda lib, x: x.to(lib.float64) * 2, A(3, 4))
case("to_int", lambda lib, x: (x * 3).to(lib.int64), A(3, 4), grad=False, gradcheck=False)

# ---- reductions ----------------------------------------------------------------------

for _n in ("sum", "mean", "prod", "amax", "amin", "logsumexp", "std", "var", "norm"):
    if _n != "logsumexp":
        case(f"{_n}_all", lambda lib, x, n=_n: getattr(lib, n)(x), A(3, 4),
             gradcheck=_n not in ("amax", "amin"))
    case(f"{_n}_dim", lambda lib, x, n=_n: getattr(lib, n)(x, dim=1, keepdim=True), A(3, 4, 5),
         gradcheck=_n not in ("amax", "amin"))
    if _n != "prod":     # (torch's prod takes one dim)
        case(f"{_n}_dims", lambda lib, x, n=_n: getattr(lib, n)(x, dim=(0, 2)), A(3, 4, 5),
             gradcheck=_n not in ("amax", "amin"))
case("max_dim", lambda lib, x: lib.max(x, dim=1), A(3, 5), gradcheck=False)
case("min_dim", lambda lib, x: lib.min(x, dim=0, keepdim=True), A(3, 5), gradcheck=False)
case("argmax", lambda lib, x: lib.argmax(x, dim=1), A(3, 5), grad=False, gradcheck=False)
case("cumsum", lambda lib, x: lib.cumsum(x, dim=1), A(3, 5))
case("cumprod", lambda lib, x: lib.cumprod(x, dim=1), P(3, 5))
case("var_correction", lambda lib, x: lib.var(x, dim=1, correction=0), A(3, 5))
case("std_mean", lambda lib, x: lib.std_mean(x, dim=0), A(4, 3))
case("topk", lambda lib, x: lib.topk(x, 2, dim=1), A(3, 5), gradcheck=False)
case("sort", lambda lib, x: lib.sort(x, dim=1, descending=True), A(3, 5), gradcheck=False)
case("median_dim", lambda lib, x: lib.median(x, dim=1), A(3, 5), gradcheck=False)
case("all_any", lambda lib, x: (lib.all(x > -1, dim=1), lib.any(x > 1.5)), A(3, 5),
     grad=False, gradcheck=False)

# ---- shape ---------------------------------------------------------------------------

case("reshape", lambda lib, x: x.reshape(4, 6) * 2, A(2, 3, 4))
case("view_flat", lambda lib, x: x.view(-1), A(2, 3, 4))
case("transpose", lambda lib, x: x.transpose(0, 2), A(2, 3, 4))
case("permute", lambda lib, x: x.permute(2, 0, 1), A(2, 3, 4))
case("squeeze_unsqueeze", lambda lib, x: x.unsqueeze(1).squeeze(0), A(1, 3, 4))
case("expand", lambda lib, x: x.expand(3, 2, 4), A(2, 1))
case("cat", lambda lib, x, y: lib.cat([x, y], dim=1), A(2, 3), A(2, 4))
case("stack", lambda lib, x, y: lib.stack([x, y], dim=0), A(2, 3), A(2, 3))
case("split", lambda lib, x: lib.split(x, [1, 3], dim=1), A(2, 4))
case("chunk", lambda lib, x: lib.chunk(x, 2, dim=0), A(4, 3))
case("flip", lambda lib, x: lib.flip(x, dims=(0, 1)), A(3, 4))
case("roll", lambda lib, x: lib.roll(x, 2, dims=1), A(3, 4))
case("repeat", lambda lib, x: x.repeat(2, 3), A(2, 3))
case("tile", lambda lib, x: lib.tile(x, (2,)), A(3))
case("flatten", lambda lib, x: lib.flatten(x, 1), A(2, 3, 4))
case("tril_triu", lambda lib, x: lib.tril(x) + lib.triu(x, 1), A(4, 4))
case("diagonal", lambda lib, x: lib.diagonal(x), A(4, 4))
case("movedim", lambda lib, x: lib.movedim(x, 0, -1), A(2, 3, 4))
case("unbind", lambda lib, x: lib.unbind(x, 1), A(2, 3))
case("narrow", lambda lib, x: lib.narrow(x, 1, 1, 2), A(3, 4))
case("contiguous_T", lambda lib, x: x.t().contiguous() * 1.0, A(3, 4))

# ---- indexing --------------------------------------------------------------------------

case("getitem_basic", lambda lib, x: x[1:, ::2], A(3, 4))
case("getitem_int_array", lambda lib, x, i: x[i], A(5, 3), I(4, high=5))
case("getitem_bool", lambda lib, x, m: x[m], A(3, 4), B(3, 4))
case("index_select", lambda lib, x, i: lib.index_select(x, 1, i), A(3, 5), I(4, high=5))
case("gather", lambda lib, x, i: lib.gather(x, 1, i), A(3, 5), I(3, 4, high=5))
case("scatter_add", lambda lib, x, i, s: lib.scatter_add(x, 1, i, s), A(3, 5), I(3, 4, high=5),
     A(3, 4))
case("masked_fill", lambda lib, x, m: lib.masked_fill(x, m, 0.5), A(3, 4), B(3, 4))
case("index_add", lambda lib, x, i, s: x.index_add(0, i, s), A(5, 3), I(4, high=5), A(4, 3))
case("take_along_dim", lambda lib, x, i: lib.take_along_dim(x, i, dim=1), A(3, 5),
     I(3, 2, high=5))

# ---- linear algebra -----------------------------------------------------------------------

case("matmul_2d", lambda lib, a, b: lib.matmul(a, b), A(3, 4), A(4, 5))
case("matmul_batched", lambda lib, a, b: a @ b, A(2, 3, 4), A(2, 4, 5))
case("matmul_broadcast", lambda lib, a, b: a @ b, A(2, 3, 4), A(4, 5))
case("matmul_vec", lambda lib, a, b: a @ b, A(3, 4), A(4))
case("bmm", lambda lib, a, b: lib.bmm(a, b), A(2, 3, 4), A(2, 4, 2))
case("einsum", lambda lib, a, b: lib.einsum("bij,bjk->bik", a, b), A(2, 3, 4), A(2, 4, 2))
case("outer", lambda lib, a, b: lib.outer(a, b), A(3), A(4))
case("trace", lambda lib, a: lib.trace(a), A(4, 4))
case("linalg_norm", lambda lib, a: lib.linalg.norm(a, dim=1), A(3, 4))
case("linalg_solve", lambda lib, a, b: lib.linalg.solve(a + 4 * lib.eye(3, dtype=a.dtype), b),
     A(3, 3), A(3, 2))
case("linalg_inv", lambda lib, a: lib.linalg.inv(a + 4 * lib.eye(3, dtype=a.dtype)), A(3, 3))
case("linalg_cholesky", lambda lib, a: lib.linalg.cholesky(a @ a.mT + 3 * lib.eye(3, dtype=a.dtype)),
     A(2, 3, 3))
case("linalg_cholesky_upper", lambda lib, a: lib.linalg.cholesky(
    a @ a.mT + 3 * lib.eye(3, dtype=a.dtype), upper=True), A(3, 3))
for _up in (False, True):
    for _left in (True, False):
        case(f"linalg_solve_triangular_{'upper' if _up else 'lower'}_{'left' if _left else 'right'}",
             lambda lib, a, b, up=_up, left=_left: lib.linalg.solve_triangular(
                 a + 4 * lib.eye(3, dtype=a.dtype), b, upper=up, left=left),
             A(2, 3, 3), A(2, 3, 2) if _left else A(2, 2, 3))
case("linalg_solve_triangular_unit", lambda lib, a, b: lib.linalg.solve_triangular(
    a, b, upper=False, unitriangular=True), A(3, 3), A(3, 2))

# ---- gamma-family special functions (ember/ops/special.py; torch has no d/da of igamma) ------

case("lgamma", lambda lib, x: lib.lgamma(x), Arg((3, 4), 0.1, 6.0))
case("lgamma_negative", lambda lib, x: lib.lgamma(x), Arg((3, 4), -3.9, -3.1))
case("digamma", lambda lib, x: lib.digamma(x), Arg((3, 4), 0.1, 6.0))
case("polygamma_1", lambda lib, x: lib.polygamma(1, x), Arg((3, 4), 0.2, 6.0))
case("polygamma_3", lambda lib, x: x.polygamma(3), Arg((3, 4), 0.3, 6.0))
case("mvlgamma", lambda lib, x: lib.mvlgamma(x, 3), Arg((3, 4), 1.5, 6.0))
case("i0", lambda lib, x: lib.i0(x), A(3, 4, low=-5.0, high=5.0))
for _n in ("i0e", "i1", "i1e"):       # torch.special's; Ember's in ember.ops.special
    case(f"special.{_n}", lambda lib, x, n=_n: getattr(
        lib.special if lib.__name__ == "torch" else lib.ops.special, n)(x),
        A(3, 4, low=-5.0, high=5.0))
case("igamma", lambda lib, a, x: lib.igamma(a, x), Arg((3, 4), 0.5, 4.0, grad=False),
     Arg((3, 4), 0.1, 5.0))
case("igammac", lambda lib, a, x: lib.igammac(a, x), Arg((3, 4), 0.5, 4.0, grad=False),
     Arg((3, 4), 0.1, 5.0))

# ---- nn.functional ---------------------------------------------------------------------------

for _n in ("relu", "gelu", "silu", "mish", "elu", "selu", "celu", "softplus", "softsign",
           "logsigmoid", "hardtanh", "hardswish", "hardsigmoid", "relu6", "leaky_relu",
           "tanhshrink", "softshrink", "hardshrink"):
    case(f"F.{_n}", lambda lib, x, n=_n: getattr(lib.nn.functional, n)(x), A(3, 4),
         gradcheck=_n not in ("relu", "hardtanh", "relu6", "hardswish", "hardsigmoid",
                              "softshrink", "hardshrink", "leaky_relu"))
case("F.gelu_tanh", lambda lib, x: lib.nn.functional.gelu(x, approximate="tanh"), A(3, 4))
case("F.softmax", lambda lib, x: lib.nn.functional.softmax(x, dim=-1), A(3, 5))
case("F.softmax_dim0", lambda lib, x: lib.nn.functional.softmax(x, dim=0), A(3, 5))
case("F.log_softmax", lambda lib, x: lib.nn.functional.log_softmax(x, dim=1), A(3, 5))
case("F.softmax_large", lambda lib, x: lib.nn.functional.softmax(x, dim=-1), A(64, 96),
     gradcheck=False)
case("F.linear", lambda lib, x, w, b: lib.nn.functional.linear(x, w, b), A(4, 3), A(5, 3), A(5))
case("F.linear_3d", lambda lib, x, w, b: lib.nn.functional.linear(x, w, b), A(2, 4, 3), A(5, 3),
     A(5))
case("F.layer_norm", lambda lib, x, w, b: lib.nn.functional.layer_norm(x, (5,), w, b),
     A(3, 4, 5), A(5), A(5))
case("F.group_norm", lambda lib, x, w, b: lib.nn.functional.group_norm(x, 2, w, b),
     A(2, 4, 3), A(4), A(4))
case("F.batch_norm_train", lambda lib, x, w, b: lib.nn.functional.batch_norm(
    x, None, None, w, b, training=True), A(4, 3, 2), A(3), A(3))
case("F.rms_norm", lambda lib, x, w: lib.nn.functional.rms_norm(x, (5,), w), A(3, 5), A(5))
case("F.normalize", lambda lib, x: lib.nn.functional.normalize(x, dim=1), A(3, 4))
case("F.dropout_eval", lambda lib, x: lib.nn.functional.dropout(x, 0.5, training=False),
     A(3, 4))
case("F.mse_loss", lambda lib, x, y: lib.nn.functional.mse_loss(x, y), A(3, 4), A(3, 4))
case("F.l1_loss", lambda lib, x, y: lib.nn.functional.l1_loss(x, y), A(3, 4), A(3, 4),
     gradcheck=False)
case("F.smooth_l1_loss", lambda lib, x, y: lib.nn.functional.smooth_l1_loss(x, y), A(3, 4),
     A(3, 4))
case("F.huber_loss", lambda lib, x, y: lib.nn.functional.huber_loss(x, y, delta=0.5), A(3, 4),
     A(3, 4))
case("F.cross_entropy", lambda lib, x, t: lib.nn.functional.cross_entropy(x, t), A(4, 5),
     I(4, high=5))
case("F.cross_entropy_smooth", lambda lib, x, t: lib.nn.functional.cross_entropy(
    x, t, label_smoothing=0.1), A(4, 5), I(4, high=5))
case("F.cross_entropy_3d", lambda lib, x, t: lib.nn.functional.cross_entropy(x, t), A(2, 5, 3),
     I(2, 3, high=5))
case("F.nll_loss", lambda lib, x, t: lib.nn.functional.nll_loss(x, t), A(4, 5), I(4, high=5))
case("F.bce", lambda lib, x, y: lib.nn.functional.binary_cross_entropy(x, y),
     Arg((3, 4), 0.1, 0.9), Arg((3, 4), 0.0, 1.0, grad=False))
case("F.bce_with_logits", lambda lib, x, y: lib.nn.functional.binary_cross_entropy_with_logits(
    x, y), A(3, 4), Arg((3, 4), 0.0, 1.0, grad=False))
case("F.kl_div", lambda lib, x, y: lib.nn.functional.kl_div(x, y, reduction="batchmean"),
     A(3, 4), Arg((3, 4), 0.1, 1.0))
case("F.embedding", lambda lib, i, w: lib.nn.functional.embedding(i, w), I(2, 3, high=6),
     A(6, 4))
case("F.conv1d", lambda lib, x, w, b: lib.nn.functional.conv1d(x, w, b, padding=1),
     A(2, 3, 8), A(4, 3, 3), A(4))
case("F.conv2d", lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, stride=2, padding=1),
     A(2, 3, 7, 7), A(4, 3, 3, 3), A(4))
case("F.conv2d_groups", lambda lib, x, w: lib.nn.functional.conv2d(x, w, groups=2),
     A(1, 4, 5, 5), A(4, 2, 3, 3))
case("F.conv_transpose2d", lambda lib, x, w: lib.nn.functional.conv_transpose2d(x, w, stride=2),
     A(1, 3, 4, 4), A(3, 2, 3, 3))
case("F.max_pool2d", lambda lib, x: lib.nn.functional.max_pool2d(x, 2), A(2, 3, 6, 6),
     gradcheck=False)
case("F.conv3d", lambda lib, x, w, b: lib.nn.functional.conv3d(
    x, w, b, stride=(1, 2, 1), padding=1), A(2, 2, 4, 5, 4), A(3, 2, 3, 2, 3), A(3))
case("F.conv3d_groups", lambda lib, x, w: lib.nn.functional.conv3d(
    x, w, groups=2, dilation=(2, 1, 1)), A(1, 4, 5, 3, 3), A(4, 2, 2, 2, 2))
case("F.conv_transpose3d", lambda lib, x, w, b: lib.nn.functional.conv_transpose3d(
    x, w, b, stride=2, padding=(1, 0, 1), output_padding=(1, 0, 0)), A(1, 3, 2, 3, 2),
    A(3, 2, 3, 2, 2), A(2))
case("F.max_pool3d", lambda lib, x: lib.nn.functional.max_pool3d(x, 2, stride=(1, 2, 2)),
     A(2, 2, 4, 4, 5), gradcheck=False)
case("F.avg_pool3d", lambda lib, x: lib.nn.functional.avg_pool3d(
    x, 3, stride=2, padding=1, count_include_pad=False), A(1, 2, 5, 6, 5))
case("F.adaptive_avg_pool3d", lambda lib, x: lib.nn.functional.adaptive_avg_pool3d(
    x, (2, 3, 2)), A(2, 2, 5, 4, 5))
case("F.adaptive_max_pool3d", lambda lib, x: lib.nn.functional.adaptive_max_pool3d(
    x, (2, 3, 2)), A(2, 2, 5, 4, 5), gradcheck=False)
case("F.pixel_shuffle", lambda lib, x: lib.nn.functional.pixel_shuffle(x, 2), A(2, 8, 3, 2))
case("F.channel_shuffle", lambda lib, x: lib.nn.functional.channel_shuffle(x, 3),
     A(2, 6, 2, 3))
case("F.avg_pool2d", lambda lib, x: lib.nn.functional.avg_pool2d(x, 3, stride=2, padding=1),
     A(2, 3, 7, 7))
case("F.adaptive_avg_pool2d", lambda lib, x: lib.nn.functional.adaptive_avg_pool2d(x, (2, 3)),
     A(2, 3, 5, 7))
case("F.max_pool1d", lambda lib, x: lib.nn.functional.max_pool1d(x, 3, stride=2), A(2, 3, 9),
     gradcheck=False)
case("F.pad_reflect", lambda lib, x: lib.nn.functional.pad(x, (1, 2, 2, 1), mode="reflect"),
     A(1, 2, 4, 5))
case("F.pad_constant", lambda lib, x: lib.nn.functional.pad(x, (1, 1), value=0.5), A(2, 3))
case("F.interpolate_nearest", lambda lib, x: lib.nn.functional.interpolate(
    x, scale_factor=2, mode="nearest"), A(1, 2, 3, 3))
case("F.interpolate_bilinear", lambda lib, x: lib.nn.functional.interpolate(
    x, size=(5, 4), mode="bilinear", align_corners=False), A(1, 2, 3, 3))
case("F.unfold", lambda lib, x: lib.nn.functional.unfold(x, 2, stride=1), A(1, 2, 4, 4))
case("F.cosine_similarity", lambda lib, x, y: lib.nn.functional.cosine_similarity(x, y),
     A(3, 4), A(3, 4))
case("F.pairwise_distance", lambda lib, x, y: lib.nn.functional.pairwise_distance(x, y),
     A(3, 4), A(3, 4))
case("F.one_hot", lambda lib, i: lib.nn.functional.one_hot(i, 5), I(4, high=5), grad=False,
     gradcheck=False)
case("F.sdpa", lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(q, k, v),
     A(2, 2, 4, 8), A(2, 2, 5, 8), A(2, 2, 5, 8))
case("F.sdpa_causal", lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(
    q, k, v, is_causal=True), A(1, 2, 6, 8), A(1, 2, 6, 8), A(1, 2, 6, 8))
case("F.sdpa_mask", lambda lib, q, k, v, m: lib.nn.functional.scaled_dot_product_attention(
    q, k, v, attn_mask=m), A(1, 2, 4, 8), A(1, 2, 5, 8), A(1, 2, 5, 8), A(4, 5))

# ---- torch.special --------------------------------------------------------------------------

_SPECIAL_UNARY = {   # name: input spec (differentiable ones: values, gradients, gradcheck)
    "entr": P, "erfcx": A, "i0": A, "i0e": A, "i1": A, "i1e": A, "ndtr": A,
    "ndtri": lambda *s: Arg(s, 0.05, 0.95), "log_ndtr": A, "sinc": A, "expit": A,
    "logit": lambda *s: Arg(s, 0.05, 0.95), "log1p": P, "expm1": A, "exp2": A, "erf": A,
    "erfc": A, "erfinv": U, "gammaln": P, "digamma": P, "psi": P, "round": A,
}
for _n, _spec in _SPECIAL_UNARY.items():
    case(f"special.{_n}", lambda lib, x, n=_n: getattr(lib.special, n)(x), _spec(3, 4),
         gradcheck=_n != "round")
_SPECIAL_NO_GRAD = {   # torch gives these no gradient
    "airy_ai": A, "bessel_j0": A, "bessel_j1": A, "bessel_y0": P, "bessel_y1": P,
    "modified_bessel_i0": A, "modified_bessel_i1": A, "modified_bessel_k0": P,
    "modified_bessel_k1": P, "scaled_modified_bessel_k0": P, "scaled_modified_bessel_k1": P,
    "spherical_bessel_j0": A,
}
for _n, _spec in _SPECIAL_NO_GRAD.items():
    case(f"special.{_n}", lambda lib, x, n=_n: getattr(lib.special, n)(x), _spec(3, 4),
         grad=False, gradcheck=False)
for _n in ["chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v",
           "chebyshev_polynomial_w", "shifted_chebyshev_polynomial_t",
           "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
           "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he",
           "laguerre_polynomial_l", "legendre_polynomial_p"]:
    case(f"special.{_n}", lambda lib, x, k, n=_n: getattr(lib.special, n)(x, k), U(3, 4),
         np.array([[0.0, 1.0, 2.0, 5.0], [3.0, 9.0, -1.0, 2.5], [7.0, 4.0, 0.0, 1.0]]),
         grad=False, gradcheck=False)
case("special.xlog1py", lambda lib, x, y: lib.special.xlog1py(x, y), A(3, 4), P(3, 4))
case("special.xlog1py_broadcast", lambda lib, x, y: lib.special.xlog1py(x, y), A(2, 3), P(3))
case("special.xlogy", lambda lib, x, y: lib.special.xlogy(x, y), A(3, 4), P(3, 4))
case("special.zeta", lambda lib, x, q: lib.special.zeta(x, q), Arg((3, 4), 1.5, 4.0, grad=False),
     P(3, 4))   # (differentiable in q only, as torch)
case("special.polygamma", lambda lib, x: lib.special.polygamma(2, x), P(3, 4))
case("special.multigammaln", lambda lib, x: lib.special.multigammaln(x + 2, 3), P(3, 4))
case("special.gammainc", lambda lib, a, x: lib.special.gammainc(a, x),
     Arg((3, 4), 0.2, 2.0, grad=False), P(3, 4))     # (differentiable in x only, as torch)
case("special.gammaincc", lambda lib, a, x: lib.special.gammaincc(a, x),
     Arg((3, 4), 0.2, 2.0, grad=False), P(3, 4))
case("special.logsumexp", lambda lib, x: lib.special.logsumexp(x, 1), A(3, 4))
case("special.softmax", lambda lib, x: lib.special.softmax(x, 0), A(3, 4))
case("special.log_softmax", lambda lib, x: lib.special.log_softmax(x, -1), A(3, 4))
case("i0", lambda lib, x: lib.i0(x), A(3, 4))
case("Tensor.sinc", lambda lib, x: x.sinc(), A(3, 4))

# ---- the rest of torch's Tensor methods (ember/ops/misc.py) ----------------------------------

case("diff", lambda lib, x: lib.diff(x), A(3, 5))
case("diff_n2_prepend", lambda lib, x, p: x.diff(n=2, dim=0, prepend=p), A(4, 3), A(2, 3))
case("unfold", lambda lib, x: x.unfold(1, 3, 2), A(2, 7, 2))
case("unfold_overlap", lambda lib, x: x.unfold(0, 4, 1), A(6))
case("cov", lambda lib, x: lib.cov(x), A(3, 6))
case("cov_weights", lambda lib, x: lib.cov(x, correction=0, fweights=lib.tensor([1, 2, 1, 3]),
                                           aweights=lib.tensor([0.5, 1.0, 2.0, 1.0], dtype=x.dtype)),
     A(2, 4))
case("corrcoef", lambda lib, x: lib.corrcoef(x), A(3, 6))
case("addr", lambda lib, m, a, b: lib.addr(m, a, b, beta=0.5, alpha=2), A(3, 4), A(3), A(4))
case("Tensor.addr", lambda lib, m, a, b: m.addr(a, b), A(4), A(3), A(4))
case("dist", lambda lib, x, y: lib.dist(x, y), A(3, 4), A(4))
case("dist_p3", lambda lib, x, y: lib.dist(x, y, 3), A(3, 4), A(3, 4))
case("diagflat", lambda lib, x: lib.diagflat(x, 1), A(2, 2))
case("renorm", lambda lib, x: lib.renorm(x, 2, 0, 1.5), A(3, 4))
case("renorm_p1_dim1", lambda lib, x: x.renorm(1, 1, 2.0), A(3, 4))
case("ldexp", lambda lib, x: lib.ldexp(x, lib.tensor([1, 2, 3, 0])), A(3, 4))
# (torch's gradient for a negative integer exponent is 0, from 2 ** -2 in integers; Ember's is
# the true 2 ** -2, so the negative exponents are compared as values only)
case("ldexp_negative", lambda lib, x: lib.ldexp(x, lib.tensor([-1, -2, 3, 0])), A(3, 4),
     grad=False, gradcheck=False)
case("logcumsumexp", lambda lib, x: lib.logcumsumexp(x, 1), A(3, 5))
case("logcumsumexp_dim0", lambda lib, x: x.logcumsumexp(0), A(4, 2, low=-30, high=30))
case("select_scatter", lambda lib, x, s: lib.select_scatter(x, s, 1, 2), A(3, 4), A(3))
case("slice_scatter", lambda lib, x, s: lib.slice_scatter(x, s, 1, 0, 4, 2), A(3, 4), A(3, 2))
case("diagonal_scatter", lambda lib, x, s: lib.diagonal_scatter(x, s, 1), A(3, 4), A(3))
case("angle", lambda lib, x: lib.angle(x), A(3, 4), gradcheck=False)
