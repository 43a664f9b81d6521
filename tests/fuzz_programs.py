"""Random tensor programs, run by one interpreter on Ember and on torch.

A *program* is a list of op specs ``(name, refs, kwargs)``: ``refs`` are
indices of earlier results (the environment ``env``), ``kwargs`` are plain
Python literals (ints, floats, tuples, lists, slices, None, Ellipsis,
strings), so a program prints as a literal that can be pasted into a
regression test.  ``("input", [], {...})`` makes a fresh leaf from a seed.

``run(lib, program)`` interprets a program with ``lib`` = ``ember`` or
``torch``.  ``compare(program)`` runs both, compares every value, then
backpropagates a weighted sum of every floating result and compares the
gradients of all leaves (and, with ``order2``, the gradients of a function
of those gradients, built with ``create_graph=True``).  An error in torch
(e.g. a saved tensor modified in place) must be an error in Ember too.

``programs()`` is the Hypothesis strategy.  It draws one op at a time and
runs it on a live torch environment: an op torch refuses in forward is
dropped, so every generated program is valid torch.  Shapes, dtypes and
broadcast partners are chosen from what is live at that point.
"""
import warnings

import numpy as np
from hypothesis import strategies as st

FLOAT_DTYPES = ("float32", "float64")
INT_DTYPES = ("int64", "int32")


# ---- the interpreter -------------------------------------------------------------------

def make_input(lib, shape, dtype, rg, seed, positive=False):
    rng = np.random.default_rng(seed)
    if dtype in FLOAT_DTYPES:
        arr = rng.uniform(0.5, 2.0, shape) if positive else rng.uniform(-2.0, 2.0, shape)
        arr = arr.astype(dtype)
    else:
        arr = rng.integers(-3, 4, shape).astype(dtype)
    t = lib.tensor(arr)
    if rg:
        t.requires_grad_(True)
    return t


def _index(lib, env, spec):
    """Rebuild an index from its literal: lists become int64 tensors and
    ``("ref", k)`` an environment value (a mask or index tensor)."""
    def one(c):
        if isinstance(c, list):
            return lib.tensor(c, dtype=lib.int64)
        if isinstance(c, tuple) and len(c) == 2 and c[0] == "ref":
            return env[c[1]]
        return c
    if isinstance(spec, tuple) and not (len(spec) == 2 and spec[0] == "ref"):
        return tuple(one(c) for c in spec)
    return one(spec)


def _F(lib):
    return lib.nn.functional


UNARY = {
    "neg": lambda lib, x: -x,
    "exp": lambda lib, x: x.exp(),
    "log": lambda lib, x: lib.log(x),
    "sin": lambda lib, x: x.sin(),
    "cos": lambda lib, x: lib.cos(x),
    "tanh": lambda lib, x: x.tanh(),
    "sigmoid": lambda lib, x: lib.sigmoid(x),
    "sqrt": lambda lib, x: x.sqrt(),
    "rsqrt": lambda lib, x: x.rsqrt(),
    "abs": lambda lib, x: x.abs(),
    "relu": lambda lib, x: lib.relu(x),
    "square": lambda lib, x: x.square(),
    "reciprocal": lambda lib, x: x.reciprocal(),
    "log1p": lambda lib, x: x.log1p(),
    "expm1": lambda lib, x: x.expm1(),
    "atan": lambda lib, x: x.atan(),
    "erf": lambda lib, x: x.erf(),
    "sign": lambda lib, x: x.sign(),
    "floor": lambda lib, x: x.floor(),
    "softplus": lambda lib, x: _F(lib).softplus(x),
    "gelu": lambda lib, x: _F(lib).gelu(x),
    "silu": lambda lib, x: _F(lib).silu(x),
    "leaky_relu": lambda lib, x: _F(lib).leaky_relu(x, 0.1),
    "double": lambda lib, x: x.double(),
    "float": lambda lib, x: x.float(),
    "long": lambda lib, x: x.long(),
    "clone": lambda lib, x: x.clone(),
    "contiguous": lambda lib, x: x.contiguous(),
    "detach": lambda lib, x: x.detach(),
}

SCALAR = {  # x op c
    "add_s": lambda lib, x, c: x + c,
    "mul_s": lambda lib, x, c: x * c,
    "rsub_s": lambda lib, x, c: c - x,
    "div_s": lambda lib, x, c: x / c,
    "rdiv_s": lambda lib, x, c: c / x,
    "pow_s": lambda lib, x, c: x ** c,
    "rpow_s": lambda lib, x, c: abs(c) ** x,
    "clamp_min": lambda lib, x, c: x.clamp(min=c),
    "clamp_max": lambda lib, x, c: lib.clamp(x, max=c),
    "gt_s": lambda lib, x, c: x > c,
}

BINARY = {
    "add": lambda lib, a, b: a + b,
    "sub": lambda lib, a, b: lib.sub(a, b),
    "mul": lambda lib, a, b: a * b,
    "div": lambda lib, a, b: a / b,
    "pow": lambda lib, a, b: a.abs() ** b,
    "maximum": lambda lib, a, b: lib.maximum(a, b),
    "minimum": lambda lib, a, b: lib.minimum(a, b),
    "atan2": lambda lib, a, b: lib.atan2(a, b),
    "hypot": lambda lib, a, b: lib.hypot(a, b),
    "where": lambda lib, a, b: lib.where(a > 0, a, b),
    "gt": lambda lib, a, b: a > b,
    "lerp_half": lambda lib, a, b: lib.lerp(a, b, 0.25),
    "add_alpha": lambda lib, a, b: lib.add(a, b, alpha=2),
}

