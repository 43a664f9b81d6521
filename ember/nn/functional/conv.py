"""Convolutions: conv1d/2d/3d, conv_transpose1d/2d/3d.

Every convolution is lowered to 2-D (a 1-D signal is an image of height 1;
a 3-D volume's depth windows are folded into the channels, below) and
computed as ONE matrix product over an *im2col* buffer:

    cols[c, i, j, n, p] = xpad[n, c, row(p) * sh + i * dh, col(p) * sw + j * dw]
    y[n, o, p]          = sum over (c, i, j) of  w[o, c, i, j] * cols[c, i, j, n, p]

``cols`` is the padded input's windows copied into a contiguous
(C*kh*kw, N*P) matrix so the product is a single GEMM (one per group).
Its columns ``p`` follow one of two layouts (``_Geo.wide``):

* *wide* (stride 1): ``p`` runs over every padded-width position of the
  output rows, ``p = ho * Wp + wo``, trimmed after the last real output,
  so that each copy is one long contiguous run (a backend may still use
  the compact layout: the layout is internal to its kernels);
* *compact* (strided convolutions, or when the wide waste would be large):
  ``p = ho * Wo + wo`` exactly.

The weight gradient is one GEMM of the output gradient with the same
``cols`` (kept from the forward when small).  The input gradient is, for
stride-1 convolutions, itself a forward convolution of the output gradient
with the rotated kernel; otherwise a GEMM into column form followed by a
col2im scatter-add that loops over the kh*kw kernel offsets only.

The array work is two kernels of the input's backend (``kernels(x)``):
``conv2d_apply`` (im2col + GEMM: the output and/or the weight gradient)
and ``conv2d_scatter`` (GEMM + col2im: the input gradient and/or the
weight gradient).  The CPU's (``ember.backends.cpu._conv``) run cache-sized
tiles of columns (or shifted GEMMs without columns) in compiled code where
they can, else build the columns batch chunk by batch chunk; the tiles keep
no columns for the backward (``kept`` is None: the weight gradient rebuilds
them tile by tile, which costs less than a batch-sized buffer in memory).

Three Ops close the set under differentiation, so double backward works:

* ``_Conv``        x, w -> y             (the forward convolution)
* ``_ConvT``       y-grad, w -> x-grad   (== the transposed convolution)
* ``_ConvW``       x, y-grad -> w-grad

Each backward is, on the plain path, a direct call of the array kernels
(sharing the im2col buffer between the two gradients), and under
``create_graph=True`` the same formulas built from these three Ops.

A 3-D convolution (``_Geo3``) is the 2-D convolution of its depth windows:
output depth ``od`` sees input depths ``od * sd + k * dd`` (k < kd) of the
depth-padded input, so stacking those kd slices as channels
(``c * kd + k``) and the output depths into the batch gives a 2-D input
(N*Do, C*kd, H, W) for the weight viewed as (O, C/G*kd, kh, kw).  The
same three Ops and kernels run on that ``plane`` geometry; ``_depth_unfold``
(a gather) and its adjoint ``_depth_fold`` (a scatter-add) move between the
two layouts around the kernel calls (``_apply``, ``_scatter``,
``_input_grad``), so a 3-D conv is differentiable twice like the others.
Those three first ask the backend for a direct 3-D kernel
(``conv3d_direct``, ``conv3d_direct_wgrad``: the CPU's, for float32 stride-1
convs, read the zero-padded volume itself); where it answers None (other
devices, dtypes, strides, groups) the depth windows run.  A stride-1
conv's input gradient is then ``conv3d_direct`` of the output gradient with
the rotated kernel (``_dx_geo3``).
"""
import numpy as np

from ... import _dtype as D
from ..._errors import not_a_tensor
from ..._tensor import Tensor
from ...autograd.function import Op
from ...backends import namespace, kernels
from ...ops import _bw
from ..._autocast import autocast_op

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d"]

# Kernels that build the im2col buffer batch chunk by batch chunk (the
# CPU's) size a chunk at about this many bytes, so it stays in cache between
# its copy and its GEMM and memory stays bounded.
_CHUNK_BYTES = 1 << 21
# Forward keeps the im2col buffer for the weight gradient when it is this small.
_SAVE_BYTES = 1 << 25


# ---- geometry -------------------------------------------------------------------------

