"""The shortcuts token-by-token decoding takes (issue 20, kv_decode), each
checked against torch and against the arguments the general path refuses:

* ``view`` finds out after the reshape whether it had to copy (no trial
  reshape first): a view that would need a copy still raises torch's error,
  with and without grad;
* ``transpose`` remembers its axis order per (ndim, dim0, dim1) of int dims:
  dims out of range or of the wrong type still raise, each ndim gets its own;
* ``cat`` of one dtype calls concatenate without the cast arguments; mixed
  dtypes still promote;
* ``embedding`` leaves an index past the end to the lookup itself: every bad
  index still raises torch's IndexError, max_norm included;
* ``arange`` of Python ints goes straight to an int64 range;
* ``argmax``/``argmin`` along a dim use the array's method.
"""
import numpy as np
import pytest
import torch

import ember

from helpers import assert_close


def _both(fn):
    return fn(ember), fn(torch)


def _raise_alike(fn, exc):
    for lib in (ember, torch):
        with pytest.raises(exc):
            fn(lib)


@pytest.mark.parametrize("grad", [False, True])
def test_view_refuses_what_needs_a_copy(grad):
    def make(lib):
        return lib.arange(24.0).reshape(4, 6).requires_grad_(grad).t()
    _raise_alike(lambda lib: make(lib).view(24), RuntimeError)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        make(ember).view(24)
    # a view that works on a non-contiguous tensor shares its memory and version
    x = ember.arange(24.0).reshape(2, 3, 4).transpose(0, 1)
    v = x.view(3, 2, 2, 2)
    assert v._vc is x._vc
    assert_close(v, torch.arange(24.0).reshape(2, 3, 4).transpose(0, 1).view(3, 2, 2, 2))
    # one element or none: any view goes
    e, t = _both(lambda lib: lib.zeros(1, 1).t().view(1))
    assert tuple(e.shape) == tuple(t.shape)
    e, t = _both(lambda lib: lib.zeros(0, 3).t().view(0))
    assert tuple(e.shape) == tuple(t.shape)


def test_view_gradient_through_the_checked_path():
    res = {}
    for lib in (ember, torch):
        x = lib.arange(24.0).reshape(2, 3, 4).requires_grad_(True)
        y = x.transpose(0, 1).view(3, 2, 2, 2) * lib.arange(24.0).reshape(3, 2, 2, 2)
        y.sum().backward()
        res[lib] = x.grad
    assert_close(res[ember], res[torch])


def test_transpose_remembers_axes_per_ndim():
    for shape in [(2, 3), (2, 3, 4), (2, 3, 4, 5)]:
        for d0, d1 in [(0, 1), (1, 0), (-1, 0), (-2, -1)]:
            e, t = _both(lambda lib: lib.zeros(*shape).transpose(d0, d1))
            assert tuple(e.shape) == tuple(t.shape)
            # twice: the second call takes the remembered order
            assert tuple(ember.zeros(*shape).transpose(d0, d1).shape) == tuple(t.shape)
    _raise_alike(lambda lib: lib.zeros(2, 3).transpose(0, 2), IndexError)
    _raise_alike(lambda lib: lib.zeros(2, 3).transpose(0, 1.0), TypeError)
    e = ember.zeros(2, 3, 4).transpose(np.int64(1), 2)
    assert tuple(e.shape) == (2, 4, 3)


def test_cat_one_dtype_and_mixed():
    a, b = np.ones((2, 3, 2), np.float32), np.arange(6, dtype=np.float32).reshape(2, 3, 1)
    e, t = _both(lambda lib: lib.cat([lib.tensor(a), lib.tensor(b)], dim=2))
    assert_close(e, t)
    e, t = _both(lambda lib: lib.cat([lib.tensor(a), lib.tensor(b.astype(np.int64))], dim=-1))
    assert e.dtype == ember.float32 and t.dtype == torch.float32
    assert_close(e, t)
    e, t = _both(lambda lib: lib.cat([lib.tensor([1, 2]), lib.tensor([0.5])]))
    assert str(e.dtype) == "ember.float32" and t.dtype == torch.float32
    assert_close(e, t)