# reductions: kwargs dim/keepdim (and a few extras); "dims" says what dim may be
REDUCE = {
    "sum": ("tuple", lambda lib, x, **k: x.sum(**k)),
    "mean": ("tuple", lambda lib, x, **k: x.mean(**k)),
    "prod": ("int", lambda lib, x, **k: x.prod(**k)),
    "amax": ("tuple", lambda lib, x, **k: x.amax(**k)),
    "amin": ("tuple", lambda lib, x, **k: lib.amin(x, **k)),
    "max_dim": ("int!", lambda lib, x, **k: x.max(**k)[0]),
    "min_dim_idx": ("int!", lambda lib, x, **k: lib.min(x, **k)[1]),
    "max_all": ("none", lambda lib, x, **k: x.max()),
    "logsumexp": ("tuple!", lambda lib, x, **k: x.logsumexp(**k)),
    "var": ("tuple", lambda lib, x, **k: x.var(**k)),
    "std0": ("tuple", lambda lib, x, **k: x.std(correction=0, **k)),
    "norm": ("tuple", lambda lib, x, **k: x.norm(**k)),
    "argmax": ("int", lambda lib, x, **k: x.argmax(**k)),
    "cumsum": ("int!nokeep", lambda lib, x, **k: x.cumsum(**k)),
    "cumprod": ("int!nokeep", lambda lib, x, **k: lib.cumprod(x, **k)),
    "softmax": ("int!nokeep", lambda lib, x, **k: _F(lib).softmax(x, **k)),
    "log_softmax": ("int!nokeep", lambda lib, x, **k: x.log_softmax(**k)),
}

SHAPE = {
    "reshape": lambda lib, x, shape: x.reshape(shape),
    "view": lambda lib, x, shape: x.view(*shape),
    "transpose": lambda lib, x, d0, d1: x.transpose(d0, d1),
    "permute": lambda lib, x, perm: x.permute(*perm),
    "expand": lambda lib, x, shape: x.expand(*shape),
    "squeeze": lambda lib, x, dim=None: x.squeeze() if dim is None else x.squeeze(dim),
    "unsqueeze": lambda lib, x, dim: x.unsqueeze(dim),
    "narrow": lambda lib, x, dim, start, length: x.narrow(dim, start, length),
    "getitem": lambda lib, x, index, env=None: x[_index(lib, env, index)],
    "flip": lambda lib, x, dims: x.flip(dims),
    "t": lambda lib, x: x.t(),
    "flatten": lambda lib, x, start, end: x.flatten(start, end),
    "select": lambda lib, x, dim, index: x.select(dim, index),
    "unbind_k": lambda lib, x, dim, k: x.unbind(dim)[k],
    "chunk_k": lambda lib, x, chunks, dim, k: x.chunk(chunks, dim)[k],
    "split_k": lambda lib, x, size, dim, k: lib.split(x, size, dim)[k],
    "movedim": lambda lib, x, src, dst: x.movedim(src, dst),
    "repeat": lambda lib, x, reps: x.repeat(*reps),
    "roll": lambda lib, x, shifts, dims: x.roll(shifts, dims),
    "tril": lambda lib, x, k: x.tril(k),
    "diagonal": lambda lib, x, offset, d0, d1: x.diagonal(offset, d0, d1),
    "mT": lambda lib, x: x.mT,
}

NARY = {  # list-of-tensor ops
    "cat": lambda lib, xs, dim: lib.cat(xs, dim),
    "stack": lambda lib, xs, dim: lib.stack(xs, dim),
}

INDEX = {
    "masked_fill": lambda lib, x, m, value: x.masked_fill(m, value),
    "index_select": lambda lib, x, dim, index: x.index_select(
        dim, lib.tensor(index, dtype=lib.int64)),
    "gather": lambda lib, x, dim, index: x.gather(dim, lib.tensor(index, dtype=lib.int64)),
    "masked_select": lambda lib, x, m: x.masked_select(m),
}

INPLACE = {  # each returns the modified tensor
    "add_": lambda lib, x, o=None, c=None: x.add_(o if o is not None else c),
    "sub_": lambda lib, x, o=None, c=None: x.sub_(o if o is not None else c),
    "mul_": lambda lib, x, o=None, c=None: x.mul_(o if o is not None else c),
    "div_": lambda lib, x, o=None, c=None: x.div_(o if o is not None else c),
    "clamp_": lambda lib, x, lo=None, hi=None: x.clamp_(lo, hi),
    "exp_": lambda lib, x: x.exp_(),
    "tanh_": lambda lib, x: x.tanh_(),
    "relu_": lambda lib, x: x.relu_(),
    "sigmoid_": lambda lib, x: x.sigmoid_(),
    "zero_": lambda lib, x: x.zero_(),
    "fill_": lambda lib, x, c: x.fill_(c),
    "copy_": lambda lib, x, o: x.copy_(o),
    "masked_fill_": lambda lib, x, m, c: x.masked_fill_(m, c),
    "neg_": lambda lib, x: x.neg_(),
    "pow_": lambda lib, x, c: x.pow_(c),
}


def _setitem(lib, env, x, index, o=None, c=None):
    x[_index(lib, env, index)] = o if o is not None else c
    return x