class _Geo:
    """Shapes and offsets of one convolution, seen as a forward conv.

    ``x4``: (N, C, H, W) conv input (a transposed conv's output); ``y4``:
    (N, O, Ho, Wo) conv output; ``w4``: (O, C // G, kh, kw).  ``x_shape``,
    ``y_shape``, ``w_shape`` are the user-visible shapes (1-D / unbatched).
    ``wide``, ``L``, ``row``: the wide or compact column layout (the module
    docstring) and its column count per sample and per output row.  The
    backend's conv kernels read their shapes from here, and ``chunk_bytes``
    (``_CHUNK_BYTES`` when the geometry was made).
    """

    __slots__ = ("x4", "y4", "w4", "x_shape", "y_shape", "w_shape", "G", "sh", "sw", "dh",
                 "dw", "pt", "pl", "pb", "pr", "Hp", "Wp", "wide", "L", "row", "chunk_bytes", "_dx")

    def __init__(self, x4, w4, G, stride, padding, dilation, out_hw, x_shape, y_shape, w_shape):
        N, C, H, W = x4
        O, _, kh, kw = w4
        self.sh, self.sw = stride
        self.dh, self.dw = dilation
        pt, pb, pl, pr = padding
        self.pt, self.pl, self.pb, self.pr = pt, pl, pb, pr
        self._dx = False
        self.chunk_bytes = _CHUNK_BYTES
        self.Hp, self.Wp = H + pt + pb, W + pl + pr
        Ho, Wo = out_hw
        self.x4, self.w4, self.G = x4, w4, G
        self.y4 = (N, O, Ho, Wo)
        self.x_shape, self.y_shape, self.w_shape = x_shape, y_shape, w_shape
        # the wide layout pays Wp/Wo extra columns to make every copy one long run
        self.wide = (self.sh == 1 and self.sw == 1 and Ho > 1 and Wo > 0
                     and self.Wp <= 2 * Wo)
        if self.wide:
            self.L = (Ho - 1) * self.Wp + Wo
            self.row = self.Wp
        else:
            self.L = Ho * Wo
            self.row = Wo


