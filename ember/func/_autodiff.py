"""torch.func's autodiff transforms on Ember's tape: grad, grad_and_value, vjp,
jvp, jacrev, jacfwd, hessian.

torch.func runs "levels" of wrapped tensors; Ember gets the same results
from its ordinary autograd engine:

* Each transform gives ``func`` fresh inputs that require grad: a detached
  leaf, or, when the argument already requires grad (an outer transform or
  the user's own autograd), a view of it, so the outer graph still sees
  through.  So ``grad(grad(f))``, ``vmap(grad(f))``, ``jacrev(jacrev(f))``
  and ``grad`` under ``loss.backward()`` compose.
* Gradients are taken with ``create_graph`` only when the output's graph
  reaches some tensor requiring grad other than the transform's own fresh
  inputs (an outer level, or a closed-over parameter).  Otherwise results
  come back detached, as torch's do.
* Forward mode (``jvp``, ``jacfwd``) is the double-vjp identity
  ``J v = d/du (u^T J) v``: a reverse pass with a dummy cotangent ``u``,
  differentiated again with respect to ``u``.  It gives torch's values; it
  costs two reverse passes instead of one forward pass.
"""
from .. import _dtype as D
from .._creation import zeros_like, zeros, eye
from .._tensor_base import TensorBase
from ..autograd.engine import grad as _autograd_grad
from ..autograd.function import AccumulateGrad
from ..autograd.grad_mode import enable_grad
from ..ops.shape import stack
from ..utils._pytree import tree_flatten, tree_unflatten
from .._bfloat16 import is_float as _isf


# ---- inputs, argnums, outputs ------------------------------------------------------------

def _fresh(x):
    """``x`` as an input this transform differentiates with respect to."""
    if not isinstance(x, TensorBase):
        raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
    if not _isf(x._data.dtype):
        raise RuntimeError("only Tensors of floating point dtype can require gradients")
    if x.requires_grad:
        return x.view_as(x)          # (an outer level keeps seeing through it)
    return x.detach().requires_grad_(True)


def _check_argnums(argnums, nargs):
    if isinstance(argnums, int) and not isinstance(argnums, bool):
        nums = (argnums,)
    elif isinstance(argnums, tuple) and argnums and all(
            isinstance(a, int) and not isinstance(a, bool) for a in argnums):
        nums = argnums
    else:
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    out = []
    for a in nums:
        if not -nargs <= a < nargs:
            raise RuntimeError(f"Got argnum={a}, but only {nargs} positional inputs")
        out.append(a % nargs)
    if len(set(out)) != len(out):
        raise RuntimeError(f"argnums elements must be unique, got {argnums}")
    return out


def _prepare(args, argnums):
    """(args with the differentiated ones replaced by fresh inputs, their
    flat list, a function rebuilding the argnums structure from flat grads)."""
    nums = _check_argnums(argnums, len(args))
    args = list(args)
    picked = tuple(args[i] for i in nums)
    leaves, spec = tree_flatten(picked)
    fresh = [_fresh(x) for x in leaves]
    new = tree_unflatten(fresh, spec)
    for i, v in zip(nums, new):
        args[i] = v

    def rebuild(flat):
        tree = tree_unflatten(list(flat), spec)
        return tree[0] if isinstance(argnums, int) else tuple(tree)
    return args, fresh, rebuild


def _reaches_outside(tensors, ours):
    """Whether the graph behind ``tensors`` reaches a tensor requiring grad
    that is not one of ``ours`` (ids of this transform's fresh leaves): an
    outer transform's input or a closed-over parameter."""
    stack_, seen = [], set()
    for t in tensors:
        if isinstance(t, TensorBase) and t.requires_grad:
            if t.grad_fn is None:
                if id(t) not in ours:
                    return True
            else:
                stack_.append(t.grad_fn)
    while stack_:
        node = stack_.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, AccumulateGrad):
            if id(node.variable) not in ours:
                return True
            continue
        for e in node._next:
            if e is not None and e[0] is not None:
                stack_.append(e[0])
    return False


def _grads(outputs, inputs, cotangents, create_graph, retain_graph=None):
    """d(outputs)/d(inputs) weighted by cotangents; zeros where unused."""
    outs = [o for o in outputs]
    live = [i for i, o in enumerate(outs) if o.requires_grad]
    if not live:
        return [zeros_like(x) for x in inputs]
    with enable_grad():
        gs = _autograd_grad([outs[i] for i in live], inputs,
                            [cotangents[i] for i in live] if cotangents is not None else None,
                            retain_graph=retain_graph, create_graph=create_graph,
                            allow_unused=True)
    return [g if g is not None else zeros_like(x) for g, x in zip(gs, inputs)]


