"""The CPU's compiled convolution and max-pooling passes and the NumPy paths
they replace: outputs and gradients against torch with the kernels on and
off, the paths against each other, batch chunking, threads, and a forward
and backward run under different kernel settings.

A CPU convolution takes one of six paths (``conv_path`` below, seven runs): NumPy
only; the compiled im2col/col2im passes around NumPy GEMMs in batch chunks
(``_numba.im2col``/``col2im``, used when BLAS can't be called from compiled
code); cache-sized im2col tiles with BLAS called from compiled code
(``_numba.conv_tiles_*``; for float32 with AVX-512 the products of the
forward and input gradient by the direct kernel's blocks instead,
``tiles_blas`` forcing BLAS); shifted GEMMs over the padded, phase-split
input (``_numba.conv_shift_*``); and, for float32 on CPUs with AVX-512, the
direct kernel's forward over that same input (``_numba.conv_direct_forward``;
float64 takes the shifted GEMMs there), or the direct kernel over kw
column-shifted copies of the input (``_numba.conv_compact_*``: by default
small images and kernels 5 or more wide, LeNet's; AVX-512, or AVX2 and
FMA).  The tests force each
path with tile sizes small enough that every tile shape (bands of rows,
several samples) runs."""
import numpy as np
import pytest
import torch

import ember
from ember.backends.cpu import _jit
from ember.backends.cpu import _conv as _cpu_conv
from ember.backends.cpu import _winograd
from ember.nn.functional import conv as _conv_mod
from helpers import check, count_kernel_calls, rand

F_E = ember.nn.functional


@pytest.fixture
def small_chunks(monkeypatch):
    """Batch chunks of one or two samples, so every multi-chunk path runs."""
    monkeypatch.setattr(_conv_mod, "_CHUNK_BYTES", 1 << 10)


@pytest.fixture(params=["numpy", "chunked", "tiles", "tiles_blas", "shift", "direct", "compact"])
def conv_path(request, monkeypatch):
    """Run the test on each CPU convolution path (see the module docstring)."""
    path = request.param
    if path != "numpy":
        pytest.importorskip("numba")
    old = _jit.set_enabled(path != "numpy")
    # (Winograd, the default for many 3x3 convs, has its own tests: here
    # every conv takes the path named)
    monkeypatch.setattr(_winograd, "FORCE", False)
    if path == "chunked":
        monkeypatch.setattr(_cpu_conv, "_tiled", lambda dtype: None)
    elif path in ("tiles", "tiles_blas", "shift", "direct", "compact"):
        if _cpu_conv._tiled(np.dtype(np.float32)) is None:
            _jit.set_enabled(old)
            pytest.skip("BLAS can't be called from compiled code here")
        if path == "direct" and not _cpu_conv._has_wide_vectors():
            _jit.set_enabled(old)
            pytest.skip("the direct kernel needs AVX-512")
        if path == "compact" and not (_cpu_conv._has_wide_vectors() or _jit.fma_vectors()):
            _jit.set_enabled(old)
            pytest.skip("the compact kernels need AVX-512, or AVX2 and FMA")
        monkeypatch.setattr(_cpu_conv, "_DIRECT", path in ("direct", "compact"))
        # (the tiles' products by the direct kernel's blocks where it can, or by BLAS)
        monkeypatch.setattr(_cpu_conv, "_TILE_BLOCKS", path != "tiles_blas")
        monkeypatch.setattr(_cpu_conv, "_DGRAD_BLOCKS_COLS", 0)     # (tiny tiles too)
        monkeypatch.setattr(_cpu_conv, "_NARROW_TERMS", 1 << 30)    # (AVX2: long sums too)
        monkeypatch.setattr(_cpu_conv, "_COMPACT", path == "compact")
        if path == "compact":
            # every float32 conv of one group with vertical stride 1, the
            # weight gradient one or two samples per block call
            monkeypatch.setattr(_cpu_conv, "_COMPACT_MIN_KW", 1)
            monkeypatch.setattr(_cpu_conv, "_COMPACT_MIN_SAVED", -(1 << 30))
            monkeypatch.setattr(_cpu_conv, "_COMPACT_WGRAD_BYTES", 1 << 9)
        if path in ("direct", "compact"):
            # every float32 conv of one group but 1x1 ones, in bands
            # of output blocks of 2 rows or fewer
            monkeypatch.setattr(_cpu_conv, "_DIRECT_WASTE", 1e9)
            monkeypatch.setattr(_cpu_conv, "_DIRECT_STRIDED_CHANNELS", 1 << 30)
            monkeypatch.setattr(_cpu_conv, "_DIRECT_THIN_K", 0)
            monkeypatch.setattr(_cpu_conv, "_DIRECT_WGRAD_POSITIONS", 0)
            monkeypatch.setattr(_cpu_conv, "_DIRECT_OUT_BYTES", 1 << 9)
            monkeypatch.setattr(_cpu_conv, "_DIRECT_WGRAD_BYTES", 1 << 7)
        # tiny tiles: bands of a few rows, or a few samples per tile
        monkeypatch.setattr(_cpu_conv, "_SMALL_MNK", 300)
        monkeypatch.setattr(_cpu_conv, "_TILE_MIN", 4)
        monkeypatch.setattr(_cpu_conv, "_TILE_BYTES", 1 << 8)
        monkeypatch.setattr(_cpu_conv, "_TILE_WIDE_MIN", 8)
        monkeypatch.setattr(_cpu_conv, "_OWN_TILE_POSITIONS", 1 << 62)   # (no AVX-512: group too)
        monkeypatch.setattr(_cpu_conv, "_TILE_GRAIN", 1)     # (split whenever 2 threads run)
        if path in ("shift", "direct", "compact"):
            monkeypatch.setattr(_cpu_conv, "_SHIFT_MIN_CHANNELS", 1)
            monkeypatch.setattr(_cpu_conv, "_SHIFT_MAX_CHANNELS", 1 << 30)
            monkeypatch.setattr(_cpu_conv, "_SHIFT_STRIDED", True)
            monkeypatch.setattr(_cpu_conv, "_SHIFT_WASTE", 1e9)
            monkeypatch.setattr(_cpu_conv, "_SHIFT_WGRAD_PIXELS", 0)
        else:
            monkeypatch.setattr(_cpu_conv, "_SHIFT_MIN_CHANNELS", 1 << 30)
    yield path
    _jit.set_enabled(old)


