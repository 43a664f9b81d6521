"""The CUDA backend's fused kernels (ember/backends/gpu/kernels.py).

Three levels, for the machines they can run on:

* everywhere: the CUDA table registers only names the generic table has,
  with the generic kernel's parameters (so an op's call reaches either);
* where ``nvcc`` is installed (no GPU needed): every CUDA source compiles
  for sm_90 -- the row kernels' module with each template instantiated, and
  each ElementwiseKernel body inside a stand-in for the loop CuPy writes;
* on a CUDA device: each kernel against the generic formula on the host
  (NumPy), outputs and gradients, float32 and float64.
"""
import ast
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from ember.backends._table import GENERIC
import ember.backends.generic  # noqa: F401  (fills GENERIC)
from ember.backends.gpu import _cuda_src as src

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNELS_PY = os.path.join(ROOT, "ember", "backends", "gpu", "kernels.py")


def _registered():
    """name -> parameter names of each ``@KERNELS.register`` function in kernels.py."""
    with open(KERNELS_PY) as f:
        tree = ast.parse(f.read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Attribute) and d.attr == "register" for d in node.decorator_list):
            out[node.name] = [a.arg for a in node.args.args]
    return out


def test_the_cuda_table_keeps_the_generic_contracts():
    import inspect
    reg = _registered()
    assert len(reg) >= 20
    for name, params in reg.items():
        generic = getattr(GENERIC, name)         # (AttributeError: a name no op asks for)
        assert list(inspect.signature(generic).parameters) == params, name


# ---- compiling the sources with nvcc --------------------------------------------------------

def _nvcc():
    path = shutil.which("nvcc") or ("/usr/local/bin/nvcc" if os.path.exists("/usr/local/bin/nvcc")
                                    else None)
    if path is None:
        pytest.skip("nvcc is not installed")
    return path


