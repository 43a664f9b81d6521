"""The torch functions added from the coverage page's sweep (tools/coverage_page.py),
each against torch: combinatorics, integration, windows, cdist, vander,
matrix_exp / householder_product, and torch's top-level spellings of
Tensor methods and functional ops."""
import math

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck
from helpers import check, rand


def test_block_diag_and_cartesian_prod():
    check(lambda lib, a, b, c: lib.block_diag(a, b, c), rand(2, 3), rand(3, seed=1),
          rand(1, 1, seed=2))
    check(lambda lib, a: lib.block_diag(a, lib.tensor([[1, 2]])), rand(2, 2))
    check(lambda lib, a, b: lib.cartesian_prod(a, b), rand(3), rand(2, seed=1))
    check(lambda lib, a, b, c: lib.cartesian_prod(a, b, c), np.array([1, 2]), np.array([3]),
          np.array([4, 5, 6]))


@pytest.mark.parametrize("r,rep", [(2, False), (3, False), (2, True), (0, False), (5, False)])
def test_combinations(r, rep):
    check(lambda lib, a: lib.combinations(a, r, with_replacement=rep), rand(4))


@pytest.mark.parametrize("args", [(4, 4), (3, 5, 1), (5, 3, -1), (0, 3), (4, 2, -5)])
def test_tri_indices(args):
    for name in ("tril_indices", "triu_indices"):
        check(lambda lib: getattr(lib, name)(*args))


def test_unravel_index_and_isin():
    check(lambda lib, i: lib.unravel_index(i, (3, 4, 5)), np.array([0, 7, 59, -1, 23]))
    check(lambda lib: lib.unravel_index(lib.tensor(5), 6))
    check(lambda lib, a, b: lib.isin(a, b), np.array([[1, 5], [3, 7]]), np.array([5, 3, 9]))
    check(lambda lib, a, b: lib.isin(a, b, invert=True), np.array([1, 5, 3]), np.array([5]))
    check(lambda lib, a: lib.isin(a, 3), np.array([1, 3, 3]))
    check(lambda lib, i: lib.unravel_index(i, (3, 4)), np.array([12, -13]))   # wraps


def test_trapezoid_family():
    y, x = rand(3, 5), np.sort(rand(5, seed=1))
    check(lambda lib, a: lib.trapezoid(a), y)
    check(lambda lib, a, b: lib.trapezoid(a, b), y, x)
    check(lambda lib, a: lib.trapezoid(a, dx=0.5, dim=0), y)
    check(lambda lib, a: lib.trapz(a, dx=0.25), y)
    check(lambda lib, a, b: lib.trapz(a, b, dim=-1), y, x)
    check(lambda lib, a: lib.cumulative_trapezoid(a, dim=0), y)
    check(lambda lib, a, b: lib.cumulative_trapezoid(a, b), y, x)


@pytest.mark.parametrize("name,kw", [("hann_window", {}), ("hamming_window", {}),
                                     ("hamming_window", dict(alpha=0.5, beta=0.5)),
                                     ("bartlett_window", {}), ("blackman_window", {}),
                                     ("kaiser_window", {}), ("kaiser_window", dict(beta=5.0))])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 8])
@pytest.mark.parametrize("periodic", [True, False])
def test_windows(name, kw, n, periodic):
    for dt in ("float32", "float64"):
        check(lambda lib: getattr(lib, name)(n, periodic, dtype=getattr(lib, dt), **kw),
              atol=1e-6 if dt == "float32" else 1e-12)


@pytest.mark.parametrize("p", [2.0, 1.0, 0.0, 3.0, math.inf])
def test_cdist(p):
    check(lambda lib, a, b: lib.cdist(a, b, p=p), rand(2, 4, 3), rand(2, 5, 3, seed=1))
    check(lambda lib, a, b: lib.cdist(a, b, p=p), rand(4, 3), rand(5, 3, seed=1))