def _dx_geo(geo):
    """The geometry of computing a stride-1 conv's input gradient as a forward
    conv of the output gradient with the rotated kernel, or None when the
    col2im scatter is cheaper (or the conv is strided / over-padded)."""
    if geo._dx is not False:
        return geo._dx
    geo._dx = None
    if geo.sh == 1 and geo.sw == 1:
        N, C, H, W = geo.x4
        O, Cg, kh, kw = geo.w4
        eh, ew = geo.dh * (kh - 1), geo.dw * (kw - 1)
        pads = (eh - geo.pt, eh - geo.pb, ew - geo.pl, ew - geo.pr)
        if min(pads) >= 0:
            t = _Geo(geo.y4, (C, O // geo.G, kh, kw), geo.G, (1, 1), pads, (geo.dh, geo.dw),
                     (H, W), geo.y4, geo.x4, None)
            # the direct conv pays a GEMM as big as the forward's and saves the
            # scatter; worth it unless its (wide) column count is much larger
            if t.L <= 1.25 * geo.L:
                geo._dx = t
    return geo._dx


def _rotated(w, geo):
    """Kernel for the input-gradient conv: channels swapped per group, flipped."""
    O, Cg, kh, kw = geo.w4
    G = geo.G
    r = w.reshape(G, O // G, Cg, kh, kw).transpose(0, 2, 1, 3, 4).reshape(G * Cg, O // G, kh, kw)
    return r[:, :, ::-1, ::-1]


def _input_grad2(g, w, geo):
    """d(conv)/d(input) applied to ``g`` for a 2-D geometry: a conv with the
    rotated kernel where that is cheaper, else GEMM + col2im."""
    t = _dx_geo(geo)
    if t is not None:
        return kernels(g).conv2d_apply(g.reshape(geo.y4), _rotated(w.reshape(geo.w4), geo),
                                       t)[0].reshape(geo.x_shape)
    return kernels(g).conv2d_scatter(g, w, geo)[0]


class _Geo3:
    """A 3-D convolution as the 2-D convolution ``plane`` of its depth windows.

    ``x5``: (N, C, D, H, W) conv input; ``y5``: (N, O, Do, Ho, Wo) conv
    output; ``w5``: (O, C // G, kd, kh, kw); ``sd``, ``dd``, ``pf`` (front
    padding): the depth geometry.  ``x_shape``, ``y_shape``, ``w_shape`` are
    the user-visible shapes (unbatched inputs drop N).
    """

    __slots__ = ("x5", "y5", "w5", "x_shape", "y_shape", "w_shape", "sd", "dd", "pf", "pb",
                 "plane", "_dx")

    def __init__(self, x5, w5, G, stride, padding, dilation, out_sp, x_shape, y_shape, w_shape):
        N, C, D, H, W = x5
        O, Cg, kd, kh, kw = w5
        Do, Ho, Wo = out_sp
        self.x5, self.w5, self.y5 = x5, w5, (N, O) + tuple(out_sp)
        self.x_shape, self.y_shape, self.w_shape = x_shape, y_shape, w_shape
        self.sd, self.dd = stride[0], dilation[0]
        self.pf, self.pb = padding[0]
        self._dx = False
        xf = (N * Do, C * kd, H, W)
        self.plane = _Geo(xf, (O, Cg * kd, kh, kw), G, stride[1:],
                          padding[1] + padding[2], dilation[1:], (Ho, Wo), xf,
                          (N * Do, O, Ho, Wo), w_shape)

    def depth_runs(self):
        """For each depth offset k: (k, lo, hi, start) such that output depths
        lo..hi-1 read input depths start, start + sd, ... (inside the input)."""
        D, Do, kd = self.x5[2], self.y5[2], self.w5[2]
        runs = []
        for k in range(kd):
            off = k * self.dd - self.pf              # input depth of output depth 0
            lo = max(0, -(off // self.sd) if off < 0 else 0)
            hi = min(Do, (D - 1 - off) // self.sd + 1) if D - 1 - off >= 0 else 0
            if hi > lo:
                runs.append((k, lo, hi, lo * self.sd + off))
        return runs


def _depth_unfold(x, g3):
    """Input (N, C, D, H, W) as the plane's input (N*Do, C*kd, H, W): the depth
    windows gathered, zeros where they reach into the padding."""
    xp = namespace(x)
    N, C, D, H, W = g3.x5
    Do, kd = g3.y5[2], g3.w5[2]
    x5 = x.reshape(g3.x5)
    out = xp.zeros((N, Do, C, kd, H, W), dtype=x.dtype)
    for k, lo, hi, start in g3.depth_runs():
        out[:, lo:hi, :, k] = x5[:, :, start:start + (hi - lo - 1) * g3.sd + 1:g3.sd] \
            .transpose(0, 2, 1, 3, 4)
    return out.reshape(g3.plane.x4)


def _depth_fold(xf, g3):
    """The adjoint of ``_depth_unfold``: plane-input gradients (N*Do, C*kd, H, W)
    added back onto the depths they came from -> (N, C, D, H, W) (user shape)."""
    xp = namespace(xf)
    N, C, D, H, W = g3.x5
    Do, kd = g3.y5[2], g3.w5[2]
    f = xf.reshape(N, Do, C, kd, H, W)
    out = xp.zeros(g3.x5, dtype=xf.dtype)
    # one offset at a time: the windows of different offsets overlap
    for k, lo, hi, start in g3.depth_runs():
        t = out[:, :, start:start + (hi - lo - 1) * g3.sd + 1:g3.sd]
        t += f[:, lo:hi, :, k].transpose(0, 2, 1, 3, 4)
    return out.reshape(g3.x_shape)


def _out_to_plane(y, g3):
    """Output-side array (N, O, Do, Ho, Wo) as the plane's (N*Do, O, Ho, Wo)."""
    N, O, Do, Ho, Wo = g3.y5
    return namespace(y).ascontiguousarray(
        y.reshape(g3.y5).transpose(0, 2, 1, 3, 4)).reshape(N * Do, O, Ho, Wo)


def _out_from_plane(yf, g3):
    """The plane's output (N*Do, O, Ho, Wo) as (N, O, Do, Ho, Wo) (user shape)."""
    N, O, Do, Ho, Wo = g3.y5
    return namespace(yf).ascontiguousarray(
        yf.reshape(N, Do, O, Ho, Wo).transpose(0, 2, 1, 3, 4)).reshape(g3.y_shape)


# The kernel calls the Ops make, for either geometry: a 3-D one runs the
# plane's kernels between the depth (un)folds.

class _Kept3:
    """What a backend's direct 3-D forward (``conv3d_direct``) kept for its
    weight gradient (``kept``, opaque here): only ``conv3d_direct_wgrad``
    reads it, never the depth-window path."""
    __slots__ = ("kept",)

    def __init__(self, kept):
        self.kept = kept


def _apply(x, w, geo, g=None, need_y=True, bias=None, keep_cols=False):
    """``conv2d_apply``: (y, gw, kept cols) from input-side ``x``, weight ``w``
    and/or output-side ``g``."""
    if type(geo) is _Geo:
        return kernels(x).conv2d_apply(x, w, geo, g=g, need_y=need_y, bias=bias,
                                       keep_cols=keep_cols)
    K = kernels(x)
    if g is None:
        got = K.conv3d_direct(x.reshape(geo.x5), w, geo, bias, keep_cols)
        if got is not None:
            y, kept = got
            return y.reshape(geo.y_shape), None, (None if kept is None else _Kept3(kept))
    elif not need_y:
        gw = K.conv3d_direct_wgrad(x.reshape(geo.x5), g.reshape(geo.y5), geo)
        if gw is not None:
            return None, gw, None
    p = geo.plane
    y, gw, kept = kernels(x).conv2d_apply(
        _depth_unfold(x, geo), None if w is None else w.reshape(p.w4), p,
        g=None if g is None else _out_to_plane(g, geo), need_y=need_y, bias=bias,
        keep_cols=keep_cols)
    return (None if y is None else _out_from_plane(y, geo)), gw, kept


def _scatter(g, w, geo, x=None, need_x=True, cols=None):
    """``conv2d_scatter``: (input gradient, weight gradient) from output-side ``g``."""
    if type(geo) is _Geo:
        return kernels(g).conv2d_scatter(g, w, geo, x=x, need_x=need_x, cols=cols)
    if x is not None or cols is not None:
        # the weight gradient by the backend's direct kernel, on what its
        # forward kept; else (None) the depth-window path below, from x
        direct = cols.kept if isinstance(cols, _Kept3) else None
        if direct is not None:
            cols = None
        gw = kernels(g).conv3d_direct_wgrad(None if x is None else x.reshape(geo.x5),
                                            g.reshape(geo.y5), geo, direct)
        if gw is not None:
            return (_input_grad(g, w, geo) if need_x else None), gw
    p = geo.plane
    gx, gw = kernels(g).conv2d_scatter(
        _out_to_plane(g, geo), w.reshape(p.w4), p,
        # (the kept columns, when given, stand for x)
        x=None if x is None or cols is not None else _depth_unfold(x, geo), need_x=need_x,
        cols=cols)
    return (None if gx is None else _depth_fold(gx, geo)), gw


def _dx_geo3(geo):
    """The geometry of a stride-1 3-D conv's input gradient as a forward conv
    of the output gradient with the rotated kernel (one group; padding
    dilation*(k-1) minus the conv's on each side), or None."""
    if geo._dx is not False:
        return geo._dx
    geo._dx = None
    p = geo.plane
    if geo.sd == 1 and p.sh == 1 and p.sw == 1 and p.G == 1:
        O, C, kd, kh, kw = geo.w5
        ed, eh, ew = geo.dd * (kd - 1), p.dh * (kh - 1), p.dw * (kw - 1)
        pads = ((ed - geo.pf, ed - geo.pb), (eh - p.pt, eh - p.pb), (ew - p.pl, ew - p.pr))
        if min(min(q) for q in pads) >= 0:
            geo._dx = _Geo3(geo.y5, (C, O, kd, kh, kw), 1, (1, 1, 1), pads,
                            (geo.dd, p.dh, p.dw), geo.x5[2:], geo.y5, geo.x5,
                            (C, O, kd, kh, kw))
    return geo._dx


def _direct_dx(geo):
    """Whether the input gradient is computed as a conv (``_dx_geo``; for a 3-D
    conv, its plane's: where that is a col2im scatter, ``_scatter`` still
    tries the backend's direct kernels first)."""
    return _dx_geo(geo if type(geo) is _Geo else geo.plane) is not None


def _input_grad(g, w, geo):
    """d(conv)/d(input) applied to output-side ``g`` (== the transposed conv of g)."""
    if type(geo) is _Geo:
        return _input_grad2(g, w, geo)
    t = _dx_geo3(geo)
    if t is not None:
        # the backend's direct kernel, on the kernel flipped in all three axes
        # with its in/out channels swapped
        wr = w.reshape(geo.w5).transpose(1, 0, 2, 3, 4)[:, :, ::-1, ::-1, ::-1]
        got = kernels(g).conv3d_direct(g.reshape(geo.y5), wr, t)
        if got is not None:
            return got[0].reshape(geo.x_shape)
    p = geo.plane
    return _depth_fold(_input_grad2(_out_to_plane(g, geo), w.reshape(p.w4), p), geo)


def _cols_bytes(x, geo):
    """The size of the forward's im2col buffer."""
    if type(geo) is _Geo:
        return x.size * geo.w4[2] * geo.w4[3] * x.itemsize
    p = geo.plane
    return p.x4[0] * p.x4[1] * p.x4[2] * p.x4[3] * p.w4[2] * p.w4[3] * x.itemsize


def _x_full(geo):
    """The conv input's batched shape: (N, C, H, W) or (N, C, D, H, W)."""
    return geo.x4 if type(geo) is _Geo else geo.x5


# ---- Ops ----------------------------------------------------------------------------------

def _bias_grad(g, baxes):
    """A bias's gradient: ``g`` summed over every axis but the channels'
    (``baxes``), by the backend's ``channel_sums`` on arrays, by a
    differentiable sum on tensors (double backward)."""
    return kernels(g).channel_sums(g, baxes) if _bw.is_array(g) else g.sum(dim=baxes)


def _t(a):
    if _bw.is_array(a):
        from ..._tensor_base import _wrap
        return _wrap(a)
    return a


class _Conv(Op):
    """y = conv(x, w) + b."""
    _ctx_fields = ("geo", "baxes", "cols")
    _node_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, w, b, geo, baxes):
        need = ctx.needs_input_grad
        keep = bool(need) and need[1] and _cols_bytes(x, geo) <= _SAVE_BYTES
        y, _, cols = _apply(x, w, geo, bias=b, keep_cols=keep)
        if need:
            ctx.save_for_backward(x, w)
            ctx.geo, ctx.baxes, ctx.cols = geo, baxes, cols
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        geo = ctx.geo
        gb = None
        if need[2]:
            gb = _bias_grad(g, ctx.baxes)
        if _bw.is_array(g):
            cols = ctx.cols
            ctx.cols = None
            direct = need[0] and _direct_dx(geo)
            gx, gw = None, None
            if need[1] or (need[0] and not direct):
                gx, gw = _scatter(g, w, geo, x=x if need[1] else None,
                                  need_x=need[0] and not direct,
                                  cols=cols if need[1] else None)
            if direct:
                gx = _input_grad(g, w, geo)
            return gx, gw, gb
        gx = _ConvT.apply(g, _t(w), None, geo, ctx.baxes) if need[0] else None
        gw = _ConvW.apply(_t(x), g, geo) if need[1] else None
        return gx, gw, gb


class _ConvT(Op):
    """x = conv_transpose(y, w) + b: the input gradient of a conv of geometry ``geo``."""
    _ctx_fields = ("geo", "baxes")
    _node_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, y, w, b, geo, baxes):
        gx = _input_grad(y, w, geo)
        if b is not None:
            full = _x_full(geo)
            gxb = gx.reshape(full)
            bb = b.reshape((1, -1) + (1,) * (len(full) - 2))
            if gxb.flags.c_contiguous:
                gxb += bb
            else:
                gxb = gxb + bb
            gx = gxb.reshape(geo.x_shape)
        elif not gx.flags.c_contiguous:
            gx = namespace(gx).ascontiguousarray(gx)
        if ctx.needs_input_grad:
            ctx.save_for_backward(y, w)
            ctx.geo, ctx.baxes = geo, baxes
        return gx

    @staticmethod
    def backward(ctx, gg):
        y, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        geo = ctx.geo
        gb = None
        if need[2]:
            gb = _bias_grad(gg, ctx.baxes)
        if _bw.is_array(gg):
            gy, gw, _ = _apply(gg, w, geo, g=y if need[1] else None, need_y=need[0])
            return gy, gw, gb
        gy = _Conv.apply(gg, _t(w), None, geo, ctx.baxes) if need[0] else None
        gw = _ConvW.apply(gg, _t(y), geo) if need[1] else None
        return gy, gw, gb


class _ConvW(Op):
    """gw = the weight gradient of a conv of geometry ``geo``, from x and y-grad."""
    _ctx_fields = ("geo",)
    _node_name = "ConvolutionBackwardBackward0"

    @staticmethod
    def forward(ctx, x, g, geo):
        _, gw, _ = _apply(x, None, geo, g=g, need_y=False)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, g)
            ctx.geo = geo
        return gw

    @staticmethod
    def backward(ctx, ggw):
        x, g = ctx.saved_tensors
        need = ctx.needs_input_grad
        geo = ctx.geo
        if _bw.is_array(ggw):
            gx = _input_grad(g, ggw, geo) if need[0] else None
            gg = _apply(x, ggw, geo)[0] if need[1] else None
            return gx, gg
        gx = _ConvT.apply(_t(g), ggw, None, geo, None) if need[0] else None
        gg = _Conv.apply(_t(x), ggw, None, geo, None) if need[1] else None
        return gx, gg


# ---- argument handling --------------------------------------------------------------------

def _dtname(a):
    return D.scalar_name_of(a.dtype)


def _ints(v, nd, name):
    """An int or a length-``nd`` sequence of ints as an ``nd``-tuple (torch's rule)."""
    # (the usual arguments first, by exact type: a module's stored tuple
    # comes back as it is; the checks below cost ~1 us a call)
    t = type(v)
    if t is int:
        return (v,) * nd
    if t is tuple and len(v) == nd and all(type(e) is int for e in v):
        return v
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v),) * nd
    if isinstance(v, (tuple, list)) and all(isinstance(e, (int, np.integer))
                                            and not isinstance(e, bool) for e in v):
        if len(v) == 1:
            return (int(v[0]),) * nd
        if len(v) == nd:
            return tuple(int(e) for e in v)
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {nd} "
                           f"values to match the convolution dimensions, but got "
                           f"{name}={list(v)}")
    raise TypeError(f"conv{nd}d(): argument '{name}' must be tuple of ints, not "
                    f"{type(v).__name__}")


