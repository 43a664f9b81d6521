"""Dropout in its forms: elementwise, channel-wise (1d/2d/3d) and alpha dropout.

While training, each element (or channel) is kept with probability 1 - p and
scaled by 1 / (1 - p) so the expected value is unchanged; in eval the input
is returned as is.  Draws come from Ember's global generator.
"""
import math

import numpy as np

from ...autograd.function import Op
from ...backends import backend_of
from ...ops.inplace import apply_inplace
from ...random import uniform_array

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
           "feature_alpha_dropout"]


class _MaskMul(Op):
    """y = x * m (+ c) for a constant mask m (and shift c); backward g * m."""
    _node_name = "MulBackward0"

    @staticmethod
    def forward(ctx, x, m, c):
        if ctx.needs_input_grad:
            ctx.save_for_backward(m)
        y = x * m
        if c is not None:
            y += c
        return y

    @staticmethod
    def backward(ctx, g):
        m, = ctx.saved_tensors
        return g * m


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _draw_keep(backend, dtype, shape, q):
    """True with probability q, of ``shape``, an array of ``backend``: drawn by
    Ember's global stream (the host's generator, copied to the device, or the
    device's own, CUDA's, seeded by ``ember.manual_seed`` too), in the
    precision of ``dtype``."""
    draw_dt = np.float32 if dtype == np.float32 else np.float64
    return uniform_array(backend, shape, draw_dt) < q


def _keep_mask(x, shape, q):
    """1/q where kept (probability q), 0 where dropped, in x's dtype and on its device."""
    b = backend_of(x)
    keep = _draw_keep(b, x.dtype, shape, q)
    if q == 0:
        return keep.astype(x.dtype)
    return keep * b.xp.asarray(1.0 / q, dtype=x.dtype)


def _apply(input, m, c, inplace):
    if inplace:
        return apply_inplace(input, lambda t: _MaskMul.apply(t, m, c))
    return _MaskMul.apply(input, m, c)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p)."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    x = input._data
    return _apply(input, _keep_mask(x, x.shape, 1.0 - p), None, inplace)


def _channel_shape(x, batched):
    """Mask shape for channel-wise dropout: (N, C, 1, ...) or (C, 1, ...)."""
    lead = 2 if batched else 1
    return x.shape[:lead] + (1,) * (x.ndim - lead)


def _feature_dropout(input, p, training, inplace, batched):
    _check_p(p)
    if not training or p == 0.0:
        return input
    x = input._data
    return _apply(input, _keep_mask(x, _channel_shape(x, batched), 1.0 - p), None, inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) input with probability p."""
    _check_p(p)
    nd = input.dim()
    if nd not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {nd}D input. "
                           "Note that dropout1d exists to provide channel-wise dropout on inputs "
                           "with 1 spatial dimension, a channel dimension, and an optional batch "
                           "dimension (i.e. 2D or 3D inputs).")
    return _feature_dropout(input, p, training, inplace, nd == 3)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) or (C, H, W) input with probability p."""
    _check_p(p)
    nd = input.dim()
    if nd not in (3, 4):
        import warnings
        warnings.warn(f"dropout2d: Received a {nd}-D input to dropout2d, which is deprecated and "
                      "will result in an error in a future release. To retain the behavior and "
                      "silence this warning, please use dropout instead. Note that dropout2d "
                      "exists to provide channel-wise dropout on inputs with 2 spatial dimensions, "
                      "a channel dimension, and an optional batch dimension (i.e. 3D or 4D "
                      "inputs).", stacklevel=2)
    if nd == 3:
        import warnings
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                      "1D dropout behavior is desired - input is interpreted as shape (N, C, L), "
                      "where C is the channel dim. This behavior will change in a future release "
                      "to interpret the input as one without a batch dimension, i.e. shape "
                      "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch "
                      "to using dropout1d instead.", stacklevel=2)
        return _feature_dropout(input, p, training, inplace, True)
    return _feature_dropout(input, p, training, inplace, nd >= 2)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) input with probability p."""
    _check_p(p)
    nd = input.dim()
    if nd not in (4, 5):
        import warnings
        warnings.warn(f"dropout3d: Received a {nd}-D input to dropout3d, which is deprecated and "
                      "will result in an error in a future release. To retain the behavior and "
                      "silence this warning, please use dropout instead. Note that dropout3d "
                      "exists to provide channel-wise dropout on inputs with 3 spatial dimensions, "
                      "a channel dimension, and an optional batch dimension (i.e. 4D or 5D "
                      "inputs).", stacklevel=2)
    return _feature_dropout(input, p, training, inplace, nd != 4)


_ALPHA = 1.7580993408473766  # -scale * alpha of SELU: the value dropped units take


def _alpha(input, p, training, inplace, mask_shape):
    """SELU-preserving dropout: dropped units become -alpha', then an affine map
    a * x + b restores zero mean and unit variance."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    x = input._data
    backend = backend_of(x)
    if p == 1.0:
        return _apply(input, backend.xp.zeros((), dtype=x.dtype), None, inplace)
    q = 1.0 - p
    # (a NumPy float64: c below is computed in double, then cast)
    a = np.float64(1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * q))
    keep = _draw_keep(backend, x.dtype, mask_shape, q).astype(x.dtype)
    m = keep * backend.xp.asarray(a, dtype=x.dtype)
    c = ((keep - 1) * (_ALPHA * a) + _ALPHA * a * p).astype(x.dtype)
    return _apply(input, m, c, inplace)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Alpha dropout for SELU networks (keeps mean 0 and variance 1)."""
    return _alpha(input, p, training, inplace, input._data.shape)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Alpha dropout of whole channels (dim 1)."""
    x = input._data
    return _alpha(input, p, training, inplace, _channel_shape(x, x.ndim >= 2))