def test_vander():
    # (torch's own vander backward trips over its in-place cumprod: values only,
    # and Ember's gradient by gradcheck)
    check(lambda lib, a: lib.vander(a), rand(4), grad=False)
    check(lambda lib, a: lib.vander(a, N=3, increasing=True), rand(4), grad=False)
    check(lambda lib, a: lib.vander(a, 5), np.array([1, 2, 3]))
    check(lambda lib, a: lib.linalg.vander(a) if lib is torch else lib.vander(a, increasing=True),
          rand(3), grad=False)
    x = ember.tensor(rand(4), requires_grad=True)
    assert gradcheck(lambda v: ember.vander(v, 3), (x,))


def test_matrix_exp_and_householder_product():
    check(lambda lib, a: lib.matrix_exp(a), rand(2, 3, 3))
    check(lambda lib, a: lib.linalg.matrix_exp(a), rand(4, 4, low=-4, high=4))
    check(lambda lib, a: a.matrix_exp(), rand(3, 3, dtype=np.float32), atol=1e-5)
    check(lambda lib, a, t: lib.linalg.householder_product(a, t), rand(5, 3), rand(3, seed=1))
    check(lambda lib, a, t: a.orgqr(t), rand(2, 4, 4), rand(2, 2, seed=1))
    a = ember.tensor(rand(3, 3), requires_grad=True)
    assert gradcheck(ember.linalg.matrix_exp, (a,))
    for lib in (ember, torch):
        with pytest.raises(RuntimeError, match="must be greater than or equal"):
            lib.linalg.householder_product(lib.zeros(2, 3), lib.zeros(2))


def test_top_level_method_spellings():
    check(lambda lib, a: lib.neg_(a.clone()), rand(3))
    check(lambda lib, a: lib.square_(a.clone()), rand(3))
    check(lambda lib, a: lib.fill_(a.clone(), 2.5), rand(3))
    check(lambda lib, a: lib.fill(a, 1.5), rand(3))
    check(lambda lib, a: lib.detach(a), rand(3))
    check(lambda lib, a: lib.real(a), rand(3))
    check(lambda lib, a: lib.conj(a), rand(3))
    check(lambda lib, a: lib.split_with_sizes(a, [1, 2]), rand(3, 2))
    check(lambda lib, a: lib.unsafe_chunk(a, 2), rand(4, 2))
    check(lambda lib, a, b: lib.rsub(a, b, alpha=2), rand(3), rand(3, seed=1))
    check(lambda lib, a: lib.rsub(a, 3.0), rand(3))
    for lib in (ember, torch):
        assert lib.is_signed(lib.zeros(1)) and not lib.is_complex(lib.zeros(1))
        assert not lib.is_conj(lib.zeros(1)) and not lib.is_neg(lib.zeros(1))
        with pytest.raises(RuntimeError, match="imag is not implemented for tensors with "
                                               "non-complex dtypes"):
            lib.imag(lib.zeros(2))
    assert ember.pi == torch.pi and ember.e == torch.e and ember.inf == torch.inf
    assert math.isnan(ember.nan) and ember.newaxis is None


def test_top_level_functional_spellings():
    x, g = rand(1, 2, 4, 4), rand(1, 3, 3, 2, seed=1, low=-1.1, high=1.1)
    check(lambda lib, a, b: lib.grid_sampler(a, b, 0, 2, False), x, g)
    check(lambda lib, t: lib.affine_grid_generator(t, (1, 1, 3, 4), True), rand(1, 2, 3))
    lp = np.log(np.random.default_rng(0).dirichlet(np.ones(4), size=(6, 2)))
    for red in (0, 1, 2):
        check(lambda lib, a, t: lib.ctc_loss(a, t, [6, 5], [2, 2], 0, red), lp,
              np.array([[1, 2], [3, 3]]))
    check(lambda lib, a: lib.constant_pad_nd(a, (1, 2), 0.5), rand(2, 3))
    check(lambda lib, a: lib.max_pool3d(a, 2), rand(1, 1, 4, 4, 4))
    check(lambda lib, a: lib.adaptive_max_pool1d(a, 3), rand(1, 2, 7))
    check(lambda lib, v, g: lib._weight_norm(v, g, 0), rand(3, 4), rand(3, 1, seed=1))
    check(lambda lib, v: lib.norm_except_dim(v, 2, 1), rand(3, 4, 2))
    check(lambda lib, v: lib.norm_except_dim(v, 2, -1), rand(3, 4))
    e = ember.empty_strided((2, 3), (3, 1))
    assert e.shape == (2, 3)
    ember.set_float32_matmul_precision("high")
    assert ember.get_float32_matmul_precision() == "high"
    ember.set_float32_matmul_precision("highest")