def _maybe_detach(t, keep):
    return t if keep or not isinstance(t, TensorBase) else t.detach()


def _split_aux(out, has_aux, api):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(f"{api}: output of function f should be a tuple: (output, aux) if "
                           "has_aux is True")
    return out


def _detach_tree(tree, keep):
    """``aux`` handed back: tensors only, as torch requires."""
    leaves, spec = tree_flatten(tree)
    for x in leaves:
        if not isinstance(x, TensorBase):
            raise RuntimeError(f"Expected tensors, got unsupported type {type(x)}")
    return tree_unflatten([_maybe_detach(x, keep) for x in leaves], spec)


# ---- grad, grad_and_value ---------------------------------------------------------------

def grad_and_value(func, argnums=0, has_aux=False):
    """``grad_and_value(f)(*args)`` is ``(grad, value)`` (``((grad, (value, aux))``
    with ``has_aux``): the gradient of the scalar ``f(*args)`` with respect to
    the argument(s) ``argnums`` (an int or a tuple; each may be a tree of
    tensors, such as a dict of parameters)."""
    api = "grad_and_value(f)(*args)"

    def wrapper(*args, **kwargs):
        args, fresh, rebuild = _prepare(args, argnums)
        with enable_grad():
            out = func(*args, **kwargs)
        out, aux = _split_aux(out, has_aux, api)
        if not isinstance(out, TensorBase):
            raise RuntimeError(f"{api}: Expected f(*args) to return a Tensor, got {type(out)}")
        if out._data.ndim != 0:
            raise RuntimeError(f"{api}: Expected f(*args) to return a scalar Tensor, got tensor "
                               f"with {out._data.ndim} dims. Maybe you wanted to use the vjp or "
                               "jacrev APIs instead?")
        ours = {id(x) for x in fresh}
        keep = _reaches_outside([out], ours)
        gs = _grads([out], fresh, None, create_graph=keep)
        value = _maybe_detach(out, keep)
        if has_aux:
            value = (value, _detach_tree(aux, _reaches_outside(tree_flatten(aux)[0], ours)))
        return rebuild(gs), value
    _name(wrapper, func, "grad_and_value")
    return wrapper


def grad(func, argnums=0, has_aux=False):
    """``grad(f)(*args)``: the gradient of the scalar ``f(*args)`` with respect
    to argument(s) ``argnums`` (with ``has_aux``: ``(grad, aux)``).  Composes
    with itself, vmap and the other transforms."""
    gv = grad_and_value(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    _name(wrapper, func, "grad")
    return wrapper


def _name(wrapper, func, what):
    wrapper.__name__ = wrapper.__qualname__ = f"{what}({getattr(func, '__name__', 'f')})"
    wrapper.__doc__ = getattr(func, "__doc__", None)


# ---- vjp ---------------------------------------------------------------------------------

def _tensor_leaves(tree, api, what):
    leaves, spec = tree_flatten(tree)
    for x in leaves:
        if not isinstance(x, TensorBase):
            raise RuntimeError(f"{api}: expected {what} to return only tensors, got unsupported "
                               f"type {type(x)}")
    return leaves, spec


def vjp(func, *primals, has_aux=False):
    """``(output, vjp_fn)`` (``(output, vjp_fn, aux)``): ``vjp_fn(cotangents)``
    gives the vector-Jacobian products, one per primal, in a tuple; it may
    be called many times."""
    args, fresh, rebuild = _prepare(primals, tuple(range(len(primals)))) if primals else \
        ([], [], lambda f: ())
    with enable_grad():
        out = func(*args)
    out, aux = _split_aux(out, has_aux, "vjp(f, *primals)")
    outs, out_spec = _tensor_leaves(out, "vjp(f, *primals)", "f(*primals)")
    ours = {id(x) for x in fresh}
    keep = _reaches_outside(outs, ours)

    def vjp_fn(cotangents, *, retain_graph=True, create_graph=None):
        cots, cot_spec = tree_flatten(cotangents)
        if cot_spec != out_spec:
            raise RuntimeError("Expected pytree structure of cotangents to be the same as "
                               f"pytree structure of outputs to the function. cotangents: "
                               f"{cot_spec}, primal output: {out_spec}")
        for c, o in zip(cots, outs):
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of "
                                   f"{c.shape} and output[0] has a shape of {o.shape}.")
        cg = keep or any(isinstance(c, TensorBase) and c.requires_grad for c in cots) \
            if create_graph is None else create_graph
        gs = _grads(outs, fresh, cots, create_graph=cg, retain_graph=True)
        return tuple(rebuild(gs))

    result = tree_unflatten([_maybe_detach(o, keep) for o in outs], out_spec)
    if has_aux:
        return result, vjp_fn, _detach_tree(aux, _reaches_outside(tree_flatten(aux)[0], ours))
    return result, vjp_fn