def _check_tensors(fname, input, weight, bias):
    if not isinstance(input, Tensor):
        raise not_a_tensor(fname, "input", input, 1)
    if not isinstance(weight, Tensor):
        raise not_a_tensor(fname, "weight", weight, 2)
    if bias is not None and not isinstance(bias, Tensor):
        raise not_a_tensor(fname, "bias", bias, 3)
    x, w = input._data, weight._data
    if x.dtype != w.dtype:
        raise RuntimeError(f"expected scalar type {_dtname(x)} but found {_dtname(w)} "
                           f"({fname}: input is {_dtname(x)}, weight is {_dtname(w)})")
    if bias is not None and bias._data.dtype != x.dtype:
        raise RuntimeError(f"Input type ({_dtname(x).lower()}) and bias type "
                           f"({_dtname(bias._data).lower()}) should be the same")
    return x, w


def _check_ndim(fname, nd, x, w):
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to "
                           f"{fname}, but got input of size: {list(x.shape)}")
    if w.ndim != nd + 2:
        raise RuntimeError(f"Expected {nd + 2}-dimensional weight for {fname}, but got "
                           f"{w.ndim}-dimensional weight of size {list(w.shape)}")


def _check_common(nd, stride, dilation, groups):
    stride = _ints(stride, nd, "stride")
    dilation = _ints(dilation, nd, "dilation")
    if min(stride) <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if min(dilation) <= 0:
        raise RuntimeError("non-positive dilation is not supported")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool):
        raise TypeError(f"argument 'groups' must be int, not {type(groups).__name__}")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    return stride, dilation, int(groups)