# (x shape, w shape, keyword arguments): strides, dilations, groups (depthwise
# too), padding modes, odd and non-square shapes, kernels larger than the
# stride, a 1x1 conv, a padded border wider than the kernel reaches
CONV2D = [
    ((2, 3, 7, 9), (4, 3, 3, 3), {}),
    ((2, 3, 7, 9), (4, 3, 3, 2), dict(stride=2, padding=1)),
    ((3, 4, 8, 6), (6, 2, 3, 3), dict(groups=2, padding=(2, 1), dilation=(1, 2))),
    ((2, 4, 9, 7), (4, 1, 3, 3), dict(groups=4, padding=1)),             # depthwise
    ((2, 3, 6, 6), (5, 3, 1, 1), {}),                                     # 1x1
    ((2, 3, 6, 6), (5, 3, 1, 1), dict(stride=2)),
    ((1, 2, 5, 8), (3, 2, 2, 4), dict(padding="same", dilation=(2, 1))),
    ((2, 2, 5, 8), (3, 2, 3, 3), dict(padding="valid", stride=(1, 3))),
    ((2, 3, 10, 11), (2, 3, 5, 4), dict(stride=(3, 2), dilation=(2, 1), padding=(3, 2))),
    ((2, 1, 4, 4), (2, 1, 3, 3), dict(padding=3)),
    # 3 wide, stride 2, 1 padded column, W = 2 * Wo a multiple of 16: the
    # im2col's tap triples (``_numba._im2col_split3``), odd height
    ((2, 3, 9, 16), (4, 3, 3, 3), dict(stride=2, padding=1)),
    ((2, 2, 11, 32), (3, 2, 5, 3), dict(stride=2, padding=(2, 1))),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")   # (torch's, on one case)
@pytest.mark.parametrize("xs,ws,kw", CONV2D)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d(conv_path, xs, ws, kw, dtype):
    check(lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, **kw),
          rand(*xs, dtype=dtype), rand(*ws, dtype=dtype), rand(ws[0], dtype=dtype))