def _compile(tmp_path, name, code):
    nvcc = _nvcc()
    cu = tmp_path / f"{name}.cu"
    cu.write_text(code)
    ptx = tmp_path / f"{name}.ptx"
    r = subprocess.run([nvcc, "-ptx", "-arch=sm_90", "-std=c++17", str(cu), "-o", str(ptx)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{name} does not compile:\n{r.stderr[-4000:]}"
    return ptx.read_text()


def test_the_row_kernels_compile(tmp_path):
    # (taking each instantiation's address makes nvcc compile it, as CuPy's
    # name_expressions make NVRTC do)
    inst = "".join(f"    (void*)&{n}<{t}>,\n" for n, types in src.ROWS_KERNELS.items()
                   for t in types)
    ptx = _compile(tmp_path, "rows", src.ROWS + "void* ek_instances[] = {\n" + inst + "};\n")
    entries = re.findall(r"^\.visible \.entry (\S+)\(", ptx, re.M)
    assert len(entries) == sum(len(t) for t in src.ROWS_KERNELS.values())
    for n in src.ROWS_KERNELS:
        assert any(n in e for e in entries), n


def _params(spec):
    """'T g, bool small' -> [('T', 'g'), ('bool', 'small')]."""
    return [tuple(p.split()) for p in spec.split(",")]


def _elementwise_stand_in(name, ins, outs, body):
    """The body inside a kernel shaped like CuPy's: inputs bound by value,
    outputs by reference, T a template parameter."""
    ins, outs = _params(ins), _params(outs)
    args = [f"const {t}* {n}_p" for t, n in ins] + [f"{t}* {n}_p" for t, n in outs]
    binds = [f"    const {t} {n} = {n}_p[i];" for t, n in ins] + \
            [f"    {t}& {n} = {n}_p[i];" for t, n in outs]
    return (f"template <typename T>\n__global__ void {name}({', '.join(args)}, long long n) {{\n"
            "    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n"
            "    if (i >= n) return;\n" + "\n".join(binds) + f"\n    {{\n{body}\n    }}\n}}\n"
            f"void* {name}_instances[] = {{(void*)&{name}<float>, (void*)&{name}<double>}};\n")


def test_the_elementwise_bodies_compile(tmp_path):
    code = "".join(_elementwise_stand_in(n, *spec) for n, spec in src.ELEMENTWISE.items())
    ptx = _compile(tmp_path, "elementwise", code)
    for n in src.ELEMENTWISE:
        # (C++-mangled: _Z<length><name>I<type>...: one for float, one for double)
        assert len(re.findall(rf"^\.visible \.entry _Z{len(n)}{n}I", ptx, re.M)) == 2, n


def _cupy_generated(name, ins, outs, body, dtype):
    """The CUDA source CuPy writes for an ElementwiseKernel on 1-D arrays of
    ``dtype`` (through CuPy's internal code generator, which needs no GPU)."""
    import cupy
    from cupy._core import _kernel, _carray
    ek = cupy.ElementwiseKernel(ins, outs, body, name)
    ARRAY, INDEXER = 1, 2       # (CuPy's _ArgInfo kinds)
    infos = tuple(_kernel._ArgInfo(INDEXER, _carray.Indexer, None, 1, True, True)
                  if p.name == "_ind" else
                  _kernel._ArgInfo(ARRAY, cupy.ndarray, p.dtype or dtype, 1, True, True)
                  for p in ek.params)
    # (named per dtype: the kernels are extern "C", so one name each)
    return _kernel._get_elementwise_kernel_code(infos, _kernel._TypeMap((("T", dtype),)),
                                                ek.params, body, f"{name}_{dtype.char}", "")


def test_the_elementwise_kernels_compile_as_cupy_writes_them(tmp_path):
    _nvcc()
    cupy = pytest.importorskip("cupy")
    try:
        units = [f"namespace ek_{n}_{dt.char} {{\n{_cupy_generated(n, *spec, dt)}\n}}\n"
                 for n, spec in src.ELEMENTWISE.items()
                 for dt in (np.dtype(np.float32), np.dtype(np.float64))]
    except (AttributeError, TypeError, AssertionError) as e:   # (a CuPy whose internals moved)
        pytest.skip(f"CuPy's kernel code generator is not reachable here: {e!r}")
    include = os.path.join(os.path.dirname(cupy.__file__), "_core", "include")
    headers = "".join(f"#include <cupy/{h}>\n" for h in ("complex.cuh", "carray.cuh", "atomics.cuh"))
    nvcc = _nvcc()
    cu = tmp_path / "generated.cu"
    cu.write_text(headers + "".join(units))
    r = subprocess.run([nvcc, "-ptx", "-arch=sm_90", "-std=c++17", "-I", include, str(cu),
                        "-o", str(tmp_path / "generated.ptx")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    ptx = (tmp_path / "generated.ptx").read_text()
    assert len(re.findall(r"^\.visible \.entry ", ptx, re.M)) == 2 * len(src.ELEMENTWISE)


# ---- on a GPU: each kernel against the generic formula ------------------------------------

def _gpu():
    try:
        import cupy
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:      # (no CuPy, or no driver/device: CUDARuntimeError)
        pytest.skip(f"no CUDA device ({type(e).__name__})")
    if not n:
        pytest.skip("no CUDA device")
    from ember.backends.gpu import kernels
    return cupy, kernels


def _tol(dt):
    return dict(rtol=3e-5, atol=3e-6) if dt == np.float32 else dict(rtol=1e-11, atol=1e-12)


def _close(cupy, got, want, dt):
    np.testing.assert_allclose(cupy.asnumpy(got), want, **_tol(dt))


FLOATS = [np.float32, np.float64]


def _randn(rng, shape, dt, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dt)


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("shape", [(3, 5), (4, 7, 300), (2, 1500), (1, 1)])
@pytest.mark.parametrize("log", [False, True])
def test_gpu_softmax_rows_and_backward(dt, shape, log):
    cupy, K = _gpu()
    rng = np.random.default_rng(0)
    x = _randn(rng, shape, dt, 3)
    g = _randn(rng, shape, dt)
    y = K.softmax(cupy.asarray(x), x.ndim - 1, log)
    _close(cupy, y, GENERIC.softmax(x.copy(), x.ndim - 1, log), dt)
    yh = GENERIC.softmax(x.copy(), x.ndim - 1, log)
    if log:
        gx = K.log_softmax_backward(cupy.asarray(g), cupy.asarray(yh), x.ndim - 1)
        _close(cupy, gx, GENERIC.log_softmax_backward(g, yh, x.ndim - 1), dt)
    else:
        gx = K.softmax_backward(cupy.asarray(g), cupy.asarray(yh), x.ndim - 1)
        _close(cupy, gx, GENERIC.softmax_backward(g, yh, x.ndim - 1), dt)


def test_gpu_softmax_other_axes_and_dtypes_take_the_generic_formula():
    cupy, K = _gpu()
    x = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32)
    _close(cupy, K.softmax(cupy.asarray(x), 0), GENERIC.softmax(x.copy(), 0), np.float32)
    h = x.astype(np.float16)
    got = cupy.asnumpy(K.softmax(cupy.asarray(h), 1)).astype(np.float32)
    np.testing.assert_allclose(got, GENERIC.softmax(h.copy(), 1).astype(np.float32), atol=2e-3)


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("probs", [False, True])
def test_gpu_cross_entropy_rows(dt, probs):
    cupy, K = _gpu()
    x = _randn(np.random.default_rng(2), (37, 1000), dt, 4)
    logp, p = K.log_softmax_rows(cupy.asarray(x), probs)
    wl, wp = GENERIC.log_softmax_rows(x.copy(), probs)
    _close(cupy, logp, wl, dt)
    if probs:
        _close(cupy, p, wp, dt)
    else:
        assert p is None


def _norm_spec(R, D, center, affine):
    from ember.nn.functional.normalization import _spec
    return _spec((R, D), (1,), (1, D), center, 1e-5)


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("D", [8, 384, 1000])
def test_gpu_layer_and_rms_norm(dt, center, affine, D):
    cupy, K = _gpu()
    rng = np.random.default_rng(3)
    R = 13
    spec = _norm_spec(R, D, center, affine)
    x = _randn(rng, (R, D), dt, 2) + 0.5
    w = _randn(rng, (D,), dt) if affine else None
    b = _randn(rng, (D,), dt) if affine else None
    g = _randn(rng, (R, D), dt)
    dev = (lambda a: None if a is None else cupy.asarray(a))
    y, xhat, rstd, _, _ = K.normalize(dev(x), dev(w), dev(b), spec, False)
    wy, wsaved, wrstd, _, _ = GENERIC.normalize(x.copy(), w, b, spec, False)
    _close(cupy, y, wy, dt)
    _close(cupy, xhat, wsaved, dt)
    _close(cupy, rstd.reshape(-1), wrstd.reshape(-1), dt)
    need = (True, affine, affine)
    gx, gw, gb = K.normalize_backward(dev(g), xhat, rstd, dev(w), spec, need)
    wgx, wgw, wgb = GENERIC.normalize_backward(g, wsaved, wrstd, w, spec, need)
    _close(cupy, gx, wgx, dt)
    if affine:
        _close(cupy, gw, wgw.reshape(-1), dt)
        _close(cupy, gb, wgb.reshape(-1), dt)


@pytest.mark.parametrize("dt", FLOATS)
def test_gpu_gelu(dt):
    cupy, K = _gpu()
    import scipy.special
    x = _randn(np.random.default_rng(4), (5, 333), dt, 3)
    g = _randn(np.random.default_rng(5), (5, 333), dt)
    x64 = x.astype(np.float64)
    cdf = 0.5 * (1 + scipy.special.erf(x64 / np.sqrt(2)))
    pdf = np.exp(-0.5 * x64 * x64) / np.sqrt(2 * np.pi)
    y, dy = K.gelu_erf_fused(cupy.asarray(x))
    _close(cupy, y, x64 * cdf, dt)
    _close(cupy, dy, cdf + x64 * pdf, dt)
    _close(cupy, K.gelu_erf_fused_backward(cupy.asarray(g), dy), g * (cdf + x64 * pdf), dt)
    k, c = np.sqrt(2 / np.pi), 0.044715
    t = np.tanh(k * (x64 + c * x64 ** 3))
    y, dy = K.gelu_tanh_fused(cupy.asarray(x))
    _close(cupy, y, 0.5 * x64 * (1 + t), dt)
    _close(cupy, dy, 0.5 * (1 + t) + 0.5 * x64 * (1 - t * t) * k * (1 + 3 * c * x64 * x64), dt)


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_gpu_adam_and_sgd_updates(dt, amsgrad):
    cupy, K = _gpu()
    rng = np.random.default_rng(6)
    shape = (31, 17)
    d, g, m = (_randn(rng, shape, dt) for _ in range(3))
    v = np.abs(_randn(rng, shape, dt))
    vmax = np.abs(_randn(rng, shape, dt)) if amsgrad else None
    host = [a.copy() if a is not None else None for a in (d, m, v, vmax)]
    dev = [cupy.asarray(a) if a is not None else None for a in (d, m, v, vmax)]
    for step in (1, 2, 3):
        GENERIC.adam_step(host[0], g, host[1], host[2], step, 1e-3, 0.9, 0.999, 1e-8, host[3])
        K.adam_step(dev[0], cupy.asarray(g), dev[1], dev[2], step, 1e-3, 0.9, 0.999, 1e-8,
                    dev[3])
    for a, b in zip(dev, host):
        if a is not None:
            _close(cupy, a, b, dt)
    hd, dd = d.copy(), cupy.asarray(d)
    GENERIC.sgd_step(hd, g, -0.1)
    K.sgd_step(dd, cupy.asarray(g), -0.1)
    _close(cupy, dd, hd, dt)


def test_gpu_matmul_honours_allow_tf32_and_restores_cupys_setting():
    cupy, K = _gpu()
    from cupy._core import _routines_linalg as la
    from ember.backends import cuda as flags
    rng = np.random.default_rng(7)
    a = rng.standard_normal((64, 300)).astype(np.float32)
    b = rng.standard_normal((300, 50)).astype(np.float32)
    before = la.get_compute_type(np.float32)
    saved = flags.matmul.allow_tf32
    try:
        flags.matmul.allow_tf32 = False
        _close(cupy, K.matmul(cupy.asarray(a), cupy.asarray(b)), a @ b, np.float32)
        a3 = rng.standard_normal((2, 3, 300)).astype(np.float32)
        _close(cupy, K.matmul_nd(cupy.asarray(a3), cupy.asarray(b)), a3 @ b, np.float32)
        flags.matmul.allow_tf32 = True
        got = cupy.asnumpy(K.matmul(cupy.asarray(a), cupy.asarray(b)))
        np.testing.assert_allclose(got, a @ b, rtol=2e-2, atol=5e-2)   # (TF32: 10-bit mantissa)
    finally:
        flags.matmul.allow_tf32 = saved
    assert la.get_compute_type(np.float32) == before


@pytest.mark.parametrize("dt", FLOATS)
def test_gpu_attention_softmax_with_masks(dt):
    cupy, K = _gpu()
    rng = np.random.default_rng(8)
    s = _randn(rng, (2, 3, 5, 7), dt, 3)
    bias = np.where(np.tril(np.ones((5, 7), bool)), 0, -np.inf).astype(dt)
    bias[2] = -np.inf                           # a fully masked row: weights 0
    add = _randn(rng, (5, 7), dt)
    for a, bb in ((None, None), (add, None), (None, bias), (add, bias)):
        hs = s.copy()
        rd = GENERIC.attention_softmax_(hs, a, bb)
        want = hs * rd if rd is not None else hs
        ds = cupy.asarray(s)
        got_rd = K.attention_softmax_(ds, None if a is None else cupy.asarray(a),
                                      None if bb is None else cupy.asarray(bb))
        assert got_rd is None
        _close(cupy, ds, want, dt)
    P = want
    dP = _randn(rng, P.shape, dt)
    hd = dP.copy()
    GENERIC.attention_softmax_backward_(hd, P, None)
    dd = cupy.asarray(dP)
    K.attention_softmax_backward_(dd, cupy.asarray(P), None)
    _close(cupy, dd, hd, dt)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.int32,
                                   np.int8, np.uint8, np.bool_])
def test_gpu_cum_extreme(dtype):
    cupy, K = _gpu()
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((4, 9, 5)) * 50).astype(dtype)
    if np.dtype(dtype).kind == "f":
        x[1, 3, 2] = np.nan
    for axis in (0, 1, 2):
        for largest in (True, False):
            want = GENERIC.cum_extreme(x, axis, largest)
            got = cupy.asnumpy(K.cum_extreme(cupy.asarray(x), axis, largest))
            assert got.dtype == x.dtype
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.float16])
def test_gpu_long_sums(dt):
    cupy, K = _gpu()
    x = np.full(10 ** 6 + 3, 0.1, dt) if dt != np.float16 else np.full(5000, 0.1, dt)
    cases = ((None, None), ((0,), None), (None, np.float32)) if dt != np.float16 else \
        ((None, np.float32),)      # (half sums accumulate in float32, as the ops ask)
    for axes, dtype in cases:
        want = GENERIC.cascade_sum(x, axes, dtype, False)
        got = cupy.asnumpy(K.cascade_sum(cupy.asarray(x), axes, dtype, False))
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-3 if dt == np.float16 else 1e-6)
    if dt != np.float16:
        got = K.sum_squares(cupy.asarray(x))
        assert got.shape == () and got.dtype == dt
        np.testing.assert_allclose(cupy.asnumpy(got), GENERIC.sum_squares(x), rtol=1e-6)