def _to2d(nd, v, fill):
    """A 1-D parameter tuple as its 2-D form (height 1)."""
    return v if nd == 2 else (fill,) + v


def _shape4(x, nd):
    """(N, C, H, W) for a 1-D/2-D, batched/unbatched input shape."""
    s = x.shape
    if x.ndim == nd + 1:
        s = (1,) + s
    if nd == 1:
        s = s[:2] + (1,) + s[2:]
    return s


def _out_shape(y4, nd, batched):
    s = y4 if nd == 2 else y4[:2] + y4[3:]
    return s if batched else s[1:]


def _no_complex(fname, *ts):
    if any(t is not None and t._data.dtype.kind == "c" for t in ts):
        raise NotImplementedError(f"{fname}: Ember's convolutions do not take complex tensors")


def _arg_key(v):
    """A conv argument as part of a ``_GEOS`` key: an int, a str or a tuple of
    ints, by exact type (so that ``1.0`` or ``True``, equal to 1 in a dict,
    never match a key a valid 1 made); None for anything else."""
    t = type(v)
    if t is int or t is str:
        return v
    if t is tuple:
        for e in v:
            if type(e) is not int:
                return None
        return v
    return None


# The geometry (and bias axes) of each convolution seen, by its shapes and
# arguments: checking the arguments and building the geometry costs a small
# layer's conv as much as its kernel (a model calls each layer with the same
# arguments every step).  Only arguments that passed every check get here.
_GEOS = {}