@pytest.mark.parametrize("xs,ws,kw", CONV2D[:4] + CONV2D[8:])
def test_conv2d_in_batch_chunks(conv_path, small_chunks, xs, ws, kw):
    x = rand(5, *xs[1:], dtype=np.float32)
    check(lambda lib, x, w: lib.nn.functional.conv2d(x, w, **kw), x, rand(*ws, dtype=np.float32))


@pytest.mark.parametrize("xs,ws,kw", [
    ((3, 8, 9, 11), (13, 8, 3, 3), dict(padding=1)),        # 13 outputs: a partial block of 8
    ((2, 16, 10, 10), (24, 16, 3, 3), dict(padding=2, dilation=2)),
    ((2, 9, 12, 7), (16, 9, 5, 3), dict(padding=(2, 1), stride=(2, 1))),
    ((1, 8, 40, 3), (8, 8, 3, 3), dict(padding=1)),          # more positions than a band holds
])
def test_conv2d_many_channels(conv_path, xs, ws, kw):
    """Shapes the direct kernel's blocks (8 output channels x 32 positions)
    do not divide, with a bias, forward and both gradients."""
    check(lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, **kw),
          rand(*xs, dtype=np.float32), rand(*ws, dtype=np.float32), rand(ws[0], dtype=np.float32))


def test_conv1d_3d_and_transposed(conv_path):
    check(lambda lib, x, w: lib.nn.functional.conv1d(x, w, stride=2, padding=2, dilation=2),
          rand(2, 3, 11), rand(4, 3, 3))
    check(lambda lib, x, w: lib.nn.functional.conv3d(x, w, stride=(1, 2, 1), padding=1),
          rand(2, 2, 4, 5, 6), rand(3, 2, 2, 3, 3))
    check(lambda lib, x, w, b: lib.nn.functional.conv_transpose2d(
        x, w, b, stride=2, padding=1, output_padding=1, groups=2, dilation=(1, 2)),
        rand(2, 4, 5, 4), rand(4, 3, 3, 3), rand(6))
    check(lambda lib, x, w: lib.nn.functional.conv_transpose1d(x, w, stride=3, padding=1),
          rand(2, 2, 6), rand(2, 3, 4))


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(padding=1, groups=2)])
def test_conv2d_double_backward(conv_path, kw):
    def fn(lib, x, w):
        y = lib.nn.functional.conv2d(x, w, **kw)
        gx, gw = lib.autograd.grad((y * y).sum(), (x, w), create_graph=True)
        return (gx * gx).sum() + (gw * gw).sum()
    check(fn, rand(2, 4, 6, 5, dtype=np.float64), rand(4, 2 if "groups" in kw else 4, 3, 3,
                                                     dtype=np.float64))


def _conv_grads(x, w, kw):
    xe = ember.tensor(x, requires_grad=True)
    we = ember.tensor(w, requires_grad=True)
    y = F_E.conv2d(xe, we, **kw)
    y.backward(ember.tensor(np.cos(np.arange(y.numel()).reshape(y.shape)).astype(x.dtype)))
    return y.numpy(force=True), xe.grad.numpy(), we.grad.numpy()


@pytest.mark.parametrize("xs,ws,kw", CONV2D)
def test_conv2d_kernels_agree_with_numpy_path(xs, ws, kw):
    pytest.importorskip("numba")
    x, w = rand(*xs, dtype=np.float64), rand(*ws, dtype=np.float64)
    old = _jit.set_enabled(True)
    try:
        on = _conv_grads(x, w, kw)
        _jit.set_enabled(False)
        off = _conv_grads(x, w, kw)
    finally:
        _jit.set_enabled(old)
    for a, b in zip(on, off):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("switch_to", [False, True])
@pytest.mark.parametrize("xs,ws", [((4, 3, 6, 7), (5, 3, 3, 3)),
                                   ((4, 3, 9, 9), (5, 3, 5, 5))])   # (the compact path's)
