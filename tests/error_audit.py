"""Error-quality audit: bad input to the public API, Ember next to torch.

    python tests/error_audit.py            # writes docs/ERRORS.md, prints a summary

Every case is one call written against the torch API and run with
``lib = torch`` and ``lib = ember``.  A case is *ok* when Ember does what
torch does: both succeed, or both raise the same kind of exception (the
nearest built-in class: RuntimeError, ValueError, TypeError, IndexError ...)
and Ember's message is its own (not an error from inside NumPy, and never
an AttributeError torch doesn't raise) and contains ``expect`` -- the
argument's name or the offending value -- when the case names one.

``tests/test_errors.py`` runs the same table as a test.
"""
import io
import os
import sys
import traceback
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CASES = []   # (group, description, fn(lib), expect: tuple of substrings)


def case(group, desc, expect=()):
    """Decorator registering ``fn(lib)`` as an audit case."""
    if isinstance(expect, str):
        expect = (expect,)

    def deco(fn):
        CASES.append((group, desc, fn, tuple(expect)))
        return fn
    return deco


def C(group, desc, fn, expect=()):
    case(group, desc, expect)(fn)


def _add(group, rows):
    for row in rows:
        C(group, row[0], row[1], row[2] if len(row) > 2 else ())


def _ds(lib, n=10):
    return lib.utils.data.TensorDataset(lib.arange(n * 2.0).reshape(n, 2), lib.arange(n))


def _opt_params(lib):
    return [lib.nn.Parameter(lib.ones(2, 2))]


def _sgd(lib):
    return lib.optim.SGD(_opt_params(lib), lr=0.1)


# ---- creation ------------------------------------------------------------------------------------
G = "creation"
C(G, "tensor([[1, 2], [3]]) (ragged)", lambda L: L.tensor([[1, 2], [3]]))
C(G, "tensor('abc')", lambda L: L.tensor("abc"))
C(G, "tensor([1, 2], dtype='float32') (a string dtype)",
  lambda L: L.tensor([1, 2], dtype="float32"), "dtype")
C(G, "tensor([1.0], device='cuda')", lambda L: L.tensor([1.0], device="cuda"), "cuda")
C(G, "zeros(-1)", lambda L: L.zeros(-1), "-1")
C(G, "zeros(2.5)", lambda L: L.zeros(2.5), "float")
C(G, "zeros((2, 'a'))", lambda L: L.zeros((2, "a")))
C(G, "ones(2, 3, device='cuda:0')", lambda L: L.ones(2, 3, device="cuda:0"), "cuda")
C(G, "ones(2, device='tpu')", lambda L: L.ones(2, device="tpu"), "tpu")
C(G, "full((2,), 'x')", lambda L: L.full((2,), "x"), ("fill_value", "str"))
C(G, "arange(0, 10, 0) (zero step)", lambda L: L.arange(0, 10, 0), "step")
C(G, "arange(10, 0, 1) (wrong sign)", lambda L: L.arange(10, 0, 1), "lower bound")
C(G, "arange(0, float('nan'))", lambda L: L.arange(0, float("nan")))
C(G, "linspace(0, 1, -1)", lambda L: L.linspace(0, 1, -1), "steps")
C(G, "logspace(0, 1, -2)", lambda L: L.logspace(0, 1, -2), "steps")
C(G, "eye(-1)", lambda L: L.eye(-1), "-1")
C(G, "eye(2, -3)", lambda L: L.eye(2, -3), "-3")
C(G, "empty(-2, 3)", lambda L: L.empty(-2, 3), "-2")
C(G, "randn(-1)", lambda L: L.randn(-1), "-1")
C(G, "rand(2, dtype=int64)", lambda L: L.rand(2, dtype=L.int64))
C(G, "randn(2, dtype=int64)", lambda L: L.randn(2, dtype=L.int64))
C(G, "randint(5, 5, (2,)) (empty range)", lambda L: L.randint(5, 5, (2,)))
C(G, "randint(0, 5) (no size)", lambda L: L.randint(0, 5))
C(G, "randperm(-1)", lambda L: L.randperm(-1), "-1")
C(G, "from_numpy([1, 2]) (a list)", lambda L: L.from_numpy([1, 2]), "list")
C(G, "from_numpy(complex array)", lambda L: L.from_numpy(np.zeros(2, np.complex64)))
C(G, "zeros_like([1, 2]) (not a tensor)", lambda L: L.zeros_like([1, 2]), "list")
C(G, "as_tensor(object())", lambda L: L.as_tensor(object()))
C(G, "tensor(2**70) (overflow)", lambda L: L.tensor(2 ** 70), "Overflow")
C(G, "scalar_tensor('a')", lambda L: L.scalar_tensor("a"))

# ---- values that do not fit, overlapping writes, wrong gradients (issue 21) ---------------------
G = "validation"


def _grad_of_shape(L):
    p = L.zeros(2, 3, requires_grad=True)
    p.grad = L.zeros(3, 2)


def _grad_of_dtype(L):
    p = L.zeros(2, 3, requires_grad=True)
    p.grad = L.zeros(2, 3, dtype=L.float64)


def _hook_wrong_shape(L):
    x = L.ones(2, 3, requires_grad=True)
    x.register_hook(lambda g: L.ones(3))
    (x * 2).sum().backward()