def _convnd(nd, fname, input, weight, bias, stride, padding, dilation, groups):
    x, w = _check_tensors(fname, input, weight, bias)
    key = (nd, x.shape, w.shape, None if bias is None else bias._data.shape, _arg_key(stride),
           _arg_key(padding), _arg_key(dilation), _arg_key(groups), _CHUNK_BYTES)
    hit = _GEOS.get(key) if None not in key[4:8] else None
    if hit is not None and x.dtype.kind != "c":     # (_check_tensors: w and bias share x's dtype)
        return _Conv.apply(input, weight, bias, hit[0], hit[1])
    _no_complex(fname, input, weight, bias)
    _check_ndim(fname, nd, x, w)
    stride, dilation, groups = _check_common(nd, stride, dilation, groups)
    ksize = w.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            pads = []
            for k, d in zip(ksize, dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            pads = tuple(pads)
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    else:
        p = _ints(padding, nd, "padding")
        if any(v < 0 for v in p):
            raise RuntimeError("negative padding is not supported")
        pads = tuple((v, v) for v in p)
    batched = x.ndim == nd + 2
    channels = x.shape[1 if batched else 0]
    O = w.shape[0]
    if O == 0:
        raise RuntimeError(f"Given groups={groups}, expected weight to be at least 1 at "
                           f"dimension 0, but got weight of size {list(w.shape)} instead")
    if O % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                           f"at dimension 0, but got weight of size [{list(w.shape)}] instead")
    if channels != w.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(w.shape)}, expected "
                           f"input{list(x.shape)} to have {w.shape[1] * groups} channels, but "
                           f"got {channels} channels instead")
    if bias is not None and (bias._data.ndim != 1 or bias._data.shape[0] != O):
        raise RuntimeError(f"Given weight of size {list(w.shape)}, expected bias to be "
                           f"1-dimensional with {O} elements, but got bias of size "
                           f"{list(bias._data.shape)} instead")
    spatial = x.shape[-nd:]
    padded = [s + a + b for s, (a, b) in zip(spatial, pads)]
    dk = [d * (k - 1) + 1 for k, d in zip(ksize, dilation)]
    if any(p < k for p, k in zip(padded, dk)):
        raise RuntimeError(f"Calculated padded input size per channel: "
                           f"({' x '.join(map(str, padded))}). Kernel size: "
                           f"({' x '.join(map(str, dk))}). Kernel size can't be greater than "
                           "actual input size")
    out_sp = tuple((p - k) // s + 1 for p, k, s in zip(padded, dk, stride))
    if nd == 3:
        x5 = x.shape if batched else (1,) + x.shape
        y_shape = (x5[0], O) + out_sp if batched else (O,) + out_sp
        geo = _Geo3(x5, w.shape, groups, stride, pads, dilation, out_sp, x.shape, y_shape,
                    w.shape)
        return _Conv.apply(input, weight, bias, *_remember(key, geo, _bias_axes(nd, batched)))
    x4 = _shape4(x, nd)
    if nd == 1:
        pad4 = (0, 0) + pads[0]
        out_hw = (1,) + out_sp
    else:
        pad4 = pads[0] + pads[1]
        out_hw = out_sp
    y4 = (x4[0], O) + out_hw
    geo = _Geo(x4, _shape4_w(w, nd), groups, _to2d(nd, stride, 1), pad4,
               _to2d(nd, dilation, 1), out_hw, x.shape, _out_shape(y4, nd, batched), w.shape)
    return _Conv.apply(input, weight, bias, *_remember(key, geo, _bias_axes(nd, batched)))


def _remember(key, geo, baxes):
    """Keep ``(geo, baxes)`` in ``_GEOS`` for ``key`` (when every argument made a
    key) and return it."""
    if None not in key[4:8]:
        if len(_GEOS) > 256:
            _GEOS.clear()
        _GEOS[key] = (geo, baxes)
    return geo, baxes


def _shape4_w(w, nd):
    return w.shape if nd == 2 else w.shape[:2] + (1,) + w.shape[2:]


def _bias_axes(nd, batched):
    """The axes a bias gradient sums over (all but the channel axis)."""
    return ((0,) if batched else ()) + tuple(range(2 if batched else 1, nd + (2 if batched else 1)))


def _conv_transposend(nd, fname, input, weight, bias, stride, padding, output_padding, groups,
                      dilation):
    x, w = _check_tensors(fname, input, weight, bias)
    _no_complex(fname, input, weight, bias)
    _check_ndim(fname, nd, x, w)
    stride, dilation, groups = _check_common(nd, stride, dilation, groups)
    if isinstance(padding, str):
        raise TypeError(f"{fname}(): argument 'padding' must be tuple of ints, not str")
    pad = _ints(padding, nd, "padding")
    opad = _ints(output_padding, nd, "output_padding")
    if any(v < 0 for v in pad):
        raise RuntimeError("negative padding is not supported")
    if any(v < 0 for v in opad):
        raise RuntimeError("negative output_padding is not supported")
    if any(o >= s and o >= d for o, s, d in zip(opad, stride, dilation)):
        if nd > 1:
            axes = ("depth", "height", "width")[3 - nd:]
            raise RuntimeError(
                "output padding must be smaller than either stride or dilation, but got "
                + " ".join(f"{what}_{a}: {v}" for what, vals in
                           (("output_padding", opad), ("stride", stride), ("dilation", dilation))
                           for a, v in zip(axes, vals)))
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding: {opad[0]} stride: {stride[0]} dilation: {dilation[0]}")
    batched = x.ndim == nd + 2
    xin4 = _shape4(x, nd)
    Cin = w.shape[0]
    if xin4[1] != Cin:
        raise RuntimeError(f"Given transposed=1, weight of size {list(w.shape)}, expected "
                           f"input{list(x.shape)} to have {Cin} channels, but got {xin4[1]} "
                           "channels instead")
    if Cin % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                           f"at dimension 0, but got weight of size [{list(w.shape)}] instead")
    Cout = w.shape[1] * groups
    if bias is not None and (bias._data.ndim != 1 or bias._data.shape[0] != Cout):
        raise RuntimeError(f"Given transposed=1, weight of size {list(w.shape)}, expected bias "
                           f"to be 1-dimensional with {Cout} elements, but got bias of size "
                           f"{list(bias._data.shape)} instead")
    spatial = x.shape[-nd:]
    out_sp = tuple((i - 1) * s - 2 * p + d * (k - 1) + o + 1 for i, s, p, d, k, o in
                   zip(spatial, stride, pad, dilation, w.shape[2:], opad))
    if any(o < 0 for o in out_sp):
        raise RuntimeError(f"Given input size per channel: ({' x '.join(map(str, spatial))}). "
                           f"Calculated output size per channel: "
                           f"({' x '.join(map(str, out_sp))}). Output size is too small")
    N = xin4[0]
    if nd == 3:
        # the transposed conv's output is the input of the conv it transposes
        x5 = (N, Cout) + out_sp
        out_shape = x5 if batched else x5[1:]
        geo = _Geo3(x5, w.shape, groups, stride, tuple((v, v) for v in pad), dilation,
                    tuple(spatial), out_shape, x.shape, w.shape)
        return _ConvT.apply(input, weight, bias, geo, _bias_axes(nd, batched))
    if nd == 1:
        x4 = (N, Cout, 1) + out_sp
        pad4 = (0, 0, pad[0], pad[0])
        in_hw = (1,) + spatial
    else:
        x4 = (N, Cout) + out_sp
        pad4 = (pad[0], pad[0], pad[1], pad[1])
        in_hw = tuple(spatial)
    # the transposed conv's output is the input of the conv it transposes
    out_shape = _out_shape(x4, nd, batched)
    geo = _Geo(x4, _shape4_w(w, nd), groups, _to2d(nd, stride, 1), pad4,
               _to2d(nd, dilation, 1), in_hw, out_shape, x.shape, w.shape)
    return _ConvT.apply(input, weight, bias, geo, _bias_axes(nd, batched))