def test_conv2d_backward_after_the_kernels_switch(small_chunks, switch_to, xs, ws):
    """The forward keeps its im2col chunks (or column-shifted copies) for the
    weight gradient; a backward run with the kernels switched since still
    reads them in their layout, or recomputes from the input."""
    pytest.importorskip("numba")
    x, w = rand(*xs, dtype=np.float32), rand(*ws, dtype=np.float32)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(xt, wt, padding=1).sum().backward()
    old = _jit.set_enabled(not switch_to)
    try:
        xe, we = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
        y = F_E.conv2d(xe, we, padding=1)
        _jit.set_enabled(switch_to)
        y.sum().backward()
    finally:
        _jit.set_enabled(old)
    np.testing.assert_allclose(we.grad.numpy(), wt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(padding=1, dilation=2)])
def test_conv2d_split_over_threads(conv_path, kw):
    """Large enough that the passes (im2col and col2im, or the tiles, each
    thread with its own share of the weight gradient) are split over two
    threads."""
    if conv_path == "numpy":
        pytest.skip("the NumPy path runs on one thread")
    old_n = ember.get_num_threads()
    ember.set_num_threads(2)
    try:
        check(lambda lib, x, w: lib.nn.functional.conv2d(x, w, **kw),
              rand(4, 8, 24, 24), rand(8, 8, 3, 3))
    finally:
        ember.set_num_threads(old_n)


def test_compiled_passes_run(monkeypatch):
    """With the default settings the workloads' convolutions take the tiled
    and shifted paths, and Winograd (and max pooling its compiled passes)."""
    pytest.importorskip("numba")
    if ember.randn(1).device.type != "cpu":
        pytest.skip("the compiled passes are the CPU's")
    if _cpu_conv._tiled(np.dtype(np.float32)) is None:
        pytest.skip("BLAS can't be called from compiled code here")
    path = "direct" if _cpu_conv._has_wide_vectors() else "shift"
    # (the tiles' products by the direct kernel's blocks where it runs, and
    # with 256-bit vectors on thin products, as the first conv's 27 terms)
    blocks = path == "direct" or _jit.fma_vectors()
    tiles = "conv_tiles_forward_blocks" if blocks else "conv_tiles_forward"
    names = (tiles, "conv_tiles_wgrad", "conv_tiles_dgrad", f"conv_{path}_forward",
             f"conv_{path}_wgrad", "max_pool2d_forward", "max_pool2d_backward", "wino_forward",
             "wino_wgrad")
    seen = count_kernel_calls(monkeypatch, names)
    old = _jit.set_enabled(True)
    try:
        # few channels, many outputs, strided: im2col tiles (dgrad by
        # col2im); 8 channels, stride 1, 12x12: shifted GEMMs, or the
        # direct kernels with AVX-512 (the input gradient is a forward too);
        # 32 channels: Winograd
        x = ember.randn(2, 3, 8, 8, requires_grad=True)
        w = ember.randn(32, 3, 3, 3, requires_grad=True)
        F_E.max_pool2d(F_E.conv2d(x, w, stride=2), 2, stride=1).sum().backward()
        for c in (8, 32):
            x = ember.randn(2, c, 12, 12, requires_grad=True)
            w = ember.randn(c, c, 3, 3, requires_grad=True)
            F_E.conv2d(x, w, padding=1).sum().backward()
    finally:
        _jit.set_enabled(old)
    assert set(seen) == set(names)


# ---- max pooling -----------------------------------------------------------------------------

POOL = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1)),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=1, padding=(1, 1), dilation=2),
]


@pytest.mark.parametrize("kw", POOL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 9, 8), (2, 3, 8, 9)])   # (odd height; even: row pairs)
def test_max_pool2d(jit, kw, dtype, shape):
    check(lambda lib, x: lib.nn.functional.max_pool2d(x, **kw), rand(*shape, dtype=dtype))


@pytest.mark.parametrize("kw", POOL)
def test_max_pool2d_indices_and_double_backward(jit, kw):
    def fn(lib, x):
        y, i = lib.nn.functional.max_pool2d(x, return_indices=True, **kw)
        g, = lib.autograd.grad((y * y).sum(), x, create_graph=True)
        return y, i, (g * g.sin()).sum()
    check(fn, rand(2, 2, 7, 9, dtype=np.float64))


def test_max_pool_1d_3d_and_unbatched(jit):
    check(lambda lib, x: lib.nn.functional.max_pool1d(x, 3, 2, 1), rand(2, 3, 11))
    check(lambda lib, x: lib.nn.functional.max_pool2d(x, 2), rand(3, 6, 5))
    check(lambda lib, x: lib.nn.functional.max_pool3d(x, 2, padding=1), rand(1, 2, 4, 5, 4))