def _function_wrong_shape(L):
    class Twice(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return L.ones(3, 2)
    Twice.apply(L.ones(2, 3, requires_grad=True)).sum().backward()


def _shifted_copy(L):
    a = L.arange(6.0)
    a[1:].copy_(a[:-1])


def _shifted_setitem(L):
    a = L.arange(6.0)
    a[1:] = a[:-1]


_add(G, [
    ("tensor([300], dtype=uint8)", lambda L: L.tensor([300], dtype=L.uint8), "uint8"),
    ("tensor([2**31], dtype=int32)", lambda L: L.tensor([2 ** 31], dtype=L.int32), "int32"),
    ("tensor([nan], dtype=int64)", lambda L: L.tensor([float("nan")], dtype=L.int64)),
    ("full((2,), 300, dtype=uint8)", lambda L: L.full((2,), 300, dtype=L.uint8), "uint8_t"),
    ("full((2,), 1e40, dtype=float32)", lambda L: L.full((2,), 1e40, dtype=L.float32), "float"),
    ("zeros(2, dtype=int8).fill_(200)", lambda L: L.zeros(2, dtype=L.int8).fill_(200), "int8_t"),
    ("int8 masked_fill(200)",
     lambda L: L.zeros(2, dtype=L.int8).masked_fill(L.tensor([True, False]), 200), "int8_t"),
    ("int8 clamp(max=200)", lambda L: L.zeros(2, dtype=L.int8).clamp(max=200), "int8_t"),
    ("int8 tensor + 200 (wraps)", lambda L: L.ones(2, dtype=L.int8) + 200),
    ("int8 tensor + 2**64", lambda L: L.ones(2, dtype=L.int8) + 2 ** 64, "too big"),
    ("zeros(2, dtype='float32')", lambda L: L.zeros(2, dtype="float32"), "dtype"),
    ("zeros(2, dtype=np.float32)", lambda L: L.zeros(2, dtype=np.float32), "dtype"),
    ("zeros(10**13) (40 TB)", lambda L: L.zeros(10 ** 13), "allocate"),
    ("randn(2**62) (size overflows)", lambda L: L.randn(2 ** 62), "overflow"),
    ("p.grad = tensor of another shape", _grad_of_shape, "size"),
    ("p.grad = tensor of another dtype", _grad_of_dtype, "dtype"),
    ("binary_cross_entropy(target 1.5)",
     lambda L: L.nn.functional.binary_cross_entropy(L.tensor([0.5]), L.tensor([1.5])), "target"),
    ("multi_margin_loss(target out of range)",
     lambda L: L.nn.functional.multi_margin_loss(L.ones(2, 3), L.tensor([0, 3])), "target"),
    ("a[1:].copy_(a[:-1]) (overlap)", _shifted_copy, "memory location"),
    ("a[1:] = a[:-1] (overlap)", _shifted_setitem, "memory location"),
    ("tensor hook returns another shape", _hook_wrong_shape, "hook"),
    ("Function.backward returns another shape", _function_wrong_shape, "TwiceBackward"),
])

# ---- random --------------------------------------------------------------------------------------
G = "random"
C(G, "manual_seed('x')", lambda L: L.manual_seed("x"))
C(G, "manual_seed(-1) (negative seed)", lambda L: L.manual_seed(-1))
C(G, "bernoulli(p > 1)", lambda L: L.bernoulli(L.tensor([1.5])), "1")
C(G, "multinomial(negative probs)", lambda L: L.multinomial(L.tensor([-1.0, 2.0]), 1))
C(G, "multinomial(zero probs)", lambda L: L.multinomial(L.tensor([0.0, 0.0]), 1))
C(G, "multinomial(n > categories, no replacement)",
  lambda L: L.multinomial(L.tensor([0.5, 0.5]), 3))
C(G, "normal(0, -1, (2,)) (negative std)", lambda L: L.normal(0.0, -1.0, (2,)), "std")
C(G, "Tensor.uniform_(1, 0) (from > to)", lambda L: L.empty(2).uniform_(1, 0))
C(G, "Tensor.normal_(std=-1)", lambda L: L.empty(2).normal_(0, -1), "std")
C(G, "Tensor.random_(5, 2)", lambda L: L.empty(2).random_(5, 2))
C(G, "poisson(negative rates)", lambda L: L.poisson(L.tensor([-1.0])))

# ---- dtypes and devices --------------------------------------------------------------------------
G = "dtype/device"
C(G, "set_default_dtype(int64)", lambda L: L.set_default_dtype(L.int64), "float")
C(G, "set_default_dtype('float64') (a string)", lambda L: L.set_default_dtype("float64"))
C(G, "Tensor.to('cuda')", lambda L: L.ones(2).to("cuda"), "cuda")
C(G, "Tensor.cuda()", lambda L: L.ones(2).cuda())
C(G, "Tensor.to('bogus')", lambda L: L.ones(2).to("bogus"), "bogus")
C(G, "Tensor.to(dtype='float')", lambda L: L.ones(2).to(dtype="float"))
C(G, "device('cuda:x')", lambda L: L.device("cuda:x"), "cuda:x")
C(G, "device(3.5)", lambda L: L.device(3.5))
C(G, "Module.to('cuda')", lambda L: L.nn.Linear(2, 2).to("cuda"), "cuda")
C(G, "Tensor.type('bogus')", lambda L: L.ones(2).type("bogus"), "bogus")
C(G, "finfo(int64)", lambda L: L.finfo(L.int64))
C(G, "iinfo(float32)", lambda L: L.iinfo(L.float32))

# ---- shapes and views ----------------------------------------------------------------------------
G = "shape"
C(G, "view(5) of 6 elements", lambda L: L.ones(2, 3).view(5), "5")
C(G, "view(-1, -1)", lambda L: L.ones(2, 3).view(-1, -1))
C(G, "view of a non-contiguous tensor", lambda L: L.ones(2, 3).t().view(6), "view")
C(G, "reshape(4, 2) of 6 elements", lambda L: L.ones(2, 3).reshape(4, 2), "[4, 2]")
C(G, "reshape('a')", lambda L: L.ones(2).reshape("a"))
C(G, "transpose(0, 5)", lambda L: L.ones(2, 3).transpose(0, 5), "5")
C(G, "permute(0) of a 2-d tensor", lambda L: L.ones(2, 3).permute(0), "permute")
C(G, "permute(0, 0) (repeated dim)", lambda L: L.ones(2, 3).permute(0, 0))
C(G, "squeeze(3)", lambda L: L.ones(2, 3).squeeze(3), "3")
C(G, "unsqueeze(5)", lambda L: L.ones(2, 3).unsqueeze(5), "5")
C(G, "expand(4, 3) from (2, 3)", lambda L: L.ones(2, 3).expand(4, 3), "4")
C(G, "expand(3) from (2, 3) (fewer dims)", lambda L: L.ones(2, 3).expand(3))
C(G, "expand(-2, 3)", lambda L: L.ones(1, 3).expand(-2, 3), "-2")
C(G, "narrow(0, 1, 5) past the end", lambda L: L.ones(2, 3).narrow(0, 1, 5))
C(G, "narrow(0, -5, 1)", lambda L: L.ones(2, 3).narrow(0, -5, 1))
C(G, "select(1, 3) out of range", lambda L: L.ones(2, 3).select(1, 3), "3")
C(G, "flatten(1, 0) (start > end)", lambda L: L.ones(2, 3).flatten(1, 0))
C(G, "unflatten(1, (2, 2)) of size 3", lambda L: L.ones(2, 3).unflatten(1, (2, 2)))
C(G, "chunk(0)", lambda L: L.ones(4).chunk(0), "chunk")
C(G, "split(0)", lambda L: L.ones(4).split(0))
C(G, "split([1, 2]) of 4", lambda L: L.ones(4).split([1, 2]), "4")
C(G, "repeat(2) of a 2-d tensor", lambda L: L.ones(2, 3).repeat(2))
C(G, "repeat(-1, 1)", lambda L: L.ones(2, 3).repeat(-1, 1))
C(G, "flip(0, 0) (repeated dim)", lambda L: L.ones(2, 3).flip(0, 0))
C(G, "roll(1, (0, 1)) (lengths differ)", lambda L: L.ones(2, 3).roll(1, (0, 1)))
C(G, "movedim(0, 5)", lambda L: L.ones(2, 3).movedim(0, 5), "5")
C(G, "cat([]) (empty list)", lambda L: L.cat([]))
C(G, "cat of (2, 3) and (2, 4) on dim 0", lambda L: L.cat([L.ones(2, 3), L.ones(2, 4)]), "3")
C(G, "cat with dim 2 on 2-d", lambda L: L.cat([L.ones(2, 3), L.ones(2, 3)], 2), "2")
C(G, "cat((t, 5))", lambda L: L.cat((L.ones(2), 5)), "int")
C(G, "stack of (2,) and (3,)", lambda L: L.stack([L.ones(2), L.ones(3)]), "stack")
C(G, "diagonal(0, 0, 0) (same dims)", lambda L: L.ones(2, 2).diagonal(0, 0, 0))
C(G, "tril of a 1-d tensor", lambda L: L.ones(3).tril(), "tril")
C(G, "t() of a 3-d tensor", lambda L: L.ones(2, 2, 2).t(), "t()")
C(G, "broadcast_to((2, 3), (3, 3))", lambda L: L.broadcast_to(L.ones(2, 3), (3, 3)))
C(G, "tensor_split(0 sections)", lambda L: L.ones(4).tensor_split(0))

# ---- indexing ------------------------------------------------------------------------------------
G = "indexing"
C(G, "x[5] on size 3", lambda L: L.ones(3)[5], "5")
C(G, "x[:, 4] on (2, 3)", lambda L: L.ones(2, 3)[:, 4], "4")
C(G, "x[0, 0, 0] on 2-d (too many)", lambda L: L.ones(2, 3)[0, 0, 0])
C(G, "x[[0, 7]] (advanced, out of range)", lambda L: L.ones(3)[L.tensor([0, 7])], "7")
C(G, "x[mask] with a mask of wrong shape", lambda L: L.ones(2, 3)[L.tensor([True, False, True])])
C(G, "x[float tensor]", lambda L: L.ones(3)[L.tensor([0.0, 1.0])], "tensors used as indices")
C(G, "x['a']", lambda L: L.ones(3)["a"])
C(G, "x[::-1] (negative step)", lambda L: L.ones(3)[::-1], "step")
C(G, "x[::0] (zero step)", lambda L: L.ones(3)[::0])
C(G, "x[0] = tensor of shape (4,) into (3,)", lambda L: L.ones(2, 3).__setitem__(0, L.ones(4)), "4")
C(G, "x[5] = 1 out of range", lambda L: L.ones(3).__setitem__(5, 1.0), "5")
C(G, "gather(dim 0, index of other rank)",
  lambda L: L.ones(2, 3).gather(0, L.tensor([0, 1])), "dimensions")
C(G, "gather(index out of range)", lambda L: L.ones(2, 3).gather(1, L.tensor([[5], [0]])), "5")
C(G, "gather(float index)", lambda L: L.ones(2, 3).gather(1, L.tensor([[0.0], [1.0]])))
C(G, "gather(dim 3)", lambda L: L.ones(2, 3).gather(3, L.tensor([[0], [0]])), "3")
C(G, "scatter_(index out of range)",
  lambda L: L.zeros(3).scatter_(0, L.tensor([5]), L.ones(1)), "5")
C(G, "index_select(float index)", lambda L: L.ones(3).index_select(0, L.tensor([0.0])))
C(G, "index_select(index out of range)",
  lambda L: L.ones(3).index_select(0, L.tensor([3])), "3")
C(G, "index_select(2-d index)", lambda L: L.ones(3).index_select(0, L.tensor([[0]])))
C(G, "masked_fill(int mask)", lambda L: L.ones(3).masked_fill(L.tensor([1, 0, 1]), 0.0), "mask")
C(G, "masked_fill(mask of wrong shape)",
  lambda L: L.ones(3).masked_fill(L.tensor([True, False]), 0))
C(G, "masked_select(int mask)", lambda L: L.ones(3).masked_select(L.tensor([1, 0, 1])), "mask")
C(G, "index_add_(src of wrong size)",
  lambda L: L.zeros(3, 2).index_add_(0, L.tensor([0]), L.ones(1, 3)))
C(G, "take(index out of range)", lambda L: L.ones(3).take(L.tensor([5])), "5")
C(G, "put_ on an out-of-range index", lambda L: L.zeros(3).put_(L.tensor([9]), L.ones(1)), "9")

# ---- elementwise, reductions, linear algebra -----------------------------------------------------
G = "math"
C(G, "(2, 3) + (4,) (no broadcast)", lambda L: L.ones(2, 3) + L.ones(4), "(4)")
C(G, "add(x, 'a')", lambda L: L.add(L.ones(2), "a"))
C(G, "x + [1, 2] (a list)", lambda L: L.ones(2) + [1, 2])
C(G, "add(int, int, alpha=0.5)", lambda L: L.add(L.tensor([1]), L.tensor([1]), alpha=0.5), "alpha")
C(G, "bool - bool", lambda L: L.tensor([True]) - L.tensor([False]), "Subtraction")
C(G, "int tensor ** -1", lambda L: L.tensor([2]) ** -1, "negative")
C(G, "div(rounding_mode='bogus')", lambda L: L.div(L.ones(2), 2, rounding_mode="bogus"), "bogus")
C(G, "int // 0", lambda L: L.tensor([1]) // 0, "ZeroDivisionError")
C(G, "int % 0", lambda L: L.tensor([1]) % 0, "ZeroDivisionError")
C(G, "bitwise_and on floats", lambda L: L.bitwise_and(L.ones(2), L.ones(2)))
C(G, "clamp() with no bounds", lambda L: L.clamp(L.ones(2)), "min")
C(G, "sqrt of a string", lambda L: L.sqrt("a"), "str")
C(G, "exp(None)", lambda L: L.exp(None), "None")
C(G, "lerp(weight of wrong shape)", lambda L: L.lerp(L.ones(2), L.ones(2), L.ones(3)))
C(G, "sum(dim=2) of 2-d", lambda L: L.ones(2, 3).sum(2), "2")
C(G, "sum(dim=(0, 0)) (repeated)", lambda L: L.ones(2, 3).sum((0, 0)), "0")
C(G, "sum(dim='a')", lambda L: L.ones(2, 3).sum("a"))
C(G, "mean() of an int tensor", lambda L: L.tensor([1, 2]).mean(), "Long")
C(G, "max(dim=0) of an empty tensor", lambda L: L.ones(0, 3).max(0), "dim")
C(G, "max() of an empty tensor", lambda L: L.ones(0).max(), "numel")
C(G, "argmax(dim=3)", lambda L: L.ones(2, 3).argmax(3), "3")
C(G, "softmax(dim=2) of 2-d", lambda L: L.ones(2, 3).softmax(2), "2")
C(G, "log_softmax of an int tensor", lambda L: L.tensor([1, 2]).log_softmax(0))
C(G, "topk(5) of 3 elements", lambda L: L.ones(3).topk(5), "range")
C(G, "kthvalue(0)", lambda L: L.ones(3).kthvalue(0), "k")
C(G, "cumsum(dim=2) of 2-d", lambda L: L.ones(2, 3).cumsum(2), "2")
C(G, "var(correction='a')", lambda L: L.ones(3).var(correction="a"), ("correction", "str"))
C(G, "norm(p='bogus')", lambda L: L.ones(3).norm(p="bogus"), "bogus")
C(G, "quantile(q=1.5)", lambda L: L.ones(3).quantile(1.5), "q")
C(G, "matmul (2, 3) @ (2, 3)", lambda L: L.ones(2, 3) @ L.ones(2, 3), "2x3")
C(G, "matmul with a 0-d tensor", lambda L: L.ones(3) @ L.tensor(2.0), "0")
C(G, "mm of 3-d tensors", lambda L: L.mm(L.ones(2, 2, 2), L.ones(2, 2)))
C(G, "bmm of 2-d tensors", lambda L: L.bmm(L.ones(2, 2), L.ones(2, 2)), "3D")
C(G, "dot of sizes 2 and 3", lambda L: L.dot(L.ones(2), L.ones(3)), "size")
C(G, "dot of 2-d tensors", lambda L: L.dot(L.ones(2, 2), L.ones(2, 2)), "1D")
C(G, "matmul float32 @ float64", lambda L: L.ones(2, 2) @ L.ones(2, 2, dtype=L.float64), "dtype")
C(G, "inverse of a singular matrix", lambda L: L.inverse(L.zeros(2, 2)), "singular")
C(G, "inverse of a non-square matrix", lambda L: L.inverse(L.ones(2, 3)), "square")
C(G, "einsum('ij,jk', (2, 3), (2, 3))",
  lambda L: L.einsum("ij,jk", L.ones(2, 3), L.ones(2, 3)))
C(G, "einsum with a bad equation", lambda L: L.einsum("ij->k", L.ones(2, 3)))
C(G, "cross of size-2 vectors", lambda L: L.cross(L.ones(2), L.ones(2), dim=0))
C(G, "equal((2,), 'a')", lambda L: L.equal(L.ones(2), "a"))
C(G, "where(float condition)", lambda L: L.where(L.ones(2), L.ones(2), L.zeros(2)), "bool")

# ---- Tensor conversions and autograd -------------------------------------------------------------
G = "autograd"
C(G, "item() of 2 elements", lambda L: L.ones(2).item(), "2")
C(G, "bool() of 2 elements", lambda L: bool(L.ones(2)), "ambiguous")
C(G, "int() of 2 elements", lambda L: int(L.ones(2)), "one element")
C(G, "len() of a 0-d tensor", lambda L: len(L.tensor(1.0)), "0-d")
C(G, "iter over a 0-d tensor", lambda L: iter(L.tensor(1.0)), "0-d")
C(G, "numpy() of a tensor that requires grad",
  lambda L: L.ones(2, requires_grad=True).numpy(), "requires grad")
C(G, "backward() of a non-scalar", lambda L: (L.ones(2, requires_grad=True) * 2).backward(),
  "scalar")
C(G, "backward() of a tensor without grad", lambda L: L.ones(1).sum().backward(), "grad")
C(G, "backward twice", lambda L: _twice(L), "second time")
C(G, "backward(gradient of wrong shape)",
  lambda L: (L.ones(2, requires_grad=True) * 2).backward(L.ones(3)), "shape")
C(G, "requires_grad_() on an int tensor", lambda L: L.tensor([1]).requires_grad_(),
  "floating point")
C(G, "tensor(int, requires_grad=True)", lambda L: L.tensor([1, 2], requires_grad=True),
  "floating point")
C(G, "requires_grad_(False) on a non-leaf",
  lambda L: (L.ones(1, requires_grad=True) * 2).requires_grad_(False), "leaf")
C(G, "in-place on a leaf that requires grad",
  lambda L: L.ones(2, requires_grad=True).add_(1), "leaf Variable")
C(G, "in-place on a view of a leaf", lambda L: L.ones(2, requires_grad=True)[0].mul_(2), "view")
C(G, "in-place on an expanded tensor", lambda L: L.ones(1, 3).expand(2, 3).add_(1),
  "single memory location")
C(G, "saved tensor modified in place", lambda L: _stale(L), "modified by an inplace operation")
C(G, "autograd.grad of an unused input",
  lambda L: _unused(L), "appears to not have been used in the graph")
C(G, "autograd.grad w.r.t. a tensor without grad",
  lambda L: L.autograd.grad(L.ones(1, requires_grad=True).sum(), L.ones(1)), "require grad")
C(G, "retain_grad() on a tensor without grad", lambda L: L.ones(2).retain_grad(),
  "requires_grad=False")
C(G, "register_hook on a tensor without grad", lambda L: L.ones(2).register_hook(lambda g: g),
  "doesn't require gradient")
C(G, "set_grad_enabled('yes')", lambda L: L.set_grad_enabled("yes"))
C(G, "Function.apply with backward not implemented", lambda L: _no_backward(L), "backward")
C(G, "Function backward returning too many grads", lambda L: _too_many(L), "incorrect number")


def _twice(L):
    x = L.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()


def _stale(L):
    x = L.ones(2, requires_grad=True)
    y = x.exp()
    y.add_(1)
    y.sum().backward()


def _unused(L):
    a = L.ones(1, requires_grad=True)
    b = L.ones(1, requires_grad=True)
    L.autograd.grad((a * 2).sum(), [a, b])


def _no_backward(L):
    class F(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2
    F.apply(L.ones(1, requires_grad=True)).sum().backward()


def _too_many(L):
    class F(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g
    F.apply(L.ones(1, requires_grad=True)).sum().backward()


# ---- nn layers (construction) --------------------------------------------------------------------
G = "nn layers"
nn_cases = [
    ("Linear(-1, 3)", lambda L: L.nn.Linear(-1, 3), "-1"),
    ("Linear(2.5, 3)", lambda L: L.nn.Linear(2.5, 3), "float"),
    ("Bilinear(2, 2, -1)", lambda L: L.nn.Bilinear(2, 2, -1), "-1"),
    ("Conv2d(kernel_size=-1)", lambda L: L.nn.Conv2d(1, 1, -1), "-1"),
    ("Conv2d(kernel_size=0)", lambda L: L.nn.Conv2d(1, 1, 0), "0"),
    ("Conv2d(stride=0)", lambda L: L.nn.Conv2d(1, 1, 3, stride=0), "stride"),
    ("Conv2d(padding=-1)", lambda L: L.nn.Conv2d(1, 1, 3, padding=-1), "padding"),
    ("Conv2d(groups=0)", lambda L: L.nn.Conv2d(2, 2, 3, groups=0), "groups"),
    ("Conv2d(in 3 not divisible by groups 2)", lambda L: L.nn.Conv2d(3, 4, 3, groups=2),
     "in_channels"),
    ("Conv2d(out 3 not divisible by groups 2)", lambda L: L.nn.Conv2d(4, 3, 3, groups=2),
     "out_channels"),
    ("Conv2d(padding='bogus')", lambda L: L.nn.Conv2d(1, 1, 3, padding="bogus"), "bogus"),
    ("Conv2d(padding='same', stride=2)", lambda L: L.nn.Conv2d(1, 1, 3, padding="same", stride=2),
     "same"),
    ("Conv2d(padding_mode='bogus')", lambda L: L.nn.Conv2d(1, 1, 3, padding_mode="bogus"),
     "bogus"),
    ("Conv1d(0, 1, 3)", lambda L: L.nn.Conv1d(0, 1, 3)),
    ("ConvTranspose2d(output_padding >= stride)",
     lambda L: L.nn.ConvTranspose2d(1, 1, 3, stride=1, output_padding=1)(L.ones(1, 1, 4, 4)),
     "output padding"),
    ("MaxPool2d(kernel_size=0)", lambda L: L.nn.MaxPool2d(0)(L.ones(1, 1, 4, 4)), "kernel"),
    ("MaxPool2d(padding > kernel/2)", lambda L: L.nn.MaxPool2d(2, padding=2)(L.ones(1, 1, 4, 4)),
     "pad"),
    ("MaxPool2d(stride=0)", lambda L: L.nn.MaxPool2d(2, stride=0)(L.ones(1, 1, 4, 4)), "stride"),
    ("AvgPool2d(kernel_size=-1)", lambda L: L.nn.AvgPool2d(-1)(L.ones(1, 1, 4, 4))),
    ("AdaptiveAvgPool2d(-1)", lambda L: L.nn.AdaptiveAvgPool2d(-1)(L.ones(1, 1, 4, 4))),
    ("Dropout(p=1.5)", lambda L: L.nn.Dropout(1.5), "1.5"),
    ("Dropout(p=-0.1)", lambda L: L.nn.Dropout(-0.1), "-0.1"),
    ("Dropout2d(p=2)", lambda L: L.nn.Dropout2d(2), "2"),
    ("BatchNorm2d(-1)", lambda L: L.nn.BatchNorm2d(-1)),
    ("BatchNorm1d(momentum='x')", lambda L: L.nn.BatchNorm1d(3, momentum="x")(L.ones(4, 3))),
    ("LayerNorm(0) applied", lambda L: L.nn.LayerNorm(0)(L.ones(2, 3))),
    ("GroupNorm(3 groups, 4 channels)", lambda L: L.nn.GroupNorm(3, 4), "num_channels"),
    ("Embedding(-1, 3)", lambda L: L.nn.Embedding(-1, 3)),
    ("Embedding(padding_idx out of range)", lambda L: L.nn.Embedding(3, 2, padding_idx=5),
     "padding_idx"),
    ("LSTM(dropout=1.5)", lambda L: L.nn.LSTM(2, 3, dropout=1.5), "dropout"),
    ("LSTM(hidden_size=0)", lambda L: L.nn.LSTM(2, 0), "hidden_size"),
    ("LSTM(num_layers=0)", lambda L: L.nn.LSTM(2, 3, num_layers=0), "num_layers"),
    ("RNN(nonlinearity='bogus')", lambda L: L.nn.RNN(2, 3, nonlinearity="bogus"), "bogus"),
    ("LSTM(proj_size >= hidden)", lambda L: L.nn.LSTM(2, 3, proj_size=3), "proj_size"),
    ("MultiheadAttention(embed 10, heads 3)", lambda L: L.nn.MultiheadAttention(10, 3),
     "divisible"),
    ("TransformerEncoderLayer(d_model 10, nhead 3)",
     lambda L: L.nn.TransformerEncoderLayer(10, 3), "divisible"),
    ("TransformerEncoderLayer(activation='bogus')",
     lambda L: L.nn.TransformerEncoderLayer(8, 2, activation="bogus"), "bogus"),
    ("LeakyReLU(negative_slope='a')", lambda L: L.nn.LeakyReLU("a")(L.ones(2))),
    ("Softplus(beta=0)", lambda L: L.nn.Softplus(beta=0)(L.ones(2))),
    ("Threshold() missing args", lambda L: L.nn.Threshold(), "threshold"),
    ("Upsample() with neither size nor scale", lambda L: L.nn.Upsample()(L.ones(1, 1, 2, 2)),
     "size"),
    ("Upsample(mode='bogus')", lambda L: L.nn.Upsample(scale_factor=2, mode="bogus")(
        L.ones(1, 1, 2, 2)), "bogus"),
    ("Flatten(start_dim=5) applied", lambda L: L.nn.Flatten(5)(L.ones(2, 3)), "5"),
    ("Unflatten(1, (2, 2)) applied to size 3", lambda L: L.nn.Unflatten(1, (2, 2))(L.ones(2, 3))),
    ("Softmax(dim=5) applied", lambda L: L.nn.Softmax(5)(L.ones(2, 3)), "5"),
    ("Sequential()[3]", lambda L: L.nn.Sequential(L.nn.ReLU())[3], "3"),
    ("ModuleList()[2]", lambda L: L.nn.ModuleList()[2], "2"),
    ("ModuleList.append(3)", lambda L: L.nn.ModuleList().append(3), "int"),
    ("Sequential(3) (not a module)", lambda L: L.nn.Sequential(3), "int"),
    ("Module.add_module('a.b', ...)", lambda L: L.nn.Module().add_module("a.b", L.nn.ReLU()),
     "a.b"),
    ("Module.add_module(1, ...)", lambda L: L.nn.Module().add_module(1, L.nn.ReLU()), "int"),
    ("Module.register_buffer('', ...)", lambda L: L.nn.Module().register_buffer("", L.ones(1)),
     "empty"),
    ("Module.register_buffer('x', 3)", lambda L: L.nn.Module().register_buffer("x", 3), "int"),
    ("Module.register_parameter('w', tensor)",
     lambda L: L.nn.Module().register_parameter("w", L.ones(1)), "Parameter"),
    ("setattr(module, 'weight', tensor) over a Parameter",
     lambda L: setattr(L.nn.Linear(2, 2), "weight", L.ones(2, 2)), "weight"),
    ("Module.get_submodule('nope')", lambda L: L.nn.Linear(2, 2).get_submodule("nope"), "nope"),
    ("Module.get_parameter('nope')", lambda L: L.nn.Linear(2, 2).get_parameter("nope"), "nope"),
    ("load_state_dict with a missing key",
     lambda L: L.nn.Linear(2, 2).load_state_dict({"weight": L.ones(2, 2)}), "bias"),
    ("load_state_dict with a wrong shape",
     lambda L: L.nn.Linear(2, 2).load_state_dict({"weight": L.ones(3, 2), "bias": L.ones(2)}),
     "size mismatch"),
    ("load_state_dict(3)", lambda L: L.nn.Linear(2, 2).load_state_dict(3), "int"),
    ("Module() called (no forward)", lambda L: L.nn.Module()(L.ones(1)), "forward"),
    ("Parameter([1, 2]) (a list)", lambda L: L.nn.Parameter([1, 2])),
]
_add(G, nn_cases)

# ---- nn layers (forward with bad input) ----------------------------------------------------------
G = "nn forward"
fwd_cases = [
    ("Linear(3, 2) on (4, 5)", lambda L: L.nn.Linear(3, 2)(L.ones(4, 5)), "4x5"),
    ("Linear on an int tensor", lambda L: L.nn.Linear(3, 2)(L.ones(4, 3, dtype=L.int64))),
    ("Linear(3, 2) on float64 input", lambda L: L.nn.Linear(3, 2)(L.ones(4, 3, dtype=L.float64)),
     "dtype"),
    ("Conv2d(3 ch) on 1 channel", lambda L: L.nn.Conv2d(3, 4, 3)(L.ones(1, 1, 5, 5)), "channels"),
    ("Conv2d on a 2-d input", lambda L: L.nn.Conv2d(1, 1, 3)(L.ones(5, 5)), "3D"),
    ("Conv2d kernel larger than input", lambda L: L.nn.Conv2d(1, 1, 5)(L.ones(1, 1, 3, 3)),
     "Kernel size"),
    ("Conv1d on 4-d input", lambda L: L.nn.Conv1d(1, 1, 3)(L.ones(1, 1, 5, 5)), "2D"),
    ("MaxPool2d on 2-d input", lambda L: L.nn.MaxPool2d(2)(L.ones(4, 4))),
    ("MaxPool2d output size 0", lambda L: L.nn.MaxPool2d(5)(L.ones(1, 1, 3, 3)), "small"),
    ("BatchNorm1d(3) on 4 features", lambda L: L.nn.BatchNorm1d(3)(L.ones(2, 4)), "4"),
    ("BatchNorm1d training on batch of 1", lambda L: L.nn.BatchNorm1d(3)(L.ones(1, 3)),
     "more than 1 value per channel"),
    ("BatchNorm2d on 3-d input", lambda L: L.nn.BatchNorm2d(3)(L.ones(2, 3, 4)), "4D"),
    ("LayerNorm(4) on (2, 3)", lambda L: L.nn.LayerNorm(4)(L.ones(2, 3)), "normalized_shape"),
    ("GroupNorm(2, 4) on 3 channels", lambda L: L.nn.GroupNorm(2, 4)(L.ones(2, 3, 5))),
    ("Embedding(3, 2) with index 5", lambda L: L.nn.Embedding(3, 2)(L.tensor([5])), "range"),
    ("Embedding with a float index", lambda L: L.nn.Embedding(3, 2)(L.tensor([1.0])),
     "Long"),
    ("Embedding with index -1", lambda L: L.nn.Embedding(3, 2)(L.tensor([-1])), "range"),
    ("LSTM(2, 3) on input size 4", lambda L: L.nn.LSTM(2, 3)(L.ones(5, 1, 4)), "input.size(-1)"),
    ("LSTM on 4-d input", lambda L: L.nn.LSTM(2, 3)(L.ones(5, 1, 1, 2)), "4D"),
    ("LSTM with h0 of wrong shape",
     lambda L: L.nn.LSTM(2, 3)(L.ones(5, 1, 2), (L.zeros(1, 1, 4), L.zeros(1, 1, 3))), "hidden"),
    ("GRU with h0 of wrong batch", lambda L: L.nn.GRU(2, 3)(L.ones(5, 2, 2), L.zeros(1, 1, 3)),
     "hidden"),
    ("MultiheadAttention with wrong embed dim",
     lambda L: L.nn.MultiheadAttention(4, 2)(L.ones(3, 1, 5), L.ones(3, 1, 5), L.ones(3, 1, 5)),
     "5"),
    ("TransformerEncoderLayer on wrong d_model",
     lambda L: L.nn.TransformerEncoderLayer(8, 2)(L.ones(3, 1, 6))),
    ("Flatten on a 0-d tensor with start_dim 1", lambda L: L.nn.Flatten()(L.tensor(1.0))),
    ("Sequential forward with a tuple into Linear",
     lambda L: L.nn.Sequential(L.nn.Linear(2, 2))((L.ones(2), L.ones(2)))),
]
_add(G, fwd_cases)

# ---- nn.functional -------------------------------------------------------------------------------
G = "functional"


def _F(L):
    return L.nn.functional


fn_cases = [
    ("cross_entropy target 10 with 3 classes",
     lambda L: _F(L).cross_entropy(L.ones(2, 3), L.tensor([0, 10])), "10"),
    ("cross_entropy target -5", lambda L: _F(L).cross_entropy(L.ones(2, 3), L.tensor([0, -5])),
     "-5"),
    ("cross_entropy batch mismatch", lambda L: _F(L).cross_entropy(L.ones(2, 3), L.tensor([0])),
     "batch_size"),
    ("cross_entropy float target of wrong shape",
     lambda L: _F(L).cross_entropy(L.ones(2, 3), L.ones(2, 4))),
    ("cross_entropy float class indices",
     lambda L: _F(L).cross_entropy(L.ones(2, 3), L.tensor([0.0, 1.0]))),
    ("cross_entropy(label_smoothing=1.5)",
     lambda L: _F(L).cross_entropy(L.ones(2, 3), L.tensor([0, 1]), label_smoothing=1.5),
     "label_smoothing"),
    ("cross_entropy(reduction='bogus')",
     lambda L: _F(L).cross_entropy(L.ones(2, 3), L.tensor([0, 1]), reduction="bogus"), "bogus"),
    ("cross_entropy(weight of wrong size)",
     lambda L: _F(L).cross_entropy(L.ones(2, 3), L.tensor([0, 1]), weight=L.ones(2))),
    ("cross_entropy on a 0-d input", lambda L: _F(L).cross_entropy(L.tensor(1.0), L.tensor(0))),
    ("nll_loss with a float target", lambda L: _F(L).nll_loss(L.ones(2, 3), L.ones(2)), "Float"),
    ("nll_loss target out of range", lambda L: _F(L).nll_loss(L.ones(2, 3), L.tensor([0, 3])),
     "3"),
    ("mse_loss(reduction='bogus')",
     lambda L: _F(L).mse_loss(L.ones(2), L.ones(2), reduction="bogus"), "bogus"),
    ("mse_loss of (2,) vs (3,)", lambda L: _F(L).mse_loss(L.ones(2), L.ones(3)), "3"),
    ("l1_loss of int tensors", lambda L: _F(L).l1_loss(L.tensor([1]), L.tensor([2]))),
    ("binary_cross_entropy(input > 1)",
     lambda L: _F(L).binary_cross_entropy(L.tensor([1.5]), L.tensor([1.0])), "between 0 and 1"),
    ("binary_cross_entropy target shape mismatch",
     lambda L: _F(L).binary_cross_entropy(L.tensor([0.5]), L.tensor([1.0, 0.0])), "size"),
    ("bce_with_logits target shape mismatch",
     lambda L: _F(L).binary_cross_entropy_with_logits(L.ones(2), L.ones(3)), "size"),
    ("kl_div(reduction='bogus')",
     lambda L: _F(L).kl_div(L.ones(2), L.ones(2), reduction="bogus"), "bogus"),
    ("huber_loss(delta=-1)", lambda L: _F(L).huber_loss(L.ones(2), L.ones(2), delta=-1.0),
     "delta"),
    ("smooth_l1_loss(beta=-1)", lambda L: _F(L).smooth_l1_loss(L.ones(2), L.ones(2), beta=-1.0),
     "beta"),
    ("margin_ranking_loss size mismatch",
     lambda L: _F(L).margin_ranking_loss(L.ones(2), L.ones(3), L.ones(2))),
    ("gaussian_nll_loss negative var",
     lambda L: _F(L).gaussian_nll_loss(L.ones(2), L.ones(2), -L.ones(2)), "negative"),
    ("one_hot(-1 in input)", lambda L: _F(L).one_hot(L.tensor([-1, 0])), "negative"),
    ("one_hot(num_classes too small)", lambda L: _F(L).one_hot(L.tensor([3]), 2), "num_classes"),
    ("one_hot of a float tensor", lambda L: _F(L).one_hot(L.tensor([1.0]))),
    ("pad with an odd-length pad", lambda L: _F(L).pad(L.ones(2, 2), (1,)), "divisible by 2"),
    ("pad(mode='bogus')", lambda L: _F(L).pad(L.ones(1, 2, 2), (1, 1), mode="bogus"), "bogus"),
    ("pad reflect larger than input", lambda L: _F(L).pad(L.ones(1, 1, 2), (3, 3), mode="reflect"),
     "Padding size"),
    ("interpolate with neither size nor scale",
     lambda L: _F(L).interpolate(L.ones(1, 1, 2, 2)), "size"),
    ("interpolate with both size and scale",
     lambda L: _F(L).interpolate(L.ones(1, 1, 2, 2), size=4, scale_factor=2), "only one"),
    ("interpolate(mode='bogus')",
     lambda L: _F(L).interpolate(L.ones(1, 1, 2, 2), scale_factor=2, mode="bogus"), "bogus"),
    ("dropout(p=1.5)", lambda L: _F(L).dropout(L.ones(2), p=1.5), "1.5"),
    ("dropout(p=-1)", lambda L: _F(L).dropout(L.ones(2), p=-1.0), "-1"),
    ("softmax(dim=3)", lambda L: _F(L).softmax(L.ones(2, 3), dim=3), "3"),
    ("linear weight of wrong shape", lambda L: _F(L).linear(L.ones(2, 3), L.ones(4, 5)), "2x3"),
    ("linear bias of wrong shape",
     lambda L: _F(L).linear(L.ones(2, 3), L.ones(4, 3), L.ones(5))),
    ("conv2d weight with wrong in_channels",
     lambda L: _F(L).conv2d(L.ones(1, 2, 5, 5), L.ones(4, 3, 3, 3)), "channels"),
    ("conv2d(stride=0)", lambda L: _F(L).conv2d(L.ones(1, 1, 5, 5), L.ones(1, 1, 3, 3), stride=0),
     "stride"),
    ("conv2d(groups=0)", lambda L: _F(L).conv2d(L.ones(1, 2, 5, 5), L.ones(2, 2, 3, 3), groups=0),
     "groups"),
    ("max_pool2d(kernel_size=0)", lambda L: _F(L).max_pool2d(L.ones(1, 1, 4, 4), 0), "kernel"),
    ("avg_pool2d(stride=0)", lambda L: _F(L).avg_pool2d(L.ones(1, 1, 4, 4), 2, stride=0),
     "stride"),
    ("embedding with index 5 of 3", lambda L: _F(L).embedding(L.tensor([5]), L.ones(3, 2)),
     "range"),
    ("layer_norm normalized_shape mismatch", lambda L: _F(L).layer_norm(L.ones(2, 3), (4,)),
     "normalized_shape"),
    ("batch_norm running_mean of wrong size",
     lambda L: _F(L).batch_norm(L.ones(2, 3), L.zeros(4), L.ones(4))),
    ("normalize(dim=3)", lambda L: _F(L).normalize(L.ones(2, 3), dim=3), "3"),
    ("scaled_dot_product_attention shape mismatch",
     lambda L: _F(L).scaled_dot_product_attention(L.ones(1, 2, 4), L.ones(1, 2, 5),
                                                  L.ones(1, 2, 5))),
    ("grid_sample(mode='bogus')",
     lambda L: _F(L).grid_sample(L.ones(1, 1, 2, 2), L.zeros(1, 1, 1, 2), mode="bogus"), "bogus"),
    ("glu on an odd dim", lambda L: _F(L).glu(L.ones(3)), "even"),
    ("gumbel_softmax(tau=0)", lambda L: _F(L).gumbel_softmax(L.ones(3), tau=0.0)),
    ("relu of a string", lambda L: _F(L).relu("a")),
    ("cosine_similarity of (2, 3) and (2, 4)",
     lambda L: _F(L).cosine_similarity(L.ones(2, 3), L.ones(2, 4))),
    ("unfold(kernel larger than input)", lambda L: _F(L).unfold(L.ones(1, 1, 2, 2), 3)),
]
_add(G, fn_cases)

# ---- optim ---------------------------------------------------------------------------------------
G = "optim"
opt_cases = [
    ("SGD(lr=-1)", lambda L: L.optim.SGD(_opt_params(L), lr=-1), "-1"),
    ("SGD(lr=nan)", lambda L: L.optim.SGD(_opt_params(L), lr=float("nan"))),
    ("SGD(momentum=-0.1)", lambda L: L.optim.SGD(_opt_params(L), lr=0.1, momentum=-0.1), "-0.1"),
    ("SGD(weight_decay=-1)", lambda L: L.optim.SGD(_opt_params(L), lr=0.1, weight_decay=-1),
     "-1"),
    ("SGD(nesterov without momentum)",
     lambda L: L.optim.SGD(_opt_params(L), lr=0.1, nesterov=True), "Nesterov"),
    ("SGD(dampening with nesterov)",
     lambda L: L.optim.SGD(_opt_params(L), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     "Nesterov"),
    ("SGD(lr='a')", lambda L: L.optim.SGD(_opt_params(L), lr="a")),
    ("SGD([]) (no parameters)", lambda L: L.optim.SGD([], lr=0.1), "empty parameter list"),
    ("SGD(a tensor instead of an iterable)", lambda L: L.optim.SGD(L.ones(2), lr=0.1),
     "iterable"),
    ("SGD of a non-leaf tensor",
     lambda L: L.optim.SGD([L.ones(2, requires_grad=True) * 2], lr=0.1), "non-leaf"),
    ("SGD of an int", lambda L: L.optim.SGD([3], lr=0.1), "int"),
    ("SGD with a parameter in two groups",
     lambda L: _two_groups(L), "more than one parameter group"),
    ("Adam(lr=-0.001)", lambda L: L.optim.Adam(_opt_params(L), lr=-0.001), "-0.001"),
    ("Adam(betas=(1.5, 0.9))", lambda L: L.optim.Adam(_opt_params(L), betas=(1.5, 0.9)), "1.5"),
    ("Adam(betas=(0.9, -0.1))", lambda L: L.optim.Adam(_opt_params(L), betas=(0.9, -0.1)),
     "-0.1"),
    ("Adam(eps=-1e-8)", lambda L: L.optim.Adam(_opt_params(L), eps=-1e-8), "epsilon"),
    ("Adam(weight_decay=-0.1)", lambda L: L.optim.Adam(_opt_params(L), weight_decay=-0.1),
     "-0.1"),
    ("AdamW(betas=(0.9, 1.0))", lambda L: L.optim.AdamW(_opt_params(L), betas=(0.9, 1.0)),
     "1.0"),
    ("AdamW(eps=-1)", lambda L: L.optim.AdamW(_opt_params(L), eps=-1), "epsilon"),
    ("RMSprop(alpha=-0.5)", lambda L: L.optim.RMSprop(_opt_params(L), alpha=-0.5), "-0.5"),
    ("RMSprop(momentum=-1)", lambda L: L.optim.RMSprop(_opt_params(L), momentum=-1), "-1"),
    ("Adagrad(lr_decay=-1)", lambda L: L.optim.Adagrad(_opt_params(L), lr_decay=-1), "-1"),
    ("Adagrad(initial_accumulator_value=-1)",
     lambda L: L.optim.Adagrad(_opt_params(L), initial_accumulator_value=-1), "-1"),
    ("Adadelta(rho=1.5)", lambda L: L.optim.Adadelta(_opt_params(L), rho=1.5), "1.5"),
    ("Adamax(betas=(2, 0.9))", lambda L: L.optim.Adamax(_opt_params(L), betas=(2, 0.9)), "2"),
    ("NAdam(momentum_decay=-1)", lambda L: L.optim.NAdam(_opt_params(L), momentum_decay=-1),
     "-1"),
    ("RAdam(eps=-1)", lambda L: L.optim.RAdam(_opt_params(L), eps=-1), "-1"),
    ("add_param_group with a duplicate parameter", lambda L: _dup_group(L), "more than one"),
    ("add_param_group without 'params'",
     lambda L: _sgd(L).add_param_group({"lr": 0.1}), "params"),
    ("load_state_dict with wrong group count", lambda L: _bad_opt_state(L), "group"),
    ("zero_grad(set_to_none='x') is accepted", lambda L: _sgd(L).zero_grad("x")),
]
_add(G, opt_cases)


def _two_groups(L):
    p = L.nn.Parameter(L.ones(2))
    L.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def _dup_group(L):
    p = L.nn.Parameter(L.ones(2))
    opt = L.optim.SGD([p], lr=0.1)
    opt.add_param_group({"params": [p]})


def _bad_opt_state(L):
    opt = _sgd(L)
    sd = opt.state_dict()
    sd["param_groups"] = sd["param_groups"] * 2
    opt.load_state_dict(sd)


# ---- lr_scheduler --------------------------------------------------------------------------------
G = "lr_scheduler"
S = "optim.lr_scheduler"
sched_cases = [
    ("StepLR(not an optimizer)", lambda L: L.optim.lr_scheduler.StepLR(3, 1), "Optimizer"),
    ("StepLR(step_size=0) steps", lambda L: _steps(L, L.optim.lr_scheduler.StepLR, step_size=0)),
    ("MultiStepLR(milestones=[3, 1])",
     lambda L: L.optim.lr_scheduler.MultiStepLR(_sgd(L), [3, 1])),
    ("ExponentialLR(gamma='a') steps",
     lambda L: _steps(L, L.optim.lr_scheduler.ExponentialLR, gamma="a")),
    ("LambdaLR(2 lambdas for 1 group)",
     lambda L: L.optim.lr_scheduler.LambdaLR(_sgd(L), [lambda e: 1, lambda e: 1]), "2"),
    ("CosineAnnealingWarmRestarts(T_0=0)",
     lambda L: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(_sgd(L), 0), "T_0"),
    ("CosineAnnealingWarmRestarts(T_mult=0)",
     lambda L: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(_sgd(L), 2, T_mult=0), "T_mult"),
    ("OneCycleLR without total_steps or epochs",
     lambda L: L.optim.lr_scheduler.OneCycleLR(_sgd(L), max_lr=0.1), "total_steps"),
    ("OneCycleLR(total_steps=-1)",
     lambda L: L.optim.lr_scheduler.OneCycleLR(_sgd(L), max_lr=0.1, total_steps=-1), "-1"),
    ("OneCycleLR(pct_start=1.5)",
     lambda L: L.optim.lr_scheduler.OneCycleLR(_sgd(L), 0.1, total_steps=10, pct_start=1.5),
     "1.5"),
    ("OneCycleLR(anneal_strategy='bogus')",
     lambda L: L.optim.lr_scheduler.OneCycleLR(_sgd(L), 0.1, total_steps=10,
                                               anneal_strategy="bogus"), "bogus"),
    ("OneCycleLR stepped past total_steps", lambda L: _past_one_cycle(L), "total steps"),
    ("CyclicLR(mode='bogus')",
     lambda L: L.optim.lr_scheduler.CyclicLR(_sgd(L), 0.01, 0.1, mode="bogus"), "bogus"),
    ("LinearLR(start_factor=2)",
     lambda L: L.optim.lr_scheduler.LinearLR(_sgd(L), start_factor=2.0), "start_factor"),
    ("LinearLR(end_factor=-1)",
     lambda L: L.optim.lr_scheduler.LinearLR(_sgd(L), end_factor=-1.0), "end_factor"),
    ("ConstantLR(factor=2)",
     lambda L: L.optim.lr_scheduler.ConstantLR(_sgd(L), factor=2.0), "factor"),
    ("PolynomialLR(total_iters='a') steps",
     lambda L: _steps(L, L.optim.lr_scheduler.PolynomialLR, total_iters="a")),
    ("ReduceLROnPlateau(mode='bogus')",
     lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(_sgd(L), mode="bogus"), "bogus"),
    ("ReduceLROnPlateau(factor=1.0)",
     lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(_sgd(L), factor=1.0), "Factor"),
    ("ReduceLROnPlateau(threshold_mode='bogus')",
     lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(_sgd(L), threshold_mode="bogus"), "bogus"),
    ("ReduceLROnPlateau(min_lr list of wrong length)",
     lambda L: L.optim.lr_scheduler.ReduceLROnPlateau(_sgd(L), min_lr=[0.1, 0.2]), "min_lr"),
    ("SequentialLR(milestones of wrong length)", lambda L: _seq_lr(L), "milestones"),
    ("ChainedScheduler of schedulers of different optimizers", lambda L: _chained(L),
     "optimizer"),
]
_add(G, sched_cases)


def _steps(L, cls, **kw):
    opt = _sgd(L)
    s = cls(opt, **kw)
    for _ in range(3):
        opt.step()
        s.step()


def _past_one_cycle(L):
    opt = _sgd(L)
    s = L.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(4):
            opt.step()
            s.step()


def _seq_lr(L):
    opt = _sgd(L)
    a = L.optim.lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=2)
    b = L.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    L.optim.lr_scheduler.SequentialLR(opt, [a, b], milestones=[1, 2])


def _chained(L):
    a = L.optim.lr_scheduler.ExponentialLR(_sgd(L), gamma=0.9)
    b = L.optim.lr_scheduler.ExponentialLR(_sgd(L), gamma=0.9)
    L.optim.lr_scheduler.ChainedScheduler([a, b])


# ---- utils.data ----------------------------------------------------------------------------------
G = "utils.data"
D = "utils.data"
data_cases = [
    ("DataLoader(batch_size=0)", lambda L: L.utils.data.DataLoader(_ds(L), batch_size=0),
     "batch_size"),
    ("DataLoader(batch_size=-1)", lambda L: L.utils.data.DataLoader(_ds(L), batch_size=-1),
     "-1"),
    ("DataLoader(num_workers=-1)", lambda L: L.utils.data.DataLoader(_ds(L), num_workers=-1),
     "num_workers"),
    ("DataLoader(timeout=-1)", lambda L: L.utils.data.DataLoader(_ds(L), timeout=-1), "timeout"),
    ("DataLoader(shuffle=True, sampler=...)",
     lambda L: L.utils.data.DataLoader(_ds(L), shuffle=True,
                                       sampler=L.utils.data.SequentialSampler(_ds(L))),
     "sampler"),
    ("DataLoader(batch_sampler=..., batch_size=2)",
     lambda L: L.utils.data.DataLoader(
         _ds(L), batch_size=2,
         batch_sampler=L.utils.data.BatchSampler(L.utils.data.SequentialSampler(_ds(L)), 2,
                                                 False)), "batch_sampler"),
    ("DataLoader(prefetch_factor=2, num_workers=0)",
     lambda L: L.utils.data.DataLoader(_ds(L), prefetch_factor=2), "prefetch_factor"),
    ("DataLoader(persistent_workers=True, num_workers=0)",
     lambda L: L.utils.data.DataLoader(_ds(L), persistent_workers=True), "persistent_workers"),
    ("len(DataLoader) of an IterableDataset without __len__", lambda L: _iterable_len(L)),
    ("TensorDataset of sizes 3 and 4",
     lambda L: L.utils.data.TensorDataset(L.ones(3), L.ones(4)), "Size mismatch"),
    ("TensorDataset index out of range", lambda L: _ds(L)[20], "20"),
    ("random_split lengths don't sum", lambda L: L.utils.data.random_split(_ds(L), [3, 3]),
     "Sum of input lengths"),
    ("random_split fractions > 1", lambda L: L.utils.data.random_split(_ds(L), [0.7, 0.7])),
    ("random_split negative length", lambda L: L.utils.data.random_split(_ds(L), [-1, 11])),
    ("Subset index out of range", lambda L: L.utils.data.Subset(_ds(L), [50])[0], "50"),
    ("RandomSampler(num_samples=0)",
     lambda L: L.utils.data.RandomSampler(_ds(L), num_samples=0), "num_samples"),
    ("RandomSampler(replacement='yes')",
     lambda L: L.utils.data.RandomSampler(_ds(L), replacement="yes"), "replacement"),
    ("BatchSampler(batch_size=0)",
     lambda L: L.utils.data.BatchSampler(L.utils.data.SequentialSampler(_ds(L)), 0, False),
     "batch_size"),
    ("BatchSampler(drop_last='no')",
     lambda L: L.utils.data.BatchSampler(L.utils.data.SequentialSampler(_ds(L)), 2, "no"),
     "drop_last"),
    ("WeightedRandomSampler(num_samples=-1)",
     lambda L: L.utils.data.WeightedRandomSampler([0.5, 0.5], -1), "num_samples"),
    ("WeightedRandomSampler(weights 2-d)",
     lambda L: L.utils.data.WeightedRandomSampler([[0.5, 0.5]], 2), "weights"),
    ("Dataset()[0] (no __getitem__)", lambda L: L.utils.data.Dataset()[0]),
    ("ConcatDataset([])", lambda L: L.utils.data.ConcatDataset([]), "empty"),
    ("ConcatDataset index out of range",
     lambda L: L.utils.data.ConcatDataset([_ds(L), _ds(L)])[40], "range"),
    ("default_collate of mixed types",
     lambda L: L.utils.data.default_collate([1, "a"])),
    ("default_collate of ragged tensors",
     lambda L: L.utils.data.default_collate([L.ones(2), L.ones(3)]), "stack"),
]
_add(G, data_cases)


def _iterable_len(L):
    class It(L.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(3))
    len(L.utils.data.DataLoader(It()))


# ---- wrong types: a str or None where a tensor (or a number) belongs -----------------------------
G = "wrong types"
_SWEEP = ["abs", "neg", "exp", "log", "sqrt", "sin", "tanh", "sigmoid", "relu", "floor", "sign",
          "reciprocal", "square", "sum", "mean", "prod", "max", "amax", "argmax", "cumsum",
          "logsumexp", "std", "var", "norm", "flatten", "t", "squeeze", "unsqueeze", "softmax",
          "clone", "isnan", "nonzero", "numel", "trace", "diag", "tril", "flip", "sort", "topk",
          "all", "erf", "clamp", "transpose", "permute", "reshape", "matmul", "mm", "dot", "cat",
          "stack", "zeros_like", "rand_like", "randn_like", "full_like", "masked_fill", "gather",
          "index_select", "outer", "cross", "lerp", "maximum", "pow", "add", "mul", "div",
          "remainder", "eq", "lt", "atan2", "logical_and", "bitwise_and", "isclose", "allclose",
          "equal", "is_floating_point"]
# Rows where torch's message names the argument (or the op): Ember's must too.
# (Every row's message must also be free of internal names: see ``judge``.)
_SWEEP_EXPECT = {
    "flatten(t, 'a')": ("flatten()", "start_dim", "str"),
    "squeeze(t, 'a')": ("squeeze()", "dim", "str"),
    "unsqueeze(t, 'a')": ("unsqueeze()", "dim", "str"),
    "softmax(t, 'a')": ("softmax()", "dim", "str"),
    "diag(t, 'a')": ("diag()", "diagonal", "str"),
    "tril(t, 'a')": ("tril()", "diagonal", "str"),
    "cat(None)": ("cat()", "tensors", "NoneType"),
    "stack(None)": ("stack()", "tensors", "NoneType"),
    "isnan(t, 'a')": "isnan()",
}
for _name in ("eq", "lt", "logical_and", "bitwise_and"):
    _SWEEP_EXPECT[f"{_name}('a')"] = _SWEEP_EXPECT[f"{_name}(None)"] = f"{_name}()"
for _name in _SWEEP:
    for _desc, _fn in ((f"{_name}('a')", lambda L, n=_name: getattr(L, n)("a")),
                       (f"{_name}(None)", lambda L, n=_name: getattr(L, n)(None))):
        C(G, _desc, _fn, _SWEEP_EXPECT.get(_desc, ()))
    _t = (lambda L: L.ones(3)) if _name in ("outer", "dot", "cross") else (lambda L: L.ones(2, 2))
    _desc = f"{_name}(t, 'a')"
    C(G, _desc, lambda L, n=_name, t=_t: getattr(L, n)(t(L), "a"), _SWEEP_EXPECT.get(_desc, ()))


# ---- save / load ---------------------------------------------------------------------------------
G = "save/load"
_TMP = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ember_error_audit_{os.getpid()}")
save_cases = [
    ("save into a missing directory",
     lambda L: L.save({"a": L.ones(2)}, os.path.join(_TMP, "no", "such", "dir", "x.pt")),
     "no/such/dir"),
    ("load of a missing file", lambda L: L.load(os.path.join(_TMP, "missing.pt")), "missing.pt"),
    ("load of a garbage file", lambda L: L.load(_garbage())),
    ("load(map_location='cuda')", lambda L: _load_cuda(L), "cuda"),
    ("save(obj, 3) (not a path or file)", lambda L: L.save({"a": 1}, 3)),
]
_add(G, save_cases)


def _garbage():
    os.makedirs(_TMP, exist_ok=True)
    p = os.path.join(_TMP, "garbage.pt")
    with open(p, "wb") as f:
        f.write(b"this is not a checkpoint" * 10)
    return p


def _load_cuda(L):
    os.makedirs(_TMP, exist_ok=True)
    p = os.path.join(_TMP, f"ok_{L.__name__}.pt")
    L.save({"a": L.ones(2)}, p)
    L.load(p, map_location="cuda")


# Where Ember deliberately differs; the audit lists them apart (and the test
# checks Ember's own behaviour there instead).
DEVIATIONS = {
    "from_numpy(complex array)": "Ember has no complex dtypes: a clear TypeError",
    "Parameter([1, 2]) (a list)":
        "torch's AttributeError ('list' object has no attribute 'detach') is an accident; "
        "Ember says what it expects (TypeError)",
    "load of a garbage file":
        "torch's IndexError ('pop from empty list') is an accident; Ember says the file is "
        "not a checkpoint (a RuntimeError)",
    "save(obj, 3) (not a path or file)":
        "torch raises AttributeError; Ember a TypeError naming what it got",
    "grid_sample(mode='bogus')": "grid_sample is not implemented in Ember",
    "norm('a')": "torch's AttributeError ('str' object has no attribute 'layout') is an "
                 "accident; Ember raises torch's usual TypeError for a non-tensor",
    "norm(None)": "torch's AttributeError is an accident; Ember raises torch's usual TypeError",
}


# ---- running the audit ---------------------------------------------------------------------------

_BUILTIN = (ValueError, TypeError, IndexError, KeyError, NotImplementedError, AttributeError,
            FileNotFoundError, OSError, ZeroDivisionError, StopIteration, AssertionError,
            RuntimeError)


def _kind(exc_type):
    """The built-in class torch's (or Ember's) exception is: torch raises
    subclasses such as torch._C._LinAlgError (a RuntimeError)."""
    for k in exc_type.__mro__:
        if k in _BUILTIN or k.__module__ == "builtins" and issubclass(k, Exception):
            return k
    return Exception


def _outcome(lib, fn):
    """("ok", None) or ("raise", exc, from_numpy: bool)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = sys.stderr
        sys.stderr = io.StringIO()  # (worker/printing noise)
        try:
            fn(lib)
        except Exception as exc:  # noqa: BLE001 -- the audit records whatever is raised
            return ("raise", exc, _from_numpy(exc))
        finally:
            sys.stderr = old
    return ("ok", None, False)


# Phrases of NumPy's own error messages: an Ember error worded like this was
# raised by NumPy deep inside, not by Ember's checks.
_NUMPY_WORDS = ("ufunc", "setting an array element", "could not broadcast", "operands could not "
                "be broadcast", "'numpy.", "dtype('", "array of size", "axis ",
                "could not convert string", "invalid literal for int()", "newaxis")


def _from_numpy(exc):
    tb = traceback.extract_tb(exc.__traceback__)
    inner = tb[-1].filename if tb else ""
    if f"{os.sep}numpy{os.sep}" in inner or f"{os.sep}scipy{os.sep}" in inner:
        return True
    if type(exc).__module__.split(".")[0] in ("numpy", "scipy"):
        return True
    return any(w in str(exc) for w in _NUMPY_WORDS)


def _from_numpy_too(exc):
    """torch's own message may use the same words (e.g. 'axis')."""
    return any(w in str(exc) for w in _NUMPY_WORDS)


def _first_line(exc):
    msg = str(exc).strip().split("\n")[0]
    return msg if len(msg) <= 150 else msg[:147] + "..."


def judge(torch_out, ember_out, expect):
    """(ok: bool, why: str)."""
    ts, te, _ = torch_out
    es, ee, leaked = ember_out
    if ts == "ok" and es == "ok":
        return True, "both accept"
    if ts == "ok":
        return False, "torch accepts; Ember raises"
    if es == "ok":
        return False, "torch raises; Ember accepts (silently)"
    if leaked and not _from_numpy_too(te):
        return False, "error comes from inside NumPy"
    kt = _kind(type(te))
    if not isinstance(ee, kt):  # (Ember's may be a subclass, or catchable as two kinds)
        return False, f"type {type(ee).__name__} is not torch's {kt.__name__}"
    msg = str(ee)
    missing = [s for s in expect if s not in msg]
    if missing:
        return False, f"message lacks {missing}"
    if "<locals>" in msg:  # e.g. "_compare.<locals>.f() missing 1 required positional argument"
        return False, "message shows an internal function name"
    if not msg.strip():
        return False, "empty message"
    return True, "same type" + (", names the value" if expect else "")


def run_cases(cases=None):
    import torch

    import ember
    rows = []
    for group, desc, fn, expect in (cases or CASES):
        t = _outcome(torch, fn)
        ember.set_default_dtype(ember.float32)
        e = _outcome(ember, fn)
        ember.set_default_dtype(ember.float32)
        ember.autograd.grad_mode.state.enabled = True
        ok, why = judge(t, e, expect)
        if not ok and desc in DEVIATIONS:
            why = "deliberate: " + DEVIATIONS[desc]
        rows.append((group, desc, t, e, ok, why, expect))
    import shutil
    shutil.rmtree(_TMP, ignore_errors=True)
    return rows


def _cell(out):
    status, exc, leaked = out
    if status == "ok":
        return "(no error)"
    text = f"`{type(exc).__name__}`: {_first_line(exc)}"
    return text.replace("|", "\\|").replace("\n", " ")


def write_markdown(rows, path):
    n = len(rows)
    good = sum(r[4] for r in rows)
    dev = sum(r[5].startswith("deliberate") for r in rows)
    lines = [
        "# Error audit: Ember vs torch on bad input",
        "",
        "Generated by `python tests/error_audit.py` (do not edit by hand); the same table "
        "runs as `tests/test_errors.py`.  Each row is one call written against the torch API "
        "and run with both libraries.  *ok*: both accept it, or both raise the same kind of "
        "exception and Ember's message is its own (not a NumPy error) and names the argument "
        "or value shown in *expects*.",
        "",
        f"**{good} of {n} calls match torch**; {dev} differ deliberately (marked *deliberate*, "
        f"with the reason); {n - good - dev} differ otherwise.",
        "",
    ]
    groups = []
    for r in rows:
        if r[0] not in groups:
            groups.append(r[0])
    lines.append("| group | calls | ok |")
    lines.append("|---|---:|---:|")
    for g in groups:
        rs = [r for r in rows if r[0] == g]
        lines.append(f"| {g} | {len(rs)} | {sum(r[4] for r in rs)} |")
    lines.append("")
    for g in groups:
        lines.append(f"## {g}")
        lines.append("")
        lines.append("| call | torch raises | ember raises | expects | ok |")
        lines.append("|---|---|---|---|---|")
        for group, desc, t, e, ok, why, expect in rows:
            if group != g:
                continue
            exp = ", ".join(f"`{s}`" for s in expect)
            mark = "yes" if ok else (f"*deliberate* ({why[len('deliberate: '):]})"
                                     if why.startswith("deliberate") else f"**no** ({why})")
            lines.append(f"| `{desc}` | {_cell(t)} | {_cell(e)} | {exp} | {mark} |")
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main():
    global _TMP
    _TMP = os.path.join(os.environ.get("TMPDIR", "/tmp"), "ember_error_audit")  # (stable paths)
    sys.path.insert(0, ROOT)
    rows = run_cases()
    path = os.path.join(ROOT, "docs", "ERRORS.md")
    write_markdown(rows, path)
    bad = [r for r in rows if not r[4]]
    dev = sum(r[5].startswith("deliberate") for r in bad)
    print(f"{len(rows) - len(bad)} of {len(rows)} calls match torch, {dev} differ deliberately; "
          f"table in {path}")
    for group, desc, t, e, ok, why, expect in bad:
        print(f"  [{group}] {desc}: {why}\n      torch: {_cell(t)}\n      ember: {_cell(e)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