# ---- jvp ---------------------------------------------------------------------------------

def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """``(func(*primals), J @ tangents)`` (and ``aux``): the Jacobian-vector
    product, computed as the derivative of a vector-Jacobian product with
    respect to its cotangent (see the module docstring)."""
    api = "jvp(f, primals, tangents)"
    if not isinstance(primals, tuple):
        raise RuntimeError(f"{api}: Expected primals to be a tuple. E.g. it should be valid to "
                           "call f(*primals).")
    p_leaves, p_spec = tree_flatten(primals)
    t_leaves, t_spec = tree_flatten(tangents)
    if p_spec != t_spec:
        raise RuntimeError(f"{api}: Expected primals and tangents to have the same python "
                           "structure. For example, if primals is a tuple of 3 tensors, tangents "
                           f"also must be. Got primals with structure {p_spec} and tangents with "
                           f"structure {t_spec}")
    for p, t in zip(p_leaves, t_leaves):
        if not isinstance(t, TensorBase):
            raise ValueError(f"Thing passed to transform API must be Tensor, got {type(t)}")
        if tuple(p.shape) != tuple(t.shape):
            raise RuntimeError("Trying to set a forward gradient that has a different size than "
                               f"that of the original Tensor, this is not supported. Tensor is of "
                               f"size {list(p.shape)} while the given forward gradient is of size "
                               f"{list(t.shape)}.")
    outs, out_spec, aux, jvps, keep = _jvp_flat(func, primals, [t_leaves], has_aux, api)
    out = tree_unflatten(outs, out_spec)
    jv = tree_unflatten(jvps[0], out_spec)
    return (out, jv, aux) if has_aux else (out, jv)


def _jvp_flat(func, primals, tangent_sets, has_aux, api):
    """Run func once; for each list of tangents (flat, one per primal leaf),
    the flat list of J v, one per output leaf."""
    args, fresh, _ = _prepare(primals, tuple(range(len(primals))))
    with enable_grad():
        out = func(*args)
    out, aux = _split_aux(out, has_aux, api)
    outs, out_spec = _tensor_leaves(out, api, "f(*primals)")
    ours = {id(x) for x in fresh}
    keep = _reaches_outside(outs, ours) or any(
        t.requires_grad for ts in tangent_sets for t in ts)
    # u: a dummy cotangent per output; g = u^T J is linear in u, so d g / d u
    # applied to a tangent v is J v.
    us = [zeros_like(o).requires_grad_(True) for o in outs]
    live = [i for i, o in enumerate(outs) if o.requires_grad]
    with enable_grad():
        if live:
            gs = _autograd_grad([outs[i] for i in live], fresh, [us[i] for i in live],
                                create_graph=True, allow_unused=True)
        else:
            gs = [None] * len(fresh)
    pairs = [(g, v_idx) for v_idx, g in enumerate(gs) if g is not None and g.requires_grad]
    results = []
    for ts in tangent_sets:
        if pairs:
            with enable_grad():
                jv = _autograd_grad([g for g, _ in pairs], us, [ts[k] for _, k in pairs],
                                    retain_graph=True, create_graph=keep, allow_unused=True)
        else:
            jv = [None] * len(us)
        results.append([_maybe_detach(j, keep) if j is not None else zeros_like(o)
                        for j, o in zip(jv, outs)])
    outs = [_maybe_detach(o, _reaches_outside([o], ours)) for o in outs]
    if has_aux:
        aux = _detach_tree(aux, _reaches_outside(tree_flatten(aux)[0], ours))
    return outs, out_spec, aux, results, keep


# ---- Jacobians and the Hessian -------------------------------------------------------------