def step(lib, env, spec):
    """Run one op spec, appending its result to ``env``."""
    name, refs, kw = spec
    args = [env[r] for r in refs]
    if name == "input":
        out = make_input(lib, **kw)
    elif name in UNARY:
        out = UNARY[name](lib, *args)
    elif name in SCALAR:
        out = SCALAR[name](lib, *args, kw["c"])
    elif name in BINARY:
        out = BINARY[name](lib, *args)
    elif name in REDUCE:
        out = REDUCE[name][1](lib, *args, **kw)
    elif name == "getitem":
        out = SHAPE[name](lib, *args, env=env, **kw)
    elif name in SHAPE:
        out = SHAPE[name](lib, *args, **kw)
    elif name in NARY:
        out = NARY[name](lib, args, **kw)
    elif name in INDEX:
        out = INDEX[name](lib, *args, **kw)
    elif name == "matmul":
        out = args[0] @ args[1]
    elif name == "setitem":
        kw = dict(kw)
        if len(args) > 1:
            kw["o"] = args[1]
        out = _setitem(lib, env, args[0], **kw)
    elif name in INPLACE:
        kw = dict(kw)
        names = {"masked_fill_": ("m",), "copy_": ("o",)}.get(name, ("o",))
        for n, a in zip(names, args[1:]):
            kw[n] = a
        out = INPLACE[name](lib, args[0], **kw)
    else:
        raise KeyError(f"unknown op {name!r}")
    env.append(out)
    # torch regenerates a view's grad_fn lazily, when it is read, and whether
    # a later in-place op is allowed can depend on that; Ember does it at
    # once.  Read them all after every op so both behave the same.
    for v in env:
        try:
            v.grad_fn
        except Exception:  # noqa: BLE001 -- an invalidated view: using it will raise
            pass
    return out


def run(lib, program):
    """Interpret ``program`` with ``lib``; returns (env, leaves)."""
    env = []
    leaves = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for spec in program:
            out = step(lib, env, spec)
            if spec[0] == "input" and spec[2].get("rg"):
                leaves.append(out)
    return env, leaves


# ---- comparison ----------------------------------------------------------------------

class Mismatch(AssertionError):
    pass


class TorchLimitation(Exception):
    """torch itself fails in backward for a reason other than a version-counter
    check (a quirk of one of its backward formulas): nothing to compare."""


def _np(x):
    # (clone first: numpy(force=True) of one of torch's ZeroTensor gradients with
    # a storage offset crashes the process -- a torch bug)
    return x.detach().clone().numpy(force=True).copy() if hasattr(x, "detach") else np.asarray(x)


_LOW_PRECISION = [False]  # set while comparing a program that involves float32


def _tol(dtype, order=1):
    if dtype == np.float64 and not _LOW_PRECISION[0]:
        return (1e-7, 1e-7)
    # float32 (anywhere in the program): second derivatives amplify rounding more
    return (2e-4, 2e-4) if order == 1 else (2e-3, 2e-3)


def close(e, t, what, order=1):
    """Ember value ``e`` equals torch value ``t`` (dtype, shape, values)."""
    en, tn = _np(e), _np(t)
    if en.dtype != tn.dtype:
        raise Mismatch(f"{what}: dtype {en.dtype} != torch {tn.dtype}")
    if en.shape != tn.shape:
        raise Mismatch(f"{what}: shape {en.shape} != torch {tn.shape}")
    if tn.dtype.kind != "f":
        if not np.array_equal(en, tn):
            raise Mismatch(f"{what}: values differ\nember {en}\ntorch {tn}")
        return
    if not np.array_equal(np.isnan(en), np.isnan(tn)):
        raise Mismatch(f"{what}: NaN positions differ\nember {en}\ntorch {tn}")
    fin = np.isfinite(tn)
    if not np.array_equal(en[~fin & ~np.isnan(tn)], tn[~fin & ~np.isnan(tn)]):
        raise Mismatch(f"{what}: inf values differ\nember {en}\ntorch {tn}")
    if not np.array_equal(np.isfinite(en), fin):
        raise Mismatch(f"{what}: finite positions differ\nember {en}\ntorch {tn}")
    a, r = _tol(tn.dtype, order)
    scale = float(np.abs(tn[fin]).max()) if fin.any() else 0.0
    err = np.abs(en[fin].astype(np.float64) - tn[fin])
    bad = err > a * max(1.0, scale) + r * np.abs(tn[fin])
    if bad.any():
        raise Mismatch(f"{what}: values differ (max err {err.max():.3g})\nember {en}\ntorch {tn}")


def _weights(t, k):
    rng = np.random.default_rng(1000 + k)
    return rng.uniform(0.5, 1.5, tuple(t.shape))


def _loss_terms(env):
    """Indices of the values in the loss: every floating result that requires
    grad.  (Not deduplicated by identity: whether e.g. ``contiguous()``
    returns its input depends on memory layouts, which torch and NumPy
    choose differently; an entry that is the same object twice -- an
    in-place op's result -- is the same in both libraries.)"""
    return [k for k, v in enumerate(env) if v.requires_grad and v.is_floating_point()]


def _loss(lib, env, terms=None):
    """A weighted sum of the values ``terms`` (default: _loss_terms)."""
    total = None
    for k in (_loss_terms(env) if terms is None else terms):
        v = env[k]
        w = lib.tensor(_weights(v, k), dtype=v.dtype)
        term = (v * w).sum().double()
        total = term if total is None else total + term
    return total