# ---- public functions -----------------------------------------------------------------------

@autocast_op("lower")
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution: input (N, C, L) or (C, L), weight (O, C/groups, k) ->
    (N, O, L_out).  ``padding`` may be an int, a 1-tuple, 'valid' or 'same'."""
    return _convnd(1, "conv1d", input, weight, bias, stride, padding, dilation, groups)


@autocast_op("lower")
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution: input (N, C, H, W) or (C, H, W), weight
    (O, C/groups, kh, kw), bias (O,) -> (N, O, H_out, W_out)."""
    return _convnd(2, "conv2d", input, weight, bias, stride, padding, dilation, groups)


@autocast_op("lower")
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution: input (N, C, D, H, W) or (C, D, H, W), weight
    (O, C/groups, kd, kh, kw), bias (O,) -> (N, O, D_out, H_out, W_out)."""
    return _convnd(3, "conv3d", input, weight, bias, stride, padding, dilation, groups)


@autocast_op("lower")
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """1-D transposed convolution: input (N, C_in, L), weight (C_in, C_out/groups, k)
    -> (N, C_out, (L-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1)."""
    return _conv_transposend(1, "conv_transpose1d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)


@autocast_op("lower")
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution (the gradient of conv2d w.r.t. its input):
    input (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw) -> (N, C_out, H', W')."""
    return _conv_transposend(2, "conv_transpose2d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)


@autocast_op("lower")
def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """3-D transposed convolution (the gradient of conv3d w.r.t. its input):
    input (N, C_in, D, H, W), weight (C_in, C_out/groups, kd, kh, kw) -> (N, C_out, D', H', W')."""
    return _conv_transposend(3, "conv_transpose3d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)