@pytest.mark.parametrize("kw", POOL)
@pytest.mark.parametrize("shape", [(2, 3, 9, 8), (2, 3, 8, 9)])
def test_max_pool2d_special_values_agree_with_numpy_path(kw, shape):
    """NaN wins (the last one), ties keep the first maximum, -inf and inf:
    the compiled pass picks the same winners as the NumPy stages."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, shape).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.1] = -np.inf
    x[rng.random(x.shape) < 0.05] = np.inf
    _pool_agrees_with_numpy_path(x, kw)


def _pool_agrees_with_numpy_path(x, kw):
    res = []
    old = _jit.set_enabled(True)
    try:
        for on in (True, False):
            _jit.set_enabled(on)
            t = ember.tensor(x, requires_grad=True)
            y, i = F_E.max_pool2d(t, return_indices=True, **kw)
            y.backward(ember.ones_like(y))
            res.append((y.numpy(force=True), i.numpy(), t.grad.numpy()))
    finally:
        _jit.set_enabled(old)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", [None, np.nan, "infs"])
def test_max_pool2x2_row_pairs_split_over_threads(bad):
    """LeNet's 2x2 pool on an even height runs over row pairs, split between
    two threads, each checking its own range for NaN (a NaN, or an inf and a
    -inf, only in the second thread's range; or none) before redoing it with
    the NaN rules: the same winners as the NumPy stages."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(5)
    x = rng.integers(-3, 4, (16, 16, 24, 24)).astype(np.float32)   # (enough to split)
    if bad == "infs":
        x[14, 3, 10, 4], x[15, 2, 1, 17] = np.inf, -np.inf
    elif bad is not None:
        x[15, 9, 20, 5] = bad
    old_n = ember.get_num_threads()
    ember.set_num_threads(2)
    try:
        _pool_agrees_with_numpy_path(x, dict(kernel_size=2))
    finally:
        ember.set_num_threads(old_n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 9, 8), (2, 3, 8, 9), (2, 3, 9, 7, 8), (1, 2, 6, 6, 7)])