def _grads(lib, env, leaves, order2):
    """First-order grads of the loss w.r.t. leaves (via .backward()) and, with
    order2, grads of sum(g_i * w_i) w.r.t. the leaves."""
    loss = _loss(lib, env)
    if loss is None or not leaves:
        return None, None
    if not order2:
        loss.backward()
        return [l.grad for l in leaves], None
    g = lib.autograd.grad(loss, leaves, create_graph=True, allow_unused=True)
    g1 = [None if x is None else x.detach() for x in g]
    terms = [(x * lib.tensor(_weights(x, 50 + i), dtype=x.dtype)).sum().double()
             for i, x in enumerate(g) if x is not None and x.requires_grad]
    if not terms:
        return g1, None
    loss2 = terms[0]
    for t in terms[1:]:
        loss2 = loss2 + t
    g2 = lib.autograd.grad(loss2, leaves, allow_unused=True)
    return g1, list(g2)


def _outcome(lib, program, order2):
    """(env, grads, grads2) or the exception raised, and at which stage."""
    try:
        env, leaves = run(lib, program)
    except Exception as exc:  # noqa: BLE001 -- compared against the other framework
        return "forward", exc, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g1, g2 = _grads(lib, env, leaves, order2)
    except Exception as exc:  # noqa: BLE001
        return "backward", exc, env
    return "ok", (env, g1, g2), None


def _grad_close(ge, gt, what):
    for i, (e, t) in enumerate(zip(ge, gt)):
        # (no gradient == zeros; either side's "zeros" may be rounding dust)
        if t is None:
            if e is not None and np.any(np.abs(_np(e)) > 10 * _tol(_np(e).dtype)[0]):
                raise Mismatch(f"{what}[{i}]: torch has no gradient, ember {_np(e)}")
            continue
        if e is None:
            if np.any(np.abs(_np(t)) > 10 * _tol(_np(t).dtype)[0]):
                raise Mismatch(f"{what}[{i}]: ember has no gradient, torch {_np(t)}")
            continue
        close(e, t, f"{what}[{i}]", 2 if what == "grad2" else 1)


def compare(program, order2=False):
    """Run ``program`` on both frameworks; raise Mismatch on any difference."""
    import torch

    import ember
    _LOW_PRECISION[0] = "float32" in repr(program) or "'float'" in repr(program)
    st_t, res_t, env_t = _outcome(torch, program, order2)
    st_e, res_e, env_e = _outcome(ember, program, order2)
    if st_t == "forward":
        raise AssertionError(f"torch refused the program in forward: {res_t!r}")
    if st_t == "backward" and "modified by an inplace" not in str(res_t):
        raise TorchLimitation(res_t)
    if st_e == "backward" and st_t == "ok" and "of MmBackward0" in str(res_e):
        # torch's matmul folds a non-contiguous batch into a copy and saves
        # that, so it doesn't notice the original changing in place; Ember
        # saves the original and does.  Stricter, never wrong: not compared.
        raise TorchLimitation(res_e)
    if st_e == "forward":
        raise Mismatch(f"ember raised in forward, torch did not: {res_e!r}") from res_e
    if st_t == "backward" and st_e == "ok":
        # torch's formula saved a tensor that was then overwritten; Ember's
        # saved less.  Fine if Ember's gradients are right: check them
        # against finite differences (of the program in float64).
        _fd_check(program)
        return
    if st_t == "backward" or st_e == "backward":
        if st_t != st_e:
            exc = res_e if st_e == "backward" else None
            said_t = "raised " + repr(res_t) if st_t == "backward" else "ok"
            said_e = "raised " + repr(res_e) if st_e == "backward" else "ok"
            raise Mismatch(f"backward: torch {said_t}, ember {said_e}") from exc
        if type(res_t) is not type(res_e) and not (isinstance(res_t, RuntimeError)
                                                   and isinstance(res_e, RuntimeError)):
            raise Mismatch(f"backward raised {res_e!r}, torch {res_t!r}")
        env_pairs = zip(env_e, env_t)
    else:
        env_pairs = zip(res_e[0], res_t[0])
    env_pairs = list(env_pairs)
    for k, (e, t) in enumerate(env_pairs):
        if program[k][0] == "gelu" and _gelu_of_inf32(env_pairs[program[k][1][0]][1]):
            # torch's float32 gelu(+inf) is NaN in its vectorised kernel (any
            # tensor of 2+ elements) and inf for one element; Ember gives inf
            raise TorchLimitation("float32 gelu of +inf")
        close(e, t, f"value {k} ({program[k][0]})")
        if e.requires_grad != t.requires_grad and t.is_floating_point():
            # (torch marks a bool tensor written from a grad-requiring value as
            # requiring grad; it has no gradient to give)
            raise Mismatch(f"value {k} ({program[k][0]}): requires_grad {e.requires_grad} "
                           f"!= torch {t.requires_grad}")
    if st_t == "ok":
        _, g1e, g2e = res_e
        _, g1t, g2t = res_t
        if g1t is not None:
            _grad_close(g1e, g1t, "grad")
        # (torch's first-order gradients sometimes require grad where they are
        # constant -- abs' sign(x) * g -- and then give zeros; Ember's don't)
        if g2t is not None or g2e is not None:
            _grad_close(g2e or [None] * len(g2t), g2t or [None] * len(g2e), "grad2")


def _gelu_of_inf32(x):
    import torch
    return x.dtype == torch.float32 and bool((x == float("inf")).any())


def _as_float64(program):
    out = []
    for name, refs, kw in program:
        if name == "input" and kw["dtype"] == "float32":
            kw = dict(kw, dtype="float64")
        out.append(("double" if name == "float" else name, refs, kw))
    return out


def _fd_check(program, eps=1e-6):
    """Ember's gradients of the float64 version of ``program`` against central
    differences of torch's forward."""
    import torch

    import ember
    program = _as_float64(program)
    prev = torch.get_default_dtype(), ember.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # (ints promote to float64 too)
    ember.set_default_dtype(ember.float64)
    try:
        _fd_check64(program, eps)
    finally:
        torch.set_default_dtype(prev[0])
        ember.set_default_dtype(prev[1])


