"""Higher-level derivatives built on grad(): vjp, jvp, jacobian, hessian, hvp.

Unlike the rest of ember.autograd, this module sits above ember.ops (it
stacks rows of a Jacobian), so ember/__init__.py loads it after the ops, not
ember/autograd/__init__.py.
"""
from .._creation import zeros, zeros_like
from ..ops.shape import stack
from .engine import grad as _grad
from .grad_mode import enable_grad


def _tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _prep(inputs, create_graph):
    out = []
    for x in _tuple(inputs):
        x = x.detach()
        x.requires_grad_(True)
        out.append(x)
    return tuple(out)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J)."""
    single = not isinstance(inputs, (tuple, list))
    xs = _prep(inputs, create_graph)
    with enable_grad():
        out = func(*xs)
        g = _grad(out, xs, v, create_graph=create_graph, allow_unused=True)
    g = tuple(gi if gi is not None else _zeros(x) for gi, x in zip(g, xs))
    out = out if create_graph else out.detach()
    return out, (g[0] if single else g)


def _zeros(x):
    return zeros_like(x)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """Full Jacobian by one backward pass per output element."""
    single = not isinstance(inputs, (tuple, list))
    xs = _prep(inputs, create_graph)
    with enable_grad():
        out = func(*xs)
    single_out = not isinstance(out, (tuple, list))
    outs = _tuple(out)
    jac = []
    for o in outs:
        flat = o.reshape(-1)
        rows = [[] for _ in xs]
        for i in range(flat.shape[0]):
            gs = _grad(flat[i], xs, retain_graph=True, create_graph=create_graph, allow_unused=True)
            for k, (gk, x) in enumerate(zip(gs, xs)):
                rows[k].append(gk if gk is not None else _zeros(x))
        per_in = []
        for k, x in enumerate(xs):
            if rows[k]:
                j = stack(rows[k]).reshape(tuple(o.shape) + tuple(x.shape))
            else:
                j = zeros(tuple(o.shape) + tuple(x.shape), dtype=x.dtype)
            per_in.append(j)
        jac.append(per_in[0] if single else tuple(per_in))
    return jac[0] if single_out else tuple(jac)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """Hessian of a scalar function."""
    single = not isinstance(inputs, (tuple, list))

    def jac_fn(*xs):
        with enable_grad():
            out = func(*xs)
            g = _grad(out, xs, create_graph=True, allow_unused=True)
        g = tuple(gi if gi is not None else _zeros(x) for gi, x in zip(g, xs))
        return g[0] if single else g
    return jacobian(jac_fn, inputs, create_graph=create_graph)


def hvp(func, inputs, v, create_graph=False, strict=False):
    """(func(inputs), H v) via double backward."""
    single = not isinstance(inputs, (tuple, list))
    xs = _prep(inputs, create_graph)
    vs = _tuple(v)
    with enable_grad():
        out = func(*xs)
        g = _grad(out, xs, create_graph=True)
        hv = _grad(g, xs, vs, create_graph=create_graph, allow_unused=True)
    hv = tuple(h if h is not None else _zeros(x) for h, x in zip(hv, xs))
    return out.detach(), (hv[0] if single else hv)


vhp = hvp


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v) by the double-vjp trick."""
    single = not isinstance(inputs, (tuple, list))
    xs = _prep(inputs, create_graph)
    vs = _tuple(v)
    with enable_grad():
        out = func(*xs)
        u = zeros_like(out).requires_grad_(True)
        g = _grad(out, xs, u, create_graph=True, allow_unused=True)
        jv = _grad(g, u, vs, create_graph=create_graph, allow_unused=True)[0]
    return out.detach(), jv