def test_max_pool_2x2_backward_passes_gradient_bits(dtype, shape):
    """The compiled 2x2 backward (odd height; even: row pairs) and 2x2x2
    backward, which mask the gradient's bits by the winner flags, give each
    winner exactly 0.0 + its gradient (inf, NaN, -0.0 -> +0.0, the largest
    float, a subnormal) and +0.0 elsewhere: torch's result, bit for bit
    (NaN payloads aside)."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    name = "max_pool3d" if len(shape) == 5 else "max_pool2d"
    g = rng.standard_normal(tuple(getattr(F_E, name)(ember.tensor(x), 2).shape)).astype(dtype)
    fi = np.finfo(dtype)
    specials = [np.inf, -np.inf, np.nan, -0.0, fi.max, -fi.smallest_subnormal]
    g.reshape(-1)[rng.choice(g.size, len(specials), replace=False)] = specials
    grads = []
    for lib in (ember, torch):
        t = lib.tensor(x, requires_grad=True)
        gx, = lib.autograd.grad(getattr(lib.nn.functional, name)(t, 2), t, lib.tensor(g))
        grads.append(gx.numpy())
    nan = np.isnan(grads[1])
    np.testing.assert_array_equal(np.isnan(grads[0]), nan)
    np.testing.assert_array_equal(grads[0][~nan].view(np.uint8), grads[1][~nan].view(np.uint8))


@pytest.mark.parametrize("xs,ws,kw", [((2, 16, 12, 12), (16, 16, 3, 3), dict(padding=1)),
                                      ((2, 3, 10, 10), (8, 3, 3, 3), dict(padding=1, stride=2)),
                                      # 5x5 outputs: the compact blocks read past each sample's 25
                                      ((2, 4, 9, 9), (8, 4, 5, 5), {})])
def test_conv2d_weight_gradient_of_an_inf_input(conv_path, xs, ws, kw):
    """An inf in the input makes inf or NaN in exactly the weight-gradient
    entries torch's has them in: the direct and shifted sums, which also
    multiply dropped positions' inputs by zero, give way to the im2col tiles.
    (The NumPy path's wide layout has the same flaw, not fixed yet.)"""
    if conv_path == "numpy":
        pytest.skip("the NumPy path's wide columns also multiply dropped positions")
    x, w = rand(*xs, dtype=np.float32), rand(*ws, dtype=np.float32)
    x[0, 1, 5, -1] = np.inf         # (the last column: the wide layout reads it for dropped outputs)
    grads = []
    for lib in (torch, ember):
        xt, wt = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        lib.nn.functional.conv2d(xt, wt, **kw).sum().backward()
        grads.append(wt.grad.numpy())
    np.testing.assert_array_equal(np.isnan(grads[1]), np.isnan(grads[0]))
    np.testing.assert_array_equal(np.isinf(grads[1]), np.isinf(grads[0]))


@pytest.mark.parametrize("train", [False, True])
def test_direct_forward_gives_way_to_tiles_that_keep_columns(conv_path, monkeypatch, train):
    """A conv whose forward runs the direct kernel but whose weight gradient
    takes the im2col tiles (few positions per sample, like LeNet's 12x12
    conv): in training the tiled forward runs instead and keeps its columns
    for the weight gradient; without gradients the direct kernel still runs."""
    if conv_path != "direct":
        pytest.skip("a choice of the direct path")
    if ember.randn(1).device.type != "cpu":
        pytest.skip("the compiled passes are the CPU's")
    monkeypatch.setattr(_cpu_conv, "_COMPACT", False)   # (which takes this shape by default)
    monkeypatch.setattr(_cpu_conv, "_DIRECT_WGRAD_POSITIONS", 1 << 30)
    monkeypatch.setattr(_cpu_conv, "_SHIFT_WGRAD_PIXELS", 1 << 30)
    tiled = ("conv_tiles_forward", "conv_tiles_forward_blocks")      # (BLAS's or the blocks')
    seen = count_kernel_calls(monkeypatch, ("conv_direct_forward", "conv_tiles_wgrad") + tiled)
    x, w = rand(3, 16, 12, 12, dtype=np.float32), rand(32, 16, 5, 5, dtype=np.float32)
    if train:
        check(lambda lib, x, w: lib.nn.functional.conv2d(x, w), x, w, atol=1e-4)
        assert any(seen.get(t) for t in tiled) and seen.get("conv_tiles_wgrad"), seen
    else:
        with ember.no_grad():
            y = F_E.conv2d(ember.tensor(x), ember.tensor(w))
        np.testing.assert_allclose(
            y.numpy(), torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w)).numpy(),
            rtol=1e-4, atol=1e-4)
        assert seen.get("conv_direct_forward") and not any(seen.get(t) for t in tiled)


@pytest.mark.parametrize("threads", [1, 2])
def test_compact_path_runs_on_lenet_convs(monkeypatch, threads):
    """With the default settings, LeNet's 5x5 convs (1 and 16 input channels,
    28x28 and 12x12 images) take the direct kernel on column-shifted copies,
    forward and weight gradient, and match torch, on one thread and split
    over two."""
    pytest.importorskip("numba")
    if ember.randn(1).device.type != "cpu":
        pytest.skip("the compiled passes are the CPU's")
    if _cpu_conv._tiled(np.dtype(np.float32)) is None \
            or not (_cpu_conv._has_wide_vectors() or _jit.fma_vectors()):
        pytest.skip("the compact kernels need AVX-512 or AVX2 and FMA, and BLAS callable from "
                    "compiled code")
    seen = count_kernel_calls(monkeypatch, ("conv_compact_forward", "conv_compact_wgrad"))
    old_n = ember.get_num_threads()
    old = _jit.set_enabled(True)
    ember.set_num_threads(threads)
    try:
        check(lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b),
              rand(6, 1, 28, 28, dtype=np.float32), rand(16, 1, 5, 5, dtype=np.float32),
              rand(16, dtype=np.float32), atol=1e-4)
        check(lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b),
              rand(6, 16, 12, 12, dtype=np.float32), rand(32, 16, 5, 5, dtype=np.float32),
              rand(32, dtype=np.float32), atol=1e-4)
    finally:
        ember.set_num_threads(old_n)
        _jit.set_enabled(old)
    assert seen.get("conv_compact_forward") and seen.get("conv_compact_wgrad"), seen