def _fd_check64(program, eps):
    import torch

    import ember
    try:
        env, leaves = run(ember, program)
        run(torch, program)
    except Exception:  # noqa: BLE001 -- not valid in float64 (dtype rules): can't check
        return
    terms = _loss_terms(env)
    loss = _loss(ember, env, terms)
    if loss is None or not leaves:
        return
    try:
        loss.backward()
    except RuntimeError:
        return  # the float64 variant trips the version check: nothing to compare
    inputs = [k for k, (name, _, kw) in enumerate(program) if name == "input" and kw.get("rg")]

    def f(values):
        prog = list(program)
        tenv = []
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k, spec in enumerate(prog):
                if k in values:
                    tenv.append(torch.tensor(values[k]))
                else:
                    step(torch, tenv, spec)
            return float(sum((tenv[k] * torch.tensor(_weights(tenv[k], k))).sum().double()
                             for k in terms))

    base = {k: _np(run(torch, program[:k + 1])[0][k]) for k in inputs}
    # rounding noise of a central difference: ~eps64 * |loss| / step (a loss of
    # 1e5 leaves ~2e-6 of it; more with the loss's own cancellation)
    noise = 1e3 * np.finfo(np.float64).eps * abs(f(base)) / eps
    for leaf, k in zip(leaves, inputs):
        x = base[k]
        num = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            vals = {j: v.copy() for j, v in base.items()}
            vals[k][idx] += eps
            hi = f(vals)
            vals[k][idx] -= 2 * eps
            lo = f(vals)
            num[idx] = (hi - lo) / (2 * eps)
        got = np.zeros_like(x) if leaf.grad is None else _np(leaf.grad)
        fin = np.isfinite(num) & (np.abs(num) < 1e6)  # (differences can't see poles)
        got, num = got[fin], num[fin]
        if not np.allclose(got, num, rtol=1e-4,
                           atol=max(1e-4 * max(1.0, np.abs(num).max(initial=0)), noise)):
            raise Mismatch(f"torch raised in backward (a saved tensor was modified in place); "
                           f"Ember did not, and its gradient of leaf {k} is wrong:\n"
                           f"ember {got}\nfinite differences {num}")


# ---- the generator -------------------------------------------------------------------

def _shapes(draw, max_ndim=3):
    nd = draw(st.integers(0, max_ndim))
    return tuple(draw(st.sampled_from((1, 2, 3, 4, 2, 3, 0) if i == 0 else (1, 2, 3, 4, 2, 3)))
                 for i in range(nd))


def _broadcast_partner(draw, shape):
    """A shape that broadcasts with ``shape``."""
    out = [draw(st.sampled_from((s, s, 1))) for s in shape]
    drop = draw(st.integers(0, len(out)))
    out = out[drop:]
    if draw(st.integers(0, 4)) == 0:
        out = [draw(st.sampled_from((1, 2)))] + out
    return tuple(out)


class _Gen:
    """State while drawing: the program so far and a live torch environment."""

    def __init__(self, draw, order2):
        import torch
        self.torch = torch
        self.draw = draw
        self.prog = []
        self.env = []
        self.order2 = order2
        self.seed = 0

    def try_add(self, *specs):
        """Append specs if torch runs them; otherwise roll back.  True if kept."""
        n = len(self.prog)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for s in specs:
                    self.prog.append(s)
                    step(self.torch, self.env, s)
            return True
        except Exception:  # noqa: BLE001 -- torch refused: drop the op
            del self.prog[n:]
            self.env, _ = run(self.torch, self.prog)
            return False

    def new_input(self, shape=None, dtype=None, rg=None, positive=False):
        d = self.draw
        if shape is None:
            shape = _shapes(d)
        if dtype is None:
            dtype = d(st.sampled_from(("float64", "float64", "float32", "float32", "int64")))
        if rg is None:
            rg = dtype in FLOAT_DTYPES and d(st.integers(0, 3)) > 0
        self.seed += 1
        kw = {"shape": tuple(shape), "dtype": dtype, "rg": bool(rg), "seed": self.seed}
        if positive:
            kw["positive"] = True
        return ("input", [], kw)

    def pick(self, pred=lambda t: True):
        """Index of a live value satisfying ``pred`` (recent ones favoured), or None."""
        cands = [i for i, t in enumerate(self.env) if _safe(pred, t)]
        if not cands:
            return None
        # Mostly the most recent values, so programs are chains, not fans.
        j = self.draw(st.integers(0, len(cands) - 1))
        return cands[-1 - j]


def _safe(pred, t):
    try:
        return pred(t)
    except Exception:  # noqa: BLE001 -- e.g. torch refuses to show an invalidated view
        return False


def _is_float(t):
    return t.is_floating_point()


def _dim(draw, nd):
    return draw(st.integers(-nd, nd - 1)) if nd else None


def _gen_unary(g):
    i = g.pick()
    names = sorted(UNARY)
    return [(g.draw(st.sampled_from(names)), [i], {})]


def _gen_scalar(g):
    i = g.pick()
    name = g.draw(st.sampled_from(sorted(SCALAR)))
    c = g.draw(st.sampled_from((2, -1, 0.5, 1.5, -0.25, 3, 0)))
    if name == "pow_s":
        c = g.draw(st.sampled_from((2, 3, 0.5, -1, 1.5, 0)))
    if g.order2 and c == 0 and name == "rpow_s":
        # 0 ** x: torch's second derivative leaks NaN through its masked
        # formula (log 0); Ember's gives 0.  Not worth matching.
        c = 2
    return [(name, [i], {"c": c})]