@pytest.mark.parametrize("bad", [[[1, 10]], [[-1, 2]], [[3, 11], [0, 0]]])
@pytest.mark.parametrize("max_norm", [None, 1.0])
def test_embedding_index_out_of_range(bad, max_norm):
    def run(lib):
        lib.manual_seed(0)
        lib.nn.Embedding(10, 3, max_norm=max_norm)(lib.tensor(bad))
    # (torch words it differently with max_norm, whose renorm fails first)
    _raise_alike(run, IndexError)
    with pytest.raises(IndexError, match="index out of range in self"):
        run(ember)


def test_embedding_in_range_matches_torch():
    w = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    idx = [[0, 9], [3, 3]]
    e, t = _both(lambda lib: lib.nn.functional.embedding(lib.tensor(idx), lib.tensor(w)))
    assert_close(e, t)


@pytest.mark.parametrize("args", [(3, 10), (10, 3, -2), (0, 0), (5, 5, -1), (0, 10, 3),
                                  (-5, 7, 4), (2 ** 40, 2 ** 40 + 3), (7,), (0, 3.5)])
def test_arange_matches_torch(args):
    e, t = _both(lambda lib: lib.arange(*args))
    assert e.tolist() == t.tolist()
    assert str(e.dtype).split(".")[1] == str(t.dtype).split(".")[1]


def test_arange_errors():
    _raise_alike(lambda lib: lib.arange(3, 10, -1), RuntimeError)
    _raise_alike(lambda lib: lib.arange(3, 10, 0), RuntimeError)
    _raise_alike(lambda lib: lib.arange(3, 10, requires_grad=True), RuntimeError)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("dim,keepdim", [(-1, True), (0, False), (1, True)])
def test_arg_extreme_along_a_dim(name, dim, keepdim):
    a = np.random.default_rng(1).standard_normal((4, 65)).astype(np.float32)
    a[2, 7] = np.nan                      # NaN wins, as torch's
    e, t = _both(lambda lib: getattr(lib.tensor(a), name)(dim=dim, keepdim=keepdim))
    assert e.dtype == ember.int64
    assert e.tolist() == t.tolist()
    e, t = _both(lambda lib: getattr(lib, name)(lib.tensor(3.0), dim=0))
    assert e.tolist() == t.tolist() and tuple(e.shape) == tuple(t.shape)


def test_cat_checks_in_one_pass_refuse_what_torch_refuses():
    _raise_alike(lambda lib: lib.cat([lib.zeros(2), 3]), TypeError)
    _raise_alike(lambda lib: lib.cat((lib.zeros(2), None)), TypeError)
    _raise_alike(lambda lib: lib.cat([lib.zeros(2), lib.tensor(1.0)]), RuntimeError)
    _raise_alike(lambda lib: lib.cat([]), (ValueError, RuntimeError))
    _raise_alike(lambda lib: lib.cat(lib.zeros(2, 2)), TypeError)
    _raise_alike(lambda lib: lib.cat([lib.zeros(2, 3), lib.zeros(2, 4)]), RuntimeError)
    with pytest.raises(TypeError, match="expected Tensor as element 1"):
        ember.cat([ember.zeros(2), 3])
    # only a list or tuple is taken, as torch's argument parser does: a generator is refused
    for fn in ("cat", "stack", "hstack", "vstack", "dstack", "column_stack"):
        _raise_alike(lambda lib: getattr(lib, fn)(x for x in [lib.ones(2), lib.ones(2)]), TypeError)
        with pytest.raises(TypeError, match=fn + r"\(\): argument 'tensors' .* not generator"):
            getattr(ember, fn)(x for x in [ember.ones(2)])
    # a tuple of tensors, and the legacy empty 1-D tensors skipped
    e, t = _both(lambda lib: lib.cat((lib.ones(2, 2), lib.zeros(1, 2))))
    assert_close(e, t)
    e, t = _both(lambda lib: lib.cat([lib.zeros(0), lib.ones(2, 2), lib.zeros(0)], dim=1))
    assert_close(e, t)