def test_lp_pool3d_and_max_unpool3d():
    x = rand(2, 2, 4, 4, 4)
    check(lambda lib, a: lib.nn.functional.lp_pool3d(a, 2, 2), x)
    check(lambda lib, a: lib.nn.LPPool3d(3, (2, 1, 2), stride=1)(a.abs() + 0.1), x)

    def unpool(lib, a):
        out, idx = lib.nn.functional.max_pool3d(a, 2, return_indices=True)
        return lib.nn.MaxUnpool3d(2)(out, idx, output_size=(5, 5, 5))
    check(unpool, rand(1, 2, 5, 5, 5))
    check(lambda lib, a: lib.nn.functional.max_unpool3d(
        *lib.nn.functional.max_pool3d(a, (2, 1, 2), return_indices=True), (2, 1, 2)),
        rand(2, 3, 4, 3, 2))
    assert repr(ember.nn.MaxUnpool3d(2)) == repr(torch.nn.MaxUnpool3d(2))
    assert repr(ember.nn.LPPool3d(2, 3)) == repr(torch.nn.LPPool3d(2, 3))


def test_variable_and_autograd_extras():
    for lib in (ember, torch):
        from importlib import import_module
        Variable = import_module(lib.__name__ + ".autograd").Variable
        t = lib.ones(2)
        v = Variable(t, requires_grad=True)
        assert v is not t and v.requires_grad and not t.requires_grad and v.grad_fn is None
        assert isinstance(t, Variable) and not isinstance([1], Variable)
        assert not Variable(v * 2).requires_grad
        with pytest.raises(TypeError, match="Variable data has to be a tensor, but got list"):
            Variable([1, 2])
        with pytest.warns(UserWarning, match="volatile was removed"):
            Variable(t, volatile=True)
        with lib.autograd.set_multithreading_enabled(False):
            (v * v).sum().backward()
        assert v.grad.tolist() == [2.0, 2.0]


def test_replace_all_batch_norm_modules():
    for lib in (ember, torch):
        m = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.BatchNorm1d(3))
        lib.func.replace_all_batch_norm_modules_(m)
        bn = m[1]
        assert bn.running_mean is None and bn.running_var is None
        assert not bn.track_running_stats
        m.eval()
        assert tuple(m(lib.ones(4, 2)).shape) == (4, 3)


def test_adaptive_log_softmax_with_loss():
    torch.manual_seed(0)
    t = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 12, [3, 7], div_value=2.0, head_bias=True).double()
    e = ember.nn.AdaptiveLogSoftmaxWithLoss(8, 12, [3, 7], div_value=2.0, head_bias=True).double()
    assert list(e.state_dict()) == list(t.state_dict())
    assert repr(e) == repr(t)
    e.load_state_dict({k: v.numpy().copy() for k, v in t.state_dict().items()})
    mods = {ember: e, torch: t}
    target = np.array([0, 5, 11, 2, 7, 9])
    check(lambda lib, x, y: tuple(mods[lib](x, y)), rand(6, 8), target)
    check(lambda lib, x, y: tuple(mods[lib](x, y)), rand(8), np.array(9))
    check(lambda lib, x: mods[lib].log_prob(x), rand(5, 8))
    check(lambda lib, x: mods[lib].predict(x), rand(5, 8), grad=False)
    for lib in (ember, torch):
        with pytest.raises(ValueError, match="cutoffs should be a sequence of unique"):
            lib.nn.AdaptiveLogSoftmaxWithLoss(8, 12, [7, 3])
        with pytest.raises(RuntimeError, match=r"Target values should be in \[0, 11\]"):
            mods[lib](lib.zeros(2, 8, dtype=lib.float64), lib.tensor([1, 12]))