def _gen_binary(g):
    i = g.pick()
    name = g.draw(st.sampled_from(sorted(BINARY)))
    shape = tuple(g.env[i].shape)
    ok = lambda t: _broadcastable(tuple(t.shape), shape)  # noqa: E731
    j = g.pick(ok) if g.draw(st.booleans()) else None
    specs = []
    if j is None:
        specs.append(g.new_input(_broadcast_partner(g.draw, shape)))
        j = len(g.env)
    a, b = (i, j) if g.draw(st.booleans()) else (j, i)
    specs.append((name, [a, b], {}))
    return specs


def _broadcastable(a, b):
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def _gen_reduce(g):
    name = g.draw(st.sampled_from(sorted(REDUCE)))
    kind = REDUCE[name][0]
    if g.order2 and name in ("var", "std0") and min(t.numel() for t in g.env) <= 1:
        # the variance of one element divides by 0 (correction 1) or has
        # std 0: torch's second derivatives there are arbitrary (0 or NaN)
        return []
    # (softmax of an int/bool tensor: torch refuses unless it is empty)
    i = g.pick(_is_float if "softmax" in name else (lambda t: True))
    if i is None:
        return []
    nd = g.env[i].dim()
    kw = {}
    if kind == "none":
        return [(name, [i], kw)]
    if kind.startswith("int!"):
        kw["dim"] = _dim(g.draw, max(nd, 1))
    elif kind == "int":
        if g.draw(st.booleans()):
            kw["dim"] = _dim(g.draw, max(nd, 1))
    else:  # tuple: None, an int, or a tuple of distinct dims
        choice = g.draw(st.integers(0, 2 if kind == "tuple" else 1))
        if choice == 1 or kind == "tuple!":
            kw["dim"] = _dim(g.draw, max(nd, 1))
        elif choice == 2 and nd:
            dims = g.draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
            kw["dim"] = tuple(d - nd if g.draw(st.booleans()) else d for d in dims)
    if "dim" in kw and not kind.endswith("nokeep") and g.draw(st.booleans()):
        kw["keepdim"] = True
    return [(name, [i], kw)]


def _gen_shape(g):
    i = g.pick()
    x = g.env[i]
    shape = tuple(x.shape)
    nd = len(shape)
    d = g.draw
    name = d(st.sampled_from(sorted(SHAPE)))
    kw = {}
    if name in ("reshape", "view"):
        n = int(np.prod(shape)) if shape else 1
        opts = [(-1,), (n,), shape[::-1], (1,) + shape, shape + (1,)]
        if nd >= 2:
            opts.append(shape[:-2] + (shape[-2] * shape[-1],))
            opts.append((shape[0], -1))
        kw["shape"] = d(st.sampled_from(opts))
    elif name == "transpose":
        if nd == 0:
            kw = {"d0": 0, "d1": -1}
        else:
            kw = {"d0": _dim(d, nd), "d1": _dim(d, nd)}
    elif name == "permute":
        kw["perm"] = tuple(d(st.permutations(range(nd))))
    elif name == "expand":
        new = tuple(d(st.sampled_from((3, -1))) if s == 1 else d(st.sampled_from((s, -1)))
                    for s in shape)
        if d(st.booleans()):
            new = (d(st.integers(1, 3)),) + new
        kw["shape"] = new
    elif name == "squeeze":
        if nd and d(st.booleans()):
            kw["dim"] = _dim(d, nd)
    elif name == "unsqueeze":
        kw["dim"] = d(st.integers(-nd - 1, nd))
    elif name == "narrow":
        if nd == 0:
            return []
        dim = _dim(d, nd)
        size = shape[dim]
        start = d(st.integers(0, size))
        kw = {"dim": dim, "start": start, "length": d(st.integers(0, size - start))}
    elif name == "getitem":
        kw["index"] = _basic_index(d, shape)
    elif name == "flip":
        if nd == 0:
            return []
        kw["dims"] = tuple(d(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd,
                                      unique=True)))
    elif name in ("t", "mT"):
        pass
    elif name == "flatten":
        a, b = sorted((_dim(d, max(nd, 1)) % max(nd, 1), _dim(d, max(nd, 1)) % max(nd, 1)))
        kw = {"start": a, "end": b}
    elif name in ("select", "unbind_k"):
        if nd == 0 or shape[0] == 0:
            return []
        dim = _dim(d, nd)
        if shape[dim] == 0:
            return []
        k = d(st.integers(-shape[dim], shape[dim] - 1))
        kw = {"dim": dim, "index": k} if name == "select" else {"dim": dim, "k": k}
    elif name in ("chunk_k", "split_k"):
        if nd == 0:
            return []
        dim = _dim(d, nd)
        n = d(st.integers(1, 3))
        kw = {"chunks": n} if name == "chunk_k" else {"size": n}
        kw.update(dim=dim, k=0 if shape[dim] <= 1 else d(st.integers(0, 1)))
    elif name == "movedim":
        if nd == 0:
            return []
        kw = {"src": _dim(d, nd), "dst": _dim(d, nd)}
    elif name == "repeat":
        kw["reps"] = tuple(d(st.integers(1, 2)) for _ in range(nd + d(st.integers(0, 1))))
        if not kw["reps"]:
            kw["reps"] = (2,)
    elif name == "roll":
        if nd == 0:
            return []
        kw = {"shifts": d(st.integers(-3, 3)), "dims": _dim(d, nd)}
    elif name == "tril":
        kw["k"] = d(st.integers(-1, 1))
    elif name == "diagonal":
        if nd < 2:
            return []
        d0 = _dim(d, nd)
        d1 = _dim(d, nd)
        kw = {"offset": d(st.integers(-1, 1)), "d0": d0, "d1": d1}
    return [(name, [i], kw)]