@pytest.mark.parametrize("stride,pads", [((2, 2), (1, 1, 1, 1)), ((3, 2), (0, 2, 1, 0)),
                                         ((2, 1), (2, 0, 0, 1))])
def test_phase_split_pass_matches_numpy_copies(stride, pads):
    """The strided conv's zero-padded, phase-split input (``_phased``): the
    compiled pass, split by planes over two threads, writes exactly what the
    NumPy copies write, including a dirty ``out`` buffer's every element."""
    pytest.importorskip("numba")
    N, C, H, W = 4, 6, 37, 30           # (large enough to split; odd sizes)
    pt, pb, pl, pr = pads
    Hp, Wp = H + pt + pb, W + pl + pr
    Ho, Wo = (Hp - 3) // stride[0] + 1, (Wp - 3) // stride[1] + 1
    geo = _conv_mod._Geo((N, C, H, W), (5, C, 3, 3), 1, stride, pads, (1, 1), (Ho, Wo),
                         (N, C, H, W), (N, 5, Ho, Wo), (5, C, 3, 3))
    x = rand(N, C, H, W, dtype=np.float32)
    P, Hq, Wq = _cpu_conv._phase_shape(geo)
    got = []
    old_n, old = ember.get_num_threads(), _jit.set_enabled(True)
    ember.set_num_threads(2)
    try:
        for jit in (True, False):
            _jit.set_enabled(jit)
            out = np.full((N, C, P, Hq, Wq), np.nan, np.float32)
            xq, owned = _cpu_conv._phased(x, geo, out=out)
            assert xq is out and not owned
            got.append(out)
    finally:
        _jit.set_enabled(old)
        ember.set_num_threads(old_n)
    np.testing.assert_array_equal(got[0], got[1])
    # a spot check of the layout itself: phase (p, q) row a, column b is padded (a*sh+p, b*sw+q)
    xp = np.zeros((N, C, Hp + stride[0], Wp + stride[1]), np.float32)
    xp[:, :, pt:pt + H, pl:pl + W] = x
    for p in range(stride[0]):
        for q in range(stride[1]):
            np.testing.assert_array_equal(
                got[0][:, :, p * stride[1] + q],
                xp[:, :, p::stride[0], q::stride[1]][:, :, :Hq, :Wq])


def test_all_finite_split_over_threads():
    """The weight gradient's inf/NaN check, split over two threads, finds an
    inf or NaN in any thread's range."""
    pytest.importorskip("numba")
    k = _jit.kernels_for(np.dtype(np.float32))
    if k is None:
        pytest.skip("Ember's compiled kernels are off (EMBER_JIT=0)")
    old_n = ember.get_num_threads()
    ember.set_num_threads(2)
    try:
        x = np.ones(1 << 18, np.float32)
        assert _cpu_conv._all_finite(k, x)
        for at, bad in ((0, np.inf), (x.size - 1, np.nan), (x.size // 2 + 3, -np.inf)):
            y = x.copy()
            y[at] = bad
            assert not _cpu_conv._all_finite(k, y)
    finally:
        ember.set_num_threads(old_n)


def test_tiled_input_gradient_zeroes_its_own_samples(conv_path, monkeypatch):
    """The tiled input gradient starts from an uninitialised array that each
    thread zeroes for the samples its tiles add into: with every fresh array
    full of NaN, the gradient (split over two threads) still matches torch."""
    if conv_path not in ("tiles", "tiles_blas"):
        pytest.skip("the tiled input gradient only")
    real_empty = np.empty

    def nan_empty(shape, dtype=float, *a, **k):
        out = real_empty(shape, dtype, *a, **k)
        if out.dtype.kind == "f":
            out.fill(np.nan)
        return out
    old_n = ember.get_num_threads()
    ember.set_num_threads(2)
    try:
        monkeypatch.setattr(_cpu_conv.np, "empty", nan_empty)
        check(lambda lib, x, w: lib.nn.functional.conv2d(x, w, stride=2, padding=1),
              rand(4, 8, 24, 24), rand(8, 8, 3, 3))
    finally:
        ember.set_num_threads(old_n)