def test_gpu_max_kept():
    cupy, K = _gpu()
    x = np.random.default_rng(12).standard_normal((3, 4, 5)).astype(np.float32)
    x[1, 2, 3] = np.nan
    for axes in ((1,), (0, 2), None):
        np.testing.assert_array_equal(cupy.asnumpy(K.max_kept(cupy.asarray(x), axes)),
                                      GENERIC.max_kept(x, axes))
    e = np.zeros((3, 0, 2), np.float32)
    np.testing.assert_array_equal(cupy.asnumpy(K.max_kept(cupy.asarray(e), (1,))),
                                  GENERIC.max_kept(e, (1,)))


@pytest.mark.parametrize("dt", FLOATS)
def test_gpu_log_cum_sum_exp(dt):
    cupy, K = _gpu()
    x = _randn(np.random.default_rng(10), (3, 40), dt, 10)
    x[0, :5] = -np.inf
    x[1, 7] = np.inf
    for axis in (0, 1):
        want = GENERIC.log_cum_sum_exp(x, axis)
        _close(cupy, K.log_cum_sum_exp(cupy.asarray(x), axis), want, dt)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.int16,
                                   np.float16, np.bool_, np.complex64])
def test_gpu_scatter_multiply(dtype):
    cupy, K = _gpu()
    rng = np.random.default_rng(11)
    t = (rng.standard_normal(12) * 3 + 1).astype(dtype)
    idx = rng.integers(0, 12, 40)                 # (repeats multiply in)
    vals = (rng.standard_normal(40) * 0.5 + 1).astype(dtype)
    want = t.copy()
    GENERIC.scatter_multiply(want, idx, vals)
    dt_ = cupy.asarray(t)
    K.scatter_multiply(dt_, cupy.asarray(idx), cupy.asarray(vals))
    got = cupy.asnumpy(dt_)
    if np.dtype(dtype).kind in "fc":
        np.testing.assert_allclose(got, want, rtol=2e-3 if dtype == np.float16 else 1e-5)
    else:
        np.testing.assert_array_equal(got, want)
    # an n-d target through a grid index (a scatter along dim 1 of a non-contiguous view)
    base = (rng.standard_normal((4, 10)) + 2).astype(np.float32)
    i = rng.integers(0, 5, (4, 6))
    grid = (np.arange(4)[:, None], i)
    v = (rng.standard_normal((4, 6)) + 1).astype(np.float32)
    want = base[:, ::2].copy()
    GENERIC.scatter_multiply(want, grid, v)
    dbase = cupy.asarray(base)
    view = dbase[:, ::2]
    K.scatter_multiply(view, tuple(cupy.asarray(a) for a in grid), cupy.asarray(v))
    np.testing.assert_allclose(cupy.asnumpy(view), want, rtol=1e-5)
