"""Normalization kernels (batch, instance, group, layer and RMS norm): the generic formulas.

Every such norm is one computation over a view ``xv`` of its input:
statistics over ``spec.axes``, an affine broadcast over the rest.  ``spec``
describes the view (ember.nn.functional.normalization._Spec): ``axes``,
``M`` (elements per statistic), ``pshape`` (the affine's broadcast shape),
``paxes`` (axes summed for the affine's gradients), ``center`` (False for
RMS norm), ``eps``, ``fold`` (the affine is constant over each statistic),
``sshape`` (the statistics' kept shape) and the einsum subscripts ``sub``
and ``psub`` of the sums over ``axes`` and ``paxes`` (einsum is faster
than ``ndarray.sum`` over non-adjacent axes, and needs no temporaries).
"""
from .._registry import kernels, namespace
from .._table import GENERIC


def norm_stats(xv, spec):
    """(xc, rstd, mean, var), each statistic of shape ``spec.sshape``; xc is
    the centred input (``xv`` itself for RMS norm, mean None), so that
    xhat = xc * rstd."""
    xp = namespace(xv)
    inv = 1.0 / max(spec.M, 1)
    if spec.center:
        mean = xp.einsum(spec.sub[0], xv).reshape(spec.sshape) * inv
        xc = xv - mean
    else:
        mean, xc = None, xv
    var = xp.einsum(spec.sub[1], xc, xc).reshape(spec.sshape) * inv
    rstd = 1.0 / xp.sqrt(var + spec.eps)
    return xc, rstd, mean, var


@GENERIC.register
def update_running_stats(rm, rv, mean, var, momentum, unbias):
    """Batch norm's running statistics, in place: ``rm = (1 - momentum) * rm +
    momentum * mean`` and the same for ``rv`` with the unbiased ``var * unbias``
    (1-D arrays of one length; mean and var are cast to the running dtype)."""
    v = var * unbias
    rm *= 1 - momentum
    rm += momentum * mean.astype(rm.dtype, copy=False)
    rv *= 1 - momentum
    rv += momentum * v.astype(rv.dtype, copy=False)


@GENERIC.register
def normalize(xv, w, b, spec, stats):
    """y = (xv - mean) * rstd * w + b over ``spec`` (w, b: None or of
    ``spec.pshape``'s size): ``(y, saved, rstd, mean, var)`` with ``saved``
    what ``normalize_backward`` takes (xc where ``spec.fold``, else xhat;
    a backend may save the pair (xv, mean) for xc instead, which the
    backward accepts too: see ``_fold_backward``).
    ``stats``: mean and var are wanted (running statistics); otherwise
    they may be None."""
    xp = namespace(xv)
    xc, rstd, mean, var = norm_stats(xv, spec)
    if spec.fold:
        # the affine is per statistic: one multiply by rstd * weight
        y = xc * (rstd if w is None else rstd * w.reshape(spec.pshape))
        saved = xc
    else:
        # (the backward uses xhat itself: saved instead of xc)
        saved = y = xp.multiply(xc, rstd, out=xc if xc is not xv else None)
        if w is not None:
            y = y * w.reshape(spec.pshape)
    if b is not None:
        if y is saved:      # (xhat itself: keep it, the bias goes into a new array)
            y = y + b.reshape(spec.pshape)
        else:
            y += b.reshape(spec.pshape)
    return y, saved, rstd, mean, var


@GENERIC.register
def channel_affine(x, scale, shift):
    """``x * scale + shift`` with ``scale`` and ``shift`` of shape (1, C, 1, ...)
    in x's dtype: eval-mode batch norm, the running statistics folded into
    one scale and shift per channel (as torch's CPU kernel does)."""
    y = x * scale
    y += shift
    return y


@GENERIC.register
def normalize_value(xv, w, b, spec):
    """``normalize``'s y alone, for a forward that saves nothing (no_grad,
    no running statistics): the backend's ``normalize``, its y kept (a
    backend may compute y without what the backward would need)."""
    return kernels(xv).normalize(xv, w, b, spec, False)[0]


@GENERIC.register
def normalize_backward(g, saved, rstd, w, spec, need):
    """The gradients ``(gx, gw, gb)`` of ``normalize`` for the output gradient
    ``g`` (of xv's shape), from its ``saved`` and ``rstd``; ``need``: which
    of the three are wanted (the others None).  gx has g's shape, gw and gb
    the affine's size (to be reshaped by the caller)."""
    if spec.fold:
        return _fold_backward(g, saved, rstd, w, spec, need)
    return _affine_backward(g, saved, rstd, w, spec, need)


def _affine_backward(g, xhat, rstd, w, spec, need):
    """For an elementwise affine (layer/group/RMS norm), from the saved xhat:

        dxhat = g * w,  dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    """
    xp = namespace(g)
    gw = gb = gx = None
    if need[1]:
        gw = xp.einsum(spec.psub[1], g, xhat)
    if need[2]:
        gb = xp.einsum(spec.psub[0], g)
    if need[0]:
        inv = 1.0 / max(spec.M, 1)
        dxhat = g * w.reshape(spec.pshape) if w is not None else g.copy()
        proj = xp.einsum(spec.sub[1], dxhat, xhat).reshape(spec.sshape)
        proj *= rstd * inv
        gx = xhat * proj
        xp.multiply(dxhat, rstd, out=dxhat)
        xp.subtract(dxhat, gx, out=gx)
        if spec.center:
            mean = xp.einsum(spec.sub[0], dxhat).reshape(spec.sshape)   # (already * rstd)
            mean *= inv
            gx -= mean
    return gx, gw, gb


def _fold_backward(g, xc, rstd, w, spec, need):
    """When the affine is constant over each statistic (batch/instance norm):
    mean(g * w) = w * mean(g), so two reductions serve all three gradients:

        sg = sum(g),  sgx = sum(g * xhat) = rstd * sum(g * xc)
        dx = a * (g - sg / M) - xc * (a * rstd * sgx / M),   a = rstd * w

    ``xc`` is the centred input, or the pair (x, mean) a compiled forward
    saves in its place (mean of shape (C,) for the (N, C, S) view).
    """
    xp = namespace(g)
    if type(xc) is tuple:
        x, mean = xc
        xc = x - mean.reshape(spec.sshape)
    sg = xp.einsum(spec.sub[0], g).reshape(spec.sshape)
    sgx = xp.einsum(spec.sub[1], g, xc).reshape(spec.sshape) * rstd
    gx = gw = gb = None
    if need[1]:
        gw = sgx.sum(axis=spec.paxes)
    if need[2]:
        gb = sg.sum(axis=spec.paxes)
    if need[0]:
        a = rstd if w is None else rstd * w.reshape(spec.pshape)
        inv = 1.0 / spec.M
        gx = g - sg * inv
        gx *= a
        gx -= xc * (a * rstd * sgx * inv)
    return gx, gw, gb