def _basic_index(d, shape):
    """A torch-valid index for ``shape``: ints, slices (positive steps), None,
    Ellipsis and, sometimes, one integer list (advanced indexing)."""
    comps = []
    advanced = 0
    for s in shape:
        kind = d(st.integers(0, 6))
        if kind == 0 and s:
            comps.append(d(st.integers(-s, s - 1)))
        elif kind <= 3:
            start = d(st.sampled_from((None, 0, 1, -1, -2)))
            stop = d(st.sampled_from((None, -1, 2, 3)))
            stepv = d(st.sampled_from((None, 1, 2)))
            comps.append(slice(start, stop, stepv))
        elif kind == 4 and s and advanced < 2:
            advanced += 1
            comps.append(d(st.lists(st.integers(-s, s - 1), min_size=1, max_size=4)))
        elif kind == 5:
            comps.append(None)
        else:
            break
    if d(st.integers(0, 4)) == 0:
        comps.insert(d(st.integers(0, len(comps))), Ellipsis)
    if len(comps) == 1 and d(st.booleans()):
        return comps[0]
    return tuple(comps)


def _gen_mask_index(g):
    """x[mask] / masked_fill / masked_select with a boolean value from env or x > c."""
    i = g.pick()
    x = g.env[i]
    shape = tuple(x.shape)
    name = g.draw(st.sampled_from(("getitem", "masked_fill", "masked_select")))
    if name == "getitem":
        pref = g.draw(st.integers(0, len(shape)))
        ok = lambda t: (t.dtype == g.torch.bool and tuple(t.shape) == shape[:pref]  # noqa: E731
                        and t.dim() > 0)
    else:
        ok = lambda t: t.dtype == g.torch.bool and _broadcast_into(tuple(t.shape), shape)  # noqa
    m = g.pick(ok)
    specs = []
    if m is None:
        if name == "getitem" and pref == 0:
            return []
        src_shape = shape[:pref] if name == "getitem" else shape
        specs.append(g.new_input(src_shape, "float64", False))
        specs.append(("gt_s", [len(g.env)], {"c": 0.0}))
        m = len(g.env) + 1
    if name == "getitem":
        specs.append(("getitem", [i], {"index": ("ref", m)}))
    elif name == "masked_fill":
        specs.append(("masked_fill", [i, m], {"value": g.draw(st.sampled_from((0.0, -1.5, 2.0)))}))
    else:
        specs.append(("masked_select", [i, m], {}))
    return specs


def _broadcast_into(small, big):
    try:
        return np.broadcast_shapes(small, big) == big
    except ValueError:
        return False


def _gen_index(g):
    i = g.pick(lambda t: t.dim() > 0)
    if i is None:
        return []
    x = g.env[i]
    shape = tuple(x.shape)
    nd = len(shape)
    dim = _dim(g.draw, nd)
    size = shape[dim]
    if size == 0:
        return []
    if g.draw(st.booleans()):
        idx = g.draw(st.lists(st.integers(0, size - 1), min_size=0, max_size=5))
        return [("index_select", [i], {"dim": dim, "index": idx})]
    # gather: an index of the same rank, values in range along dim
    ishape = [g.draw(st.integers(1, max(s, 1))) if s else 0 for s in shape]
    ishape[dim] = g.draw(st.integers(1, 4))
    rng = np.random.default_rng(g.draw(st.integers(0, 1000)))
    idx = rng.integers(0, size, ishape).tolist()
    return [("gather", [i], {"dim": dim, "index": idx})]


def _gen_cat(g):
    i = g.pick()
    x = g.env[i]
    shape = tuple(x.shape)
    name = g.draw(st.sampled_from(("cat", "stack")))
    nd = len(shape)
    if name == "cat":
        if nd == 0:
            return []
        dim = _dim(g.draw, nd)
        same = lambda t: (t.dim() == nd and all(a == b for k, (a, b) in  # noqa: E731
                          enumerate(zip(t.shape, shape)) if k != dim % nd))
    else:
        dim = g.draw(st.integers(-nd - 1, nd))
        same = lambda t: tuple(t.shape) == shape  # noqa: E731
    j = g.pick(same)
    specs = []
    if j is None or g.draw(st.integers(0, 2)) == 0:
        s2 = list(shape)
        if name == "cat":
            s2[dim] = g.draw(st.integers(1, 3))
        dt = g.draw(st.sampled_from(("float64", "float32", str(x.dtype).split(".")[-1])))
        specs.append(g.new_input(tuple(s2), dt))
        j = len(g.env)
    refs = [i, j] if g.draw(st.booleans()) else [j, i, i]
    specs.append((name, refs, {"dim": dim}))
    return specs


def _gen_matmul(g):
    i = g.pick(lambda t: t.dim() > 0 and t.is_floating_point())
    if i is None:
        return []
    a = tuple(g.env[i].shape)
    k = a[-1]
    d = g.draw
    choice = d(st.integers(0, 3))
    if choice == 0:
        b = (k,)
    elif choice == 1:
        b = (k, d(st.integers(1, 3)))
    elif choice == 2:
        b = (d(st.integers(1, 2)), k, d(st.integers(1, 3)))
    else:
        if len(a) < 2:
            return []
        return [("mT", [i], {}), ("matmul", [i, len(g.env)], {})]
    j = g.pick(lambda t: tuple(t.shape) == b and t.dtype == g.env[i].dtype)
    specs = []
    if j is None:
        specs.append(g.new_input(b, str(g.env[i].dtype).split(".")[-1]))
        j = len(g.env)
    return specs + [("matmul", [i, j], {})]


