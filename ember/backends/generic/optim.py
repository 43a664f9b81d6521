"""Generic optimizer kernels: in-place parameter updates over the array namespace.

Each follows torch's formula operation by operation (lerp, mul + addcmul,
sqrt / div + eps), so that every backend's update rounds alike.
"""
from .._registry import namespace, kernels
from .._table import GENERIC


def lerp_(xp, a, b, w, tmp):
    """``a.lerp_(b, w)`` in place with torch's two-sided formula (exact at
    w = 0 and 1); ``tmp`` is scratch of a's shape."""
    xp.subtract(b, a, out=tmp)
    if abs(w) < 0.5:
        tmp *= w
        a += tmp
    else:
        tmp *= 1.0 - w
        xp.subtract(b, tmp, out=a)


def ema_sq_(xp, v, g, beta, tmp):
    """``v.mul_(beta).addcmul_(g, g, value=1 - beta)`` in place."""
    v *= beta
    xp.multiply(g, 1 - beta, out=tmp)
    tmp *= g
    v += tmp


def adam_corrections(lr, beta1, beta2, step):
    """(step size lr / (1 - beta1^t), sqrt(1 - beta2^t)) at step t (Python floats)."""
    return lr / (1 - beta1 ** step), (1 - beta2 ** step) ** 0.5


@GENERIC.register
def adam_step(d, g, m, v, step, lr, beta1, beta2, eps, vmax=None):
    """One Adam update of parameter ``d`` for gradient ``g``, in place:
    m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g^2;
    d -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), with
    ``step`` the new count t.  With ``vmax`` (amsgrad) the running maximum of
    v, kept in vmax, takes v's place in the denominator.  Arrays of d's shape."""
    xp = namespace(d)
    tmp = xp.empty_like(d)          # (one scratch array for every fragment)
    lerp_(xp, m, g, 1 - beta1, tmp)
    ema_sq_(xp, v, g, beta2, tmp)
    step_size, bias_correction2_sqrt = adam_corrections(lr, beta1, beta2, step)
    if vmax is not None:
        xp.maximum(vmax, v, out=vmax)
        xp.sqrt(vmax, out=tmp)
    else:
        xp.sqrt(v, out=tmp)
    tmp /= bias_correction2_sqrt
    tmp += eps
    xp.divide(m, tmp, out=tmp)
    tmp *= -step_size
    d += tmp


@GENERIC.register
def sgd_step(d, g, neg_lr):
    """d += g * neg_lr in place, leaving ``g`` as it is (arrays of one shape)."""
    d += namespace(d).multiply(g, neg_lr)


@GENERIC.register
def sgd_momentum_step(d, g, buf, momentum, neg_lr):
    """SGD's momentum update without dampening, in place: ``buf *= momentum;
    buf += g; d += buf * neg_lr`` (arrays of one shape; ``g`` is left as it is)."""
    buf *= momentum
    buf += g
    kernels(d).sgd_step(d, buf, neg_lr)     # (the backend's own update, as SGD's step did)