def _basis(n, like):
    """The n unit vectors of length n, as rows of an identity, in ``like``'s dtype/device."""
    return eye(n, dtype=like.dtype, device=like.device)


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """The Jacobian of ``func`` with respect to argument(s) ``argnums`` by
    reverse mode: one vector-Jacobian product per output element.  For each
    output leaf of shape ``O`` and input of shape ``I`` the block has shape
    ``O + I``; with a tuple ``argnums``, a tuple of blocks per output."""
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    def wrapper(*args, **kwargs):
        args, fresh, rebuild = _prepare(args, argnums)
        with enable_grad():
            out = func(*args, **kwargs)
        out, aux = _split_aux(out, has_aux, "jacrev(f, ...)(*args)")
        outs, out_spec = _tensor_leaves(out, "jacrev(f, ...)(*args)", "f")
        ours = {id(x) for x in fresh}
        keep = _reaches_outside(outs, ours)
        blocks = []
        for o in outs:
            n = o._data.size
            rows = [[] for _ in fresh]
            if o.requires_grad and n:
                flat = o.reshape(-1)
                basis = _basis(n, o)
                for i in range(n):
                    gs = _grads([flat], fresh, [basis[i]], create_graph=keep, retain_graph=True)
                    for k, g in enumerate(gs):
                        rows[k].append(g)
            per_input = []
            for k, x in enumerate(fresh):
                shape = tuple(o.shape) + tuple(x.shape)
                if rows[k]:
                    per_input.append(_maybe_detach(stack(rows[k]).reshape(shape), keep))
                else:
                    per_input.append(zeros(shape, dtype=x.dtype, device=x.device))
            blocks.append(rebuild(per_input))
        jac = tree_unflatten(blocks, out_spec)
        if has_aux:
            return jac, _detach_tree(aux, _reaches_outside(tree_flatten(aux)[0], ours))
        return jac
    _name(wrapper, func, "jacrev")
    return wrapper


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """The Jacobian by forward mode: one Jacobian-vector product per input
    element (each a double vjp, see the module docstring).  Same layout as
    :func:`jacrev`."""
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or "
                           f"'same'. Got {randomness}")

    def wrapper(*args, **kwargs):
        nums = _check_argnums(argnums, len(args))
        picked = tuple(args[i] for i in nums)
        leaves, spec = tree_flatten(picked)
        for x in leaves:
            _fresh(x)          # (type and dtype checks, before anything runs)
        sizes = [x._data.size for x in leaves]
        tangent_sets, owners = [], []
        for k, x in enumerate(leaves):
            basis = _basis(sizes[k], x) if sizes[k] else None
            for j in range(sizes[k]):
                ts = [zeros_like(y) for y in leaves]
                ts[k] = basis[j].reshape(tuple(x.shape))
                tangent_sets.append(ts)
                owners.append(k)

        def f_of_picked(*picked_leaves):
            full = list(args)
            tree = tree_unflatten(list(picked_leaves), spec)
            for i, v in zip(nums, tree):
                full[i] = v
            return func(*full, **kwargs)
        outs, out_spec, aux, jvps, keep = _jvp_flat(
            f_of_picked, tuple(leaves), tangent_sets or [[zeros_like(y) for y in leaves]],
            has_aux, "jacfwd(f, ...)(*args)")
        blocks = []
        for oi, o in enumerate(outs):
            per_input = []
            for k, x in enumerate(leaves):
                cols = [jvps[s][oi] for s, own in enumerate(owners) if own == k]
                shape = tuple(o.shape) + tuple(x.shape)
                if cols:
                    # columns are indexed by the input element: move that axis last
                    j = stack(cols, dim=-1).reshape(shape)
                else:
                    j = zeros(shape, dtype=o.dtype, device=o.device)
                per_input.append(j)
            tree = tree_unflatten(per_input, spec)
            blocks.append(tree[0] if isinstance(argnums, int) else tuple(tree))
        jac = tree_unflatten(blocks, out_spec)
        return (jac, aux) if has_aux else jac
    _name(wrapper, func, "jacfwd")
    return wrapper


def hessian(func, argnums=0):
    """The Hessian of a scalar ``func``: the Jacobian of its gradient.  torch
    composes jacfwd(jacrev(f)); Ember composes jacrev(jacrev(f)), the same
    values with reverse passes only."""
    h = jacrev(jacrev(func, argnums), argnums)
    _name(h, func, "hessian")
    return h


del D