def _gen_inplace(g):
    """An in-place op on a non-leaf value (possibly a view): torch decides
    whether it's allowed; backward may then legitimately raise."""
    i = g.pick(lambda t: t.grad_fn is not None or not t.requires_grad)
    if i is None:
        return []
    x = g.env[i]
    shape = tuple(x.shape)
    d = g.draw
    name = d(st.sampled_from(sorted(INPLACE) + ["setitem"] * 4))
    specs = []

    def partner(target_shape):
        j = g.pick(lambda t: _broadcast_into(tuple(t.shape), target_shape))
        if j is None or d(st.booleans()):
            specs.append(g.new_input(_broadcast_partner(d, target_shape)
                                     if d(st.booleans()) else target_shape,
                                     d(st.sampled_from(("float64", "float32")))))
            return len(g.env)
        return j

    if name == "setitem":
        if d(st.integers(0, 3)) == 0:
            m = g.pick(lambda t: t.dtype == g.torch.bool and tuple(t.shape) == shape and t.dim())
            if m is None:
                return []
            index = ("ref", m)
        else:
            index = _basic_index(d, shape)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tshape = tuple(x[_index(g.torch, g.env, index)].shape)
        except Exception:  # noqa: BLE001
            return []
        if d(st.booleans()):
            return [("setitem", [i], {"index": index, "c": d(st.sampled_from((0.0, 1.5, -2)))})]
        j = partner(tshape)
        return specs + [("setitem", [i, j], {"index": index})]
    if name in ("add_", "sub_", "mul_", "div_"):
        if d(st.booleans()):
            c = d(st.sampled_from((2.0, -0.5, 3)))
            return [(name, [i], {"c": c})]
        j = partner(shape)
        return specs + [(name, [i, j], {})]
    if name == "clamp_":
        lo = d(st.sampled_from((None, -0.5, 0.0)))
        hi = d(st.sampled_from((None, 0.5, 1.0)))
        return [(name, [i], {"lo": lo, "hi": hi})]
    if name == "fill_":
        return [(name, [i], {"c": d(st.sampled_from((0.0, 1.0, -2.5)))})]
    if name == "pow_":
        return [(name, [i], {"c": d(st.sampled_from((2, 0.5, 3)))})]
    if name == "copy_":
        j = partner(shape)
        return specs + [(name, [i, j], {})]
    if name == "masked_fill_":
        m = g.pick(lambda t: t.dtype == g.torch.bool and _broadcast_into(tuple(t.shape), shape))
        if m is None:
            return []
        return [(name, [i, m], {"c": d(st.sampled_from((0.0, 2.0)))})]
    return [(name, [i], {})]


GENERATORS = {
    "unary": _gen_unary, "scalar": _gen_scalar, "binary": _gen_binary,
    "reduce": _gen_reduce, "shape": _gen_shape, "mask": _gen_mask_index,
    "index": _gen_index, "cat": _gen_cat, "matmul": _gen_matmul, "inplace": _gen_inplace,
}
KINDS = ["unary", "scalar", "binary", "binary", "reduce", "shape", "shape", "mask", "index",
         "cat", "matmul", "inplace", "inplace"]
ORDER2_KINDS = ["unary", "scalar", "binary", "binary", "reduce", "shape", "shape", "matmul",
                "index", "cat", "inplace"]


@st.composite
def programs(draw, max_ops=8, order2=False):
    """A random valid (for torch) program of up to ``max_ops`` ops."""
    g = _Gen(draw, order2)
    for _ in range(draw(st.integers(1, 2))):
        dt = draw(st.sampled_from(("float64", "float32")))
        g.try_add(g.new_input(dtype=dt, rg=True))
    kinds = ORDER2_KINDS if order2 else KINDS
    for _ in range(draw(st.integers(1, max_ops))):
        kind = draw(st.sampled_from(kinds))
        specs = GENERATORS[kind](g)
        if specs:
            g.try_add(*specs)
    return g.prog


def fmt(program):
    """The program as a pasteable literal, one op per line."""
    return "[\n" + "".join(f"    {spec!r},\n" for spec in program) + "]"


# ---- minimizing a failing program by hand ------------------------------------------------

def _drop(program, k):
    """``program`` without op ``k`` (None if a later op uses its result)."""
    def remap(v):
        if isinstance(v, tuple) and len(v) == 2 and v[0] == "ref":
            if v[1] == k:
                raise LookupError
            return ("ref", v[1] - (v[1] > k))
        if isinstance(v, tuple):
            return tuple(remap(c) for c in v)
        return v
    out = []
    try:
        for i, (name, refs, kw) in enumerate(program):
            if i == k:
                continue
            if k in refs:
                return None
            out.append((name, [r - (r > k) for r in refs], {n: remap(v) for n, v in kw.items()}))
    except LookupError:
        return None
    return out


def minimize(program, still_fails):
    """Greedily drop ops while ``still_fails(program)`` holds (Hypothesis
    shrinks too; this is for programs found by a campaign)."""
    changed = True
    while changed:
        changed = False
        for k in range(len(program) - 1, -1, -1):
            cand = _drop(program, k)
            if cand and still_fails(cand):
                program, changed = cand, True
    return program
