"""stack_module_state, linearize and functionalize: the rest of torch.func's
everyday names."""
from ..ops.shape import stack
from ._autodiff import jvp


def stack_module_state(models):
    """(params, buffers): each parameter and buffer of the same-shaped
    ``models`` stacked along a new leading dim, for ``vmap`` over an ensemble
    with ``functional_call``.  The stacked parameters are new leaves that
    require grad (the models' own are not touched); buffers do not."""
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or not any(m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same "
                           "training/eval mode.")
    first = type(models[0])
    if not all(type(m) is first for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")

    def stacked(named):
        names = [n for n, _ in named(models[0])]
        out = {}
        for n in names:
            out[n] = stack([dict(named(m))[n].detach() for m in models])
        return out
    params = {n: p.requires_grad_(True) if p.is_floating_point() else p
              for n, p in stacked(lambda m: m.named_parameters()).items()}
    buffers = stacked(lambda m: m.named_buffers())
    return params, buffers


def linearize(func, *primals):
    """(func(*primals), jvp_fn): ``jvp_fn(*tangents)`` is the Jacobian-vector
    product at ``primals``.  (torch traces the linear map once; Ember
    computes each call's product with :func:`jvp` at the saved primals.)"""
    out, _ = jvp(func, primals, tuple(p.new_zeros(p.shape) for p in primals))

    def jvp_fn(*tangents):
        return jvp(func, primals, tangents)[1]
    return out, jvp_fn


def functionalize(func, *, remove="mutations"):
    """``func`` itself: torch's functionalize rewrites in-place ops for its
    compilers and gives the same results; Ember runs eagerly, so there is
    nothing to rewrite."""
    if remove not in ("mutations", "mutations_and_views"):
        raise RuntimeError(f"functionalize takes in argument remove=mutations or "
                           f"remove=mutations_and_views, but got {remove}")
    return func
