"""Shape ops vs torch: values, dtypes, gradients (float64 and float32), views
sharing memory, gradcheck and double backward, error types and messages."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import ember
from helpers import check, rand, assert_close, shares_memory

F32 = np.float32


# ---- helpers --------------------------------------------------------------------------------

def _msg(s):
    return str(s).split("(Triggered")[0].strip().replace("torch.", "ember.")


def same_error(fn, *arrays):
    """fn raises the same exception type in both libraries, with torch's message."""
    es = [ember.tensor(a) for a in arrays]
    ts = [torch.from_numpy(np.array(a)) for a in arrays]
    with pytest.raises(Exception) as te:
        fn(torch, *ts)
    with pytest.raises(type(te.value)) as ee:
        fn(ember, *es)
    assert _msg(ee.value) == _msg(te.value)


def second_order(fn, *arrays, seed=0):
    """Compare d/dx <grad_x <fn(x), w1>, w2> for every input x between libraries."""
    res = []
    for lib in (ember, torch):
        rng = np.random.default_rng(seed)
        xs = [lib.tensor(a.copy(), requires_grad=True) for a in arrays]
        out = fn(lib, *xs)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        loss = sum((o * lib.tensor(rng.standard_normal(tuple(o.shape)))).sum() for o in outs)
        gs = lib.autograd.grad(loss, xs, create_graph=True, allow_unused=True)
        tot = 0
        for g in gs:
            if g is not None and g.requires_grad:
                tot = tot + (g * lib.tensor(rng.standard_normal(tuple(g.shape)))).sum()
        if not isinstance(tot, int):
            tot = tot + sum((o * 0).sum() for o in outs)  # keep every input in the graph
            gg = lib.autograd.grad(tot, xs, allow_unused=True)
        else:
            gg = [None] * len(xs)
        res.append([None if g is None else g.detach().cpu().numpy() for g in gs] +
                   [None if g is None else g.cpu().numpy() for g in gg])
    for e, t in zip(*res):
        if t is None or e is None:
            assert e is None or not np.any(e), "ember has a gradient torch lacks"
            assert t is None or not np.any(t), "torch has a gradient ember lacks"
            continue
        np.testing.assert_allclose(e, t, rtol=1e-8, atol=1e-10)


def gradchecks(fn, *arrays):
    xs = [ember.tensor(a.copy(), requires_grad=True) for a in arrays]
    assert ember.autograd.gradcheck(fn, xs)
    assert ember.autograd.gradgradcheck(fn, xs)


def shares(e, base):
    return shares_memory(e, base)


R = rand


# ---- reshape / view -------------------------------------------------------------------------

@pytest.mark.parametrize("dt", [np.float64, F32])
def test_reshape_view_flatten(dt):
    a = R(2, 3, 4, dtype=dt)
    check(lambda L, x: x.reshape(4, -1), a)
    check(lambda L, x: x.reshape((6, 4)), a)
    check(lambda L, x: L.reshape(x, [-1]), a)
    check(lambda L, x: x.view(2, 12), a)
    check(lambda L, x: x.view(-1, 3, 4), a)
    check(lambda L, x: x.flatten(), a)
    check(lambda L, x: x.flatten(1), a)
    check(lambda L, x: x.flatten(-2, -1), a)
    check(lambda L, x: x.flatten(0, 1), a)
    check(lambda L, x: x.unflatten(2, (2, 2)), a)
    check(lambda L, x: x.unflatten(-1, (-1, 2)), a)
    check(lambda L, x: x.ravel(), a)
    check(lambda L, x: x.transpose(0, 2).reshape(-1), a)  # non-contiguous: a copy
    check(lambda L, x: x.transpose(0, 1).ravel(), a)
    check(lambda L, x: x.view_as(L.zeros(24)), a)
    check(lambda L, x: x.reshape_as(L.zeros(4, 6)), a)


def test_reshape_0d_and_empty():
    check(lambda L, x: x.reshape(1, 1), np.array(2.0))
    check(lambda L, x: x.reshape(()), np.array([2.0]))
    check(lambda L, x: x.flatten(), np.array(2.0))
    check(lambda L, x: x.reshape(0, 5), np.zeros((5, 0)))
    check(lambda L, x: x.reshape(-1, 5), np.zeros((5, 0)))
    check(lambda L, x: x.view(3, 0, 2), np.zeros((0, 6)))


def test_reshape_errors():
    a = R(2, 3)
    same_error(lambda L, x: x.reshape(4, 2), a)
    same_error(lambda L, x: x.reshape(-1, 4), a)
    same_error(lambda L, x: x.reshape(-1, -1), a)
    same_error(lambda L, x: x.reshape(-2, 3), a)
    same_error(lambda L, x: x.view(5), a)
    same_error(lambda L, x: x.reshape(-1, 0), np.zeros((0, 3)))
    same_error(lambda L, x: x.flatten(1, 0), a)
    same_error(lambda L, x: x.unflatten(1, (2, 2)), a)
    same_error(lambda L, x: x.unflatten(1, ()), a)
    with pytest.raises(RuntimeError, match=r"shape '\[4, 2\]' is invalid for input of size 6"):
        ember.zeros(2, 3).reshape(4, 2)


def test_view_noncontiguous():
    a = R(2, 3, 4)
    same_error(lambda L, x: x.transpose(0, 1).view(3, 8), a)
    same_error(lambda L, x: x.t().view(6), R(2, 3))
    check(lambda L, x: x.transpose(0, 1).view(3, 2, 2, 2), a)  # splitting a dim is fine
    check(lambda L, x: x.t().view(3, 1, 2), R(2, 3))
    e = ember.tensor(a)
    v = e.transpose(0, 1).view(3, 2, 2, 2)
    assert shares(v, e)


def test_view_dtype():
    a = R(2, 4, dtype=F32)
    for dt in ("int32", "float16", "int64"):
        e = ember.tensor(a).view(getattr(ember, dt))
        t = torch.from_numpy(a.copy()).view(getattr(torch, dt))
        np.testing.assert_array_equal(e.cpu().numpy(), t.cpu().numpy())
    same_error(lambda L, x: x.view(L.int64), R(2, 3, dtype=F32))
    x = ember.tensor(a, requires_grad=True)
    v = x.view(ember.int32)
    assert not v.requires_grad and v.grad_fn is None
    assert shares(v, x)


def test_flatten_returns_self_when_nothing_to_do():
    x = ember.zeros(2, 3, 4)
    assert x.flatten(1, 1) is x
    y = ember.zeros(5)
    assert y.flatten() is y
    assert y.contiguous() is y


# ---- permute / transpose / movedim ----------------------------------------------------------

@pytest.mark.parametrize("dt", [np.float64, F32])
def test_permutes(dt):
    a = R(2, 3, 4, dtype=dt)
    check(lambda L, x: x.permute(2, 0, 1), a)
    check(lambda L, x: x.permute((1, -1, 0)), a)
    check(lambda L, x: x.transpose(0, -1), a)
    check(lambda L, x: L.swapaxes(x, 0, 1), a)
    check(lambda L, x: L.swapdims(x, -1, -2), a)
    check(lambda L, x: x.movedim(0, -1), a)
    check(lambda L, x: x.movedim((0, 1), (2, 0)), a)
    check(lambda L, x: L.moveaxis(x, -1, 0), a)
    check(lambda L, x: x.t(), R(2, 3, dtype=dt))
    check(lambda L, x: x.t(), R(3, dtype=dt))
    check(lambda L, x: x.T, R(3, 2, dtype=dt))
    check(lambda L, x: x.mT, a)
    check(lambda L, x: x.adjoint(), a)
    check(lambda L, x: x.transpose(0, -1), np.array(3.0))


def test_permute_errors():
    a = R(2, 3)
    same_error(lambda L, x: x.permute(0), a)
    same_error(lambda L, x: x.permute(0, 0), a)
    same_error(lambda L, x: x.permute(0, 2), a)
    same_error(lambda L, x: x.transpose(0, 3), R(2, 3, 4))
    same_error(lambda L, x: x.t(), R(2, 3, 4))
    same_error(lambda L, x: x.movedim((0, 1), (1, 1)), R(2, 3, 4))
    same_error(lambda L, x: x.movedim((0, 1), (1,)), R(2, 3, 4))


def test_t_of_vector_keeps_grad():
    x = ember.ones(3, requires_grad=True)
    y = x.t()
    assert y.requires_grad
    (y * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.cpu().numpy(), [2, 2, 2])


# ---- expand / squeeze / unsqueeze -----------------------------------------------------------

@pytest.mark.parametrize("dt", [np.float64, F32])
def test_expand_squeeze(dt):
    check(lambda L, x: x.expand(4, 2, 3), R(2, 1, dtype=dt).reshape(2, 1)[:, [0, 0, 0]])
    check(lambda L, x: x.expand(2, 3, 4), R(3, 1, dtype=dt))
    check(lambda L, x: x.expand(-1, 5), R(3, 1, dtype=dt))
    check(lambda L, x: x.expand_as(L.zeros(2, 3)), R(3, dtype=dt))
    check(lambda L, x: L.broadcast_to(x, (2, 3)), R(1, 3, dtype=dt))
    check(lambda L, x, y: L.broadcast_tensors(x, y), R(3, 1, dtype=dt), R(4, dtype=dt))
    b = R(2, 1, 3, 1, dtype=dt)
    check(lambda L, x: x.squeeze(), b)
    check(lambda L, x: x.squeeze(1), b)
    check(lambda L, x: x.squeeze(0), b)  # not size 1: unchanged
    check(lambda L, x: x.squeeze((1, 3)), b)
    check(lambda L, x: x.squeeze((0, -1)), b)
    check(lambda L, x: L.squeeze(x, -3), b)
    check(lambda L, x: x.unsqueeze(0), R(2, 3, dtype=dt))
    check(lambda L, x: x.unsqueeze(-1), R(2, 3, dtype=dt))
    check(lambda L, x: x.unsqueeze(1), R(2, 3, dtype=dt).T)
    check(lambda L, x: x.unsqueeze(0), np.array(1.0, dtype=dt))
    check(lambda L, x: x.squeeze(0), np.array(1.0, dtype=dt))
    check(lambda L, x: x.squeeze(-1), np.array(1.0, dtype=dt))
    e = ember.zeros(2, 3)
    v = e.expand(1, 2, 3)  # nothing actually broadcast: writable, like torch
    v.add_(1)
    assert e.cpu().numpy().sum() == 6
    assert ember.broadcast_shapes((3, 1), (4,), 1) == torch.broadcast_shapes((3, 1), (4,), 1)


def test_expand_squeeze_errors():
    same_error(lambda L, x: x.expand(3, 3), R(2, 3))
    same_error(lambda L, x: x.expand(3), R(2, 3))
    same_error(lambda L, x: x.expand(-1, 2, 3), R(2, 3))
    same_error(lambda L, x: x.squeeze((1, 1)), R(2, 1, 3, 1))
    same_error(lambda L, x: x.squeeze(4), R(2, 1, 3, 1))
    same_error(lambda L, x: x.squeeze(1), np.array(1.0))
    same_error(lambda L, x: x.unsqueeze(1), np.array(1.0))
    same_error(lambda L, x: x.unsqueeze(-4), R(2, 3))


def test_contiguous_clone():
    a = R(3, 4)
    check(lambda L, x: x.t().contiguous(), a)
    check(lambda L, x: x.clone(), a)
    e = ember.tensor(a)
    c = e.t().contiguous()
    assert c.is_contiguous() and not shares(c, e)
    assert not shares(e.clone(), e)


# ---- views share memory ---------------------------------------------------------------------

def test_views_share_memory_and_version():
    base = np.arange(24.0).reshape(4, 6)
    cases = [
        ("narrow", lambda L, x: x.narrow(1, 2, 3)),
        ("select", lambda L, x: x.select(0, 1)),
        ("diagonal", lambda L, x: x.diagonal(1)),
        ("unbind", lambda L, x: x.unbind(1)[2]),
        ("split", lambda L, x: x.split(2)[1]),
        ("chunk", lambda L, x: x.chunk(3, 1)[1]),
        ("tensor_split", lambda L, x: L.tensor_split(x, [1, 3], 1)[1]),
        ("transpose", lambda L, x: x.transpose(0, 1)),
        ("permute", lambda L, x: x.permute(1, 0)),
        ("squeeze", lambda L, x: x.unsqueeze(0).squeeze(0)),
        ("unsqueeze", lambda L, x: x.unsqueeze(1)),
        ("view", lambda L, x: x.view(2, 12)),
        ("reshape", lambda L, x: x.reshape(3, 8)),
        ("flatten", lambda L, x: x.flatten()),
        ("t", lambda L, x: x.t()),
        ("movedim", lambda L, x: x.movedim(0, 1)),
        ("select of diagonal", lambda L, x: x.t().diagonal()[1:]),
        ("atleast_3d", lambda L, x: L.atleast_3d(x)),
    ]
    for name, f in cases:
        e = ember.tensor(base.copy())
        t = torch.from_numpy(base.copy())
        ve, vt = f(ember, e), f(torch, t)
        assert shares(ve, e), name
        ve.mul_(10).add_(1)
        vt.mul_(10).add_(1)
        np.testing.assert_array_equal(e.cpu().numpy(), t.cpu().numpy(), err_msg=name)
        assert e._version == ve._version == 2, name
        assert ve._base is e, name


def test_writes_through_split_parts_and_diagonal():
    m = ember.zeros(3, 3)
    m.diagonal().fill_(1)
    np.testing.assert_array_equal(m.cpu().numpy(), np.eye(3))
    p = ember.zeros(4, 2)
    p.split(3)[1].fill_(5)
    assert p.cpu().numpy()[3].tolist() == [5, 5] and p.cpu().numpy()[:3].sum() == 0
    q = ember.zeros(3, 3)
    for row in q.unbind(1)[:1]:
        row.add_(2)
    np.testing.assert_array_equal(q.cpu().numpy()[:, 0], [2, 2, 2])
    r = ember.zeros(4, 3)
    for i, row in enumerate(r):  # iteration unbinds into views
        row.fill_(i)
    np.testing.assert_array_equal(r.cpu().numpy()[:, 0], [0, 1, 2, 3])


def test_copies_do_not_share():
    e = ember.arange(12.0).reshape(3, 4)
    for f in (lambda x: x.flip(0), lambda x: x.roll(1), lambda x: x.repeat(1, 1),
              lambda x: ember.cat([x]), lambda x: ember.diag(x), lambda x: x.tril(),
              lambda x: x.rot90(), lambda x: x.tile(1)):
        assert not shares(f(e), e)


def test_view_inplace_with_autograd():
    a = ember.tensor(R(3, 4), requires_grad=True)
    ta = torch.from_numpy(a.detach().cpu().numpy().copy()).requires_grad_(True)
    outs = []
    for L, x in ((ember, a), (torch, ta)):
        y = x * 2
        y.narrow(1, 1, 2).mul_(3)
        y.diagonal().add_(1)
        (y * y).sum().backward()
        outs.append(x.grad.cpu().numpy())
    np.testing.assert_allclose(outs[0], outs[1])


# ---- narrow / select / split / chunk / unbind -----------------------------------------------

@pytest.mark.parametrize("dt", [np.float64, F32])
def test_slicing_views(dt):
    a = R(5, 4, dtype=dt)
    check(lambda L, x: x.narrow(0, 1, 3), a)
    check(lambda L, x: x.narrow(-1, -2, 2), a)
    check(lambda L, x: L.narrow(x, 1, L.tensor(1), 2), a)
    check(lambda L, x: x.narrow(0, 5, 0), a)
    check(lambda L, x: x.select(0, 2), a)
    check(lambda L, x: x.select(-1, -1), a)
    check(lambda L, x: x.select(0, 1), R(3, dtype=dt))
    check(lambda L, x: x.t().select(0, 1), a)
    check(lambda L, x: x.split(2), a)
    check(lambda L, x: x.split(2, 1), a)
    check(lambda L, x: x.split([1, 0, 4]), a)
    check(lambda L, x: L.split(x, [3, 1], dim=-1), a)
    check(lambda L, x: x.split(10), a)
    check(lambda L, x: x.chunk(3), a)
    check(lambda L, x: x.chunk(2, -1), a)
    check(lambda L, x: x.chunk(7), a)
    check(lambda L, x: L.chunk(x, 3, 1), R(6, 0, dtype=dt))
    check(lambda L, x: x.unbind(), a)
    check(lambda L, x: x.unbind(1), a)
    check(lambda L, x: L.unbind(x, -1), a.T)
    check(lambda L, x: L.tensor_split(x, 3), a)
    check(lambda L, x: L.tensor_split(x, [1, 3], 1), a)
    check(lambda L, x: L.tensor_split(x, [4, 1]), a)     # overlapping / empty pieces
    check(lambda L, x: L.tensor_split(x, [-2, 9]), a)
    check(lambda L, x: x.tensor_split(L.tensor([1, 3])), a)
    check(lambda L, x: x.tensor_split(L.tensor(2)), a)
    check(lambda L, x: L.hsplit(x, 2), a)
    check(lambda L, x: L.vsplit(x, [2]), a)
    check(lambda L, x: L.dsplit(x, 2), R(2, 2, 4, dtype=dt))
    check(lambda L, x: L.hsplit(x, [3]), R(5, dtype=dt))


def test_split_only_some_parts_used():
    # unused outputs of a multi-output node get zero gradients
    check(lambda L, x: x.split(2)[1] * 3, R(5, 4))
    check(lambda L, x: x.unbind(1)[0] + x.unbind(1)[2], R(5, 4))
    check(lambda L, x: x.chunk(3)[2] ** 2, R(6, 2))


def test_slicing_errors():
    a = R(5, 2)
    same_error(lambda L, x: x.narrow(0, 3, 3), a)
    same_error(lambda L, x: x.narrow(0, -6, 2), a)
    same_error(lambda L, x: x.narrow(0, 2, -1), a)
    same_error(lambda L, x: x.narrow(0, 0, 1), np.array(1.0))
    same_error(lambda L, x: x.select(0, 5), a)
    same_error(lambda L, x: x.select(0, -6), a)
    same_error(lambda L, x: x.select(2, 0), a)
    same_error(lambda L, x: x.select(0, 0), np.array(1.0))
    same_error(lambda L, x: x.split([2, 2]), a)
    same_error(lambda L, x: x.split(0), a)
    same_error(lambda L, x: x.split(-1), a)
    same_error(lambda L, x: x.split(1), np.array(1.0))
    same_error(lambda L, x: x.chunk(0), a)
    same_error(lambda L, x: x.unbind(2), a)
    same_error(lambda L, x: x.unbind(), np.array(1.0))
    same_error(lambda L, x: L.tensor_split(x, 0), a)
    same_error(lambda L, x: L.hsplit(x, 4), R(4, 6))
    same_error(lambda L, x: L.dsplit(x, 2), R(4, 6))


# ---- cat / stack ----------------------------------------------------------------------------

@pytest.mark.parametrize("dt", [np.float64, F32])
def test_cat_stack(dt):
    a, b, c = R(2, 3, dtype=dt), R(4, 3, dtype=dt, seed=1), R(2, 5, dtype=dt, seed=2)
    check(lambda L, x, y: L.cat([x, y]), a, b)
    check(lambda L, x, y: L.cat((x, y), -2), a, b)
    check(lambda L, x, y: L.cat([x, y, x], dim=1), a, c)
    check(lambda L, x, y: L.concat([x, y.t()], 1), a, R(3, 2, dtype=dt))  # non-contiguous
    check(lambda L, x, y: L.concatenate([x, y], axis=0) if L is torch else L.concatenate([x, y], 0),
          a, b)
    check(lambda L, x: L.cat([x]), a)
    check(lambda L, x, y: L.cat([x, y]), R(0, 3, dtype=dt), a)
    check(lambda L, x, y: L.stack([x, y]), a, a * 2)
    check(lambda L, x, y: L.stack([x, y], 1), a, a * 2)
    check(lambda L, x, y: L.stack([x, y], -1), a, a * 2)
    check(lambda L, x, y: L.stack((x, y, x), 2), a, a * 2)
    check(lambda L, x, y: L.stack([x, y]), np.array(1.0, dtype=dt), np.array(2.0, dtype=dt))
    check(lambda L, x, y: L.hstack([x, y]), a, c)
    check(lambda L, x, y: L.hstack([x, y]), R(3, dtype=dt), R(2, dtype=dt))
    check(lambda L, x, y: L.vstack([x, y]), a, b)
    check(lambda L, x, y: L.vstack([x, y]), R(3, dtype=dt), R(3, dtype=dt))
    check(lambda L, x, y: L.row_stack([x, y]), R(3, dtype=dt), a)
    check(lambda L, x, y: L.dstack([x, y]), a, a)
    check(lambda L, x, y: L.dstack([x, y]), np.array(1.0, dtype=dt), np.array(2.0, dtype=dt))
    check(lambda L, x, y: L.column_stack([x, y]), R(3, dtype=dt), R(3, 2, dtype=dt))
    check(lambda L, x, y: L.column_stack([x, y]), np.array(1.0, dtype=dt), R(1, 2, dtype=dt))


def test_cat_type_promotion_and_legacy_empty():
    f64 = R(2, 3)
    i64 = np.arange(6).reshape(2, 3)
    f32 = R(2, 3, dtype=F32)
    check(lambda L, x, y: L.cat([x, y]), f32, i64)
    check(lambda L, x, y: L.cat([x, y], 1), f32, f64)
    check(lambda L, x, y: L.stack([x, y]), i64, f32)
    check(lambda L, x, y: L.cat([x, y]), np.ones((2, 3), bool), np.ones((2, 3), np.int8))
    check(lambda L, x, y: L.cat([x, y]), np.ones((2, 3), np.uint8), np.ones((2, 3), np.int8))
    check(lambda L, x, y: L.cat([x, y]), np.ones((2, 3), np.float16), i64)
    # an empty 1-D tensor is skipped (torch's legacy rule) but still promotes
    check(lambda L, x, y: L.cat([x, y], 1), f32, np.zeros(0))
    check(lambda L, x, y: L.cat([y, x, y], 0), f32, np.zeros(0, F32))
    check(lambda L, x, y: L.cat([x, y]), np.zeros(0), np.zeros(0, np.int64))
    check(lambda L, x, y: L.cat([x, y]), R(3), np.zeros(0))


def test_cat_out():
    out_e, out_t = ember.empty(0), torch.empty(0)
    a = R(2, 2, dtype=F32)
    ember.cat([ember.tensor(a), ember.tensor(a)], out=out_e)
    torch.cat([torch.from_numpy(a), torch.from_numpy(a)], out=out_t)
    assert_close(out_e, out_t)


def test_cat_stack_errors():
    a = R(2, 3)
    same_error(lambda L, x: L.cat([x, L.zeros(2, 4, dtype=x.dtype)]), a)
    same_error(lambda L, x: L.cat([x, L.zeros(3, 4, dtype=x.dtype)], -1), a)
    same_error(lambda L, x: L.cat([x, L.zeros(2, 4, 1, dtype=x.dtype)]), a)
    same_error(lambda L, x: L.cat([x, L.zeros(3, dtype=x.dtype)], 1), a)
    same_error(lambda L, x: L.cat([x, x], 2), a)
    same_error(lambda L, x: L.cat([x, x], -3), a)
    same_error(lambda L, x: L.cat([]), a)
    same_error(lambda L, x: L.cat([x[0, 0], x[0, 1]]), a)
    same_error(lambda L, x: L.cat(x), a)
    same_error(lambda L, x: L.cat([x, 3]), a)
    same_error(lambda L, x: L.stack([x, L.zeros(2, 4, dtype=x.dtype)]), a)
    same_error(lambda L, x: L.stack([x, x], 3), a)
    same_error(lambda L, x: L.stack([]), a)
    with pytest.raises(RuntimeError, match="Expected size 3 but got size 4 for tensor number 1"):
        ember.cat([ember.zeros(2, 3), ember.zeros(2, 4)])


# ---- flip / roll / rot90 --------------------------------------------------------------------

@pytest.mark.parametrize("dt", [np.float64, F32])
def test_flip_roll_rot90(dt):
    a = R(3, 4, 2, dtype=dt)
    check(lambda L, x: x.flip(0), a)
    check(lambda L, x: x.flip((0, -1)), a)
    check(lambda L, x: L.flip(x, [1, 2]), a)
    check(lambda L, x: x.flip(()), a)
    check(lambda L, x: x.transpose(0, 2).flip(1), a)
    check(lambda L, x: L.fliplr(x), a)
    check(lambda L, x: L.flipud(x), a)
    check(lambda L, x: x.flip((0,)), np.array(2.0, dtype=dt))
    check(lambda L, x: x.roll(1), a)
    check(lambda L, x: x.roll(-5), a)
    check(lambda L, x: x.roll(2, 1), a)
    check(lambda L, x: x.roll((1, -3), (0, -1)), a)
    check(lambda L, x: L.roll(x, shifts=(1, 1), dims=(1, 1)), a)
    check(lambda L, x: x.roll(1, 0), R(0, 2, dtype=dt))
    check(lambda L, x: x.roll(1), np.array(2.0, dtype=dt))
    check(lambda L, x: x.rot90(), a)
    check(lambda L, x: x.rot90(2, (1, 2)), a)
    check(lambda L, x: L.rot90(x, -1, [2, 0]), a)
    check(lambda L, x: L.rot90(x, 7, [0, 1]), a)


def test_flip_roll_errors():
    same_error(lambda L, x: x.flip((0, 0)), R(5, 2))
    same_error(lambda L, x: L.fliplr(x), R(5))
    same_error(lambda L, x: L.flipud(x), np.array(1.0))
    same_error(lambda L, x: x.roll(1, (0, 1)), R(5, 2))
    same_error(lambda L, x: x.roll((1, 2), 0), R(5, 2))
    same_error(lambda L, x: x.roll((1, 2)), R(5, 2))
    same_error(lambda L, x: x.roll(1, 0), np.array(1.0))
    same_error(lambda L, x: x.rot90(1, (0, 0)), R(5, 2))
    same_error(lambda L, x: x.rot90(1), R(5))
    same_error(lambda L, x: x.rot90(1, (0, 1, 2)), R(5, 2, 3))


# ---- repeat / repeat_interleave / tile ------------------------------------------------------

@pytest.mark.parametrize("dt", [np.float64, F32])
def test_repeat_tile(dt):
    a = R(2, 3, dtype=dt)
    check(lambda L, x: x.repeat(2, 3), a)
    check(lambda L, x: x.repeat((2, 1, 2)), a)
    check(lambda L, x: x.repeat(1, 1), a)
    check(lambda L, x: x.repeat(0, 2), a)
    check(lambda L, x: x.t().repeat(2, 2), a)
    check(lambda L, x: x.repeat(()), np.array(2.0, dtype=dt))
    check(lambda L, x: x.repeat(3), np.array(2.0, dtype=dt))
    check(lambda L, x: x.tile((2,)), a)
    check(lambda L, x: L.tile(x, (2, 1, 1)), a)
    check(lambda L, x: x.tile(2, 2), a)
    check(lambda L, x: x.tile(()), a)


@pytest.mark.parametrize("dt", [np.float64, F32])
def test_repeat_interleave(dt):
    a = R(2, 3, dtype=dt)
    check(lambda L, x: x.repeat_interleave(2), a)
    check(lambda L, x: x.repeat_interleave(2, 1), a)
    check(lambda L, x: L.repeat_interleave(x, 3, dim=-2), a)
    check(lambda L, x: x.repeat_interleave(L.tensor([1, 2]), 0), a)
    check(lambda L, x: x.repeat_interleave(L.tensor([0, 3, 1]), 1), a)
    check(lambda L, x: x.repeat_interleave(L.tensor([2, 0, 0]), 1), a)
    check(lambda L, x: x.repeat_interleave(L.tensor([2]), 0), a)
    check(lambda L, x: x.repeat_interleave(L.tensor(2), 1), a)
    check(lambda L, x: x.repeat_interleave(L.tensor([1, 0, 2, 1, 1, 3])), a)
    check(lambda L, x: x.repeat_interleave(0, 1), a)
    check(lambda L, x: x.repeat_interleave(2), np.array(3.0, dtype=dt))
    check(lambda L, x: x.t().repeat_interleave(2, 0), a)
    check(lambda L, x: L.repeat_interleave(x), np.array([1, 0, 3]))


def test_repeat_errors():
    a = R(2, 3)
    same_error(lambda L, x: x.repeat(2), a)
    same_error(lambda L, x: x.repeat(2, -1), a)
    same_error(lambda L, x: x.tile((-1,)), a)
    same_error(lambda L, x: x.repeat_interleave(L.tensor([1, 2]), 1), a)
    same_error(lambda L, x: x.repeat_interleave(L.tensor([1, -2]), 0), a)
    same_error(lambda L, x: x.repeat_interleave(L.tensor([[2]]), 0), a)
    same_error(lambda L, x: x.repeat_interleave(L.tensor([1.0, 2.0]), 0), a)
    same_error(lambda L, x: x.repeat_interleave(-1), a)


# ---- triangles and diagonals ----------------------------------------------------------------

@pytest.mark.parametrize("dt", [np.float64, F32])
def test_tril_triu_diag(dt):
    a = R(3, 4, dtype=dt)
    b = R(2, 3, 4, dtype=dt)
    for k in (-5, -1, 0, 2, 7):
        check(lambda L, x: x.tril(k), a)
        check(lambda L, x: L.triu(x, diagonal=k), b)
        check(lambda L, x: L.diag(x, k), a)
        check(lambda L, x: L.diag(x, k), R(3, dtype=dt))
        check(lambda L, x: x.diagonal(k), a)
        check(lambda L, x: L.diag_embed(x, k), a)
    check(lambda L, x: x.t().tril(), a)
    check(lambda L, x: x.tril(), np.ones((3, 3), bool))
    check(lambda L, x: x.triu(1), np.arange(9).reshape(3, 3))
    check(lambda L, x: x.diagonal(1, 0, 2), b)
    check(lambda L, x: x.diagonal(-1, 2, 0), b)
    check(lambda L, x: L.diagonal(x, 0, -1, -2), b)
    check(lambda L, x: x.t().diagonal(), a)
    check(lambda L, x: L.diag_embed(x, -1, 0, 2), a)
    check(lambda L, x: L.diag_embed(x, 1, 2, 0), a)
    check(lambda L, x: L.diag_embed(x), R(4, dtype=dt))
    check(lambda L, x: L.diag(x), R(0, dtype=dt))


def test_tril_diag_errors():
    same_error(lambda L, x: L.tril(x), R(3))
    same_error(lambda L, x: L.triu(x), R(3))
    same_error(lambda L, x: L.diag(x), R(3, 4, 5))
    same_error(lambda L, x: L.diag(x), np.array(1.0))
    same_error(lambda L, x: x.diagonal(1, 0, 0), R(3, 4, 5))
    same_error(lambda L, x: x.diagonal(), R(3))
    same_error(lambda L, x: L.diag_embed(x, -1, 0, 3), R(3, 4))
    same_error(lambda L, x: L.diag_embed(x, -1, 1, 1), R(3, 4))
    same_error(lambda L, x: L.diag_embed(x), np.array(1.0))


def test_inplace_tril_triu():
    for L in (ember, torch):
        x = L.ones(3, 3)
        x.tril_(-1)
        assert x.sum().item() == 3
        x = L.ones(3, 3)
        x.triu_()
        assert x.sum().item() == 6


# ---- meshgrid / atleast ---------------------------------------------------------------------

@pytest.mark.parametrize("dt", [np.float64, F32])
def test_meshgrid(dt):
    a, b, c = R(3, dtype=dt), R(4, dtype=dt, seed=1), R(2, dtype=dt, seed=2)
    check(lambda L, x, y: L.meshgrid(x, y, indexing="ij"), a, b)
    check(lambda L, x, y: L.meshgrid(x, y, indexing="xy"), a, b)
    check(lambda L, x, y, z: L.meshgrid([x, y, z], indexing="xy"), a, b, c)
    check(lambda L, x, y, z: L.meshgrid(x, y, z, indexing="ij"), a, b, c)
    check(lambda L, x, y: L.meshgrid(x, y, indexing="ij"), a, np.array(2.0, dtype=dt))
    check(lambda L, x: L.meshgrid(x, indexing="xy"), a)
    with pytest.warns(UserWarning, match="indexing"):
        ember.meshgrid(ember.zeros(2), ember.zeros(3))
    x = ember.tensor(a)
    g = ember.meshgrid(x, ember.zeros(2, dtype=x.dtype), indexing="ij")
    assert shares(g[0], x) and g[0]._base is x


def test_meshgrid_errors():
    with pytest.raises(RuntimeError, match="Expected 0D or 1D tensor in the tensor list"):
        ember.meshgrid(ember.zeros(3), ember.zeros(4, 2), indexing="ij")
    same_error(lambda L, x: L.meshgrid(x, x.double(), indexing="ij"), R(3, dtype=F32))
    same_error(lambda L, x: L.meshgrid(x, indexing="foo"), R(3))
    same_error(lambda L, x: L.meshgrid(indexing="ij"), R(3))


def test_atleast():
    for fn in ("atleast_1d", "atleast_2d", "atleast_3d"):
        for shape in ((), (3,), (2, 3), (2, 3, 4), (1, 2, 3, 1)):
            check(lambda L, x: getattr(L, fn)(x), R(*shape))
        check(lambda L, x, y: getattr(L, fn)(x, y), np.array(1.0), R(2))
        check(lambda L, x, y: getattr(L, fn)([x, y]), np.array(1.0), R(2, 3))
        check(lambda L, x: getattr(L, fn)((x,)), np.array(1.0))
    x = ember.zeros(2, 3, 4)
    assert ember.atleast_1d(x) is x and ember.atleast_3d(x) is x


# ---- grad_fn names (cosmetic, but torch users print them) -----------------------------------

def test_grad_fn_names():
    a = ember.zeros(2, 3, requires_grad=True)
    names = {
        "ViewBackward0": a.reshape(3, 2), "PermuteBackward0": a.permute(1, 0),
        "SelectBackward0": a.select(0, 1), "SliceBackward0": a.narrow(1, 0, 2),
        "SplitBackward0": a.split(1)[0], "UnbindBackward0": a.unbind()[0],
        "CatBackward0": ember.cat([a, a]), "StackBackward0": ember.stack([a, a]),
        "FlipBackward0": a.flip(0), "RollBackward0": a.roll(1),
        "RepeatBackward0": a.repeat(2, 2), "TrilBackward0": a.tril(),
        "DiagonalBackward0": a.diagonal(), "DiagEmbedBackward0": ember.diag_embed(a),
        "ExpandBackward0": a.expand(2, 2, 3), "SqueezeBackward0": a.squeeze(),
        "UnsqueezeBackward0": a.unsqueeze(0),
    }
    for n, t in names.items():
        assert t.grad_fn.name() == n


def test_transpose_family_grad_fn_names_match_torch():
    """transpose/swapdims/mT/adjoint are TransposeBackward0, t() TBackward0,
    permute/movedim/.T PermuteBackward0, as torch names them."""
    import torch
    forms = [lambda L, m, b: m.transpose(0, 1), lambda L, m, b: m.swapdims(0, 1),
             lambda L, m, b: m.swapaxes(1, 0), lambda L, m, b: m.mT, lambda L, m, b: b.mT,
             lambda L, m, b: m.adjoint(), lambda L, m, b: L.transpose(b, 0, 2),
             lambda L, m, b: m.t(), lambda L, m, b: L.t(m), lambda L, m, b: m[0].t(),
             lambda L, m, b: m.T, lambda L, m, b: m.permute(1, 0), lambda L, m, b: b.movedim(0, 2)]
    for f in forms:
        got = []
        for L in (ember, torch):
            m = L.zeros(2, 3, requires_grad=True)
            b = L.zeros(2, 3, 4, requires_grad=True)
            got.append(f(L, m, b).grad_fn.name())
        assert got[0] == got[1]
    x = ember.arange(6.0).reshape(2, 3).requires_grad_()
    (x.t() * ember.arange(2.0)).sum().backward()
    assert x.grad.tolist() == [[0.0] * 3, [1.0] * 3]


# ---- gradcheck and double backward ----------------------------------------------------------

SECOND_ORDER = [
    ("reshape", lambda L, x: (x.reshape(6, 2) ** 2), (3, 4)),
    ("permute", lambda L, x: x.permute(1, 0) ** 3, (3, 4)),
    ("expand", lambda L, x: x.expand(2, 3, 4) ** 2, (3, 1)),
    ("squeeze", lambda L, x: x.unsqueeze(1).squeeze() ** 2, (3, 4)),
    ("narrow", lambda L, x: x.narrow(1, 1, 2) ** 2, (3, 4)),
    ("select", lambda L, x: x.select(1, 2) ** 3, (3, 4)),
    ("split", lambda L, x: x.split(1)[1] ** 2 * x.split(1)[2], (3, 4)),
    ("tensor_split", lambda L, x: L.tensor_split(x, [3, 1])[2] ** 2, (4, 2)),
    ("chunk", lambda L, x: L.stack(x.chunk(2, 1)) ** 2, (3, 4)),
    ("unbind", lambda L, x: x.unbind(1)[0] ** 2 * x.unbind(1)[3], (3, 4)),
    ("cat", lambda L, x: L.cat([x, x ** 2], 1) ** 2, (3, 4)),
    ("stack", lambda L, x: L.stack([x, x * x], -1) ** 2, (3, 4)),
    ("flip", lambda L, x: x.flip(0, 1) * x, (3, 4)),
    ("roll", lambda L, x: x.roll((1, 2), (0, 1)) * x, (3, 4)),
    ("roll flat", lambda L, x: x.roll(5) * x, (3, 4)),
    ("rot90", lambda L, x: x.rot90(1) ** 2, (3, 4)),
    ("repeat", lambda L, x: x.repeat(2, 1, 2) ** 2, (3, 4)),
    ("tile", lambda L, x: x.tile(2) ** 2, (3, 4)),
    ("repeat_interleave", lambda L, x: x.repeat_interleave(2, 1) ** 2, (3, 4)),
    ("repeat_interleave t", lambda L, x: x.repeat_interleave(L.tensor([2, 0, 1]), 0) ** 2, (3, 4)),
    ("tril", lambda L, x: x.tril(1) ** 2, (3, 4)),
    ("triu", lambda L, x: x.triu(-1) ** 2, (3, 4)),
    ("diagonal", lambda L, x: x.diagonal(1) ** 3, (3, 4)),
    ("diag", lambda L, x: L.diag(x) ** 2, (4,)),
    ("diag 2d", lambda L, x: L.diag(x, -1) ** 2, (3, 4)),
    ("diag_embed", lambda L, x: L.diag_embed(x, 1) ** 2, (3, 4)),
    ("meshgrid", lambda L, x: L.meshgrid(x, x * x, indexing="xy")[1] ** 2, (3,)),
    ("hstack", lambda L, x: L.hstack([x, x ** 2]) ** 2, (3, 4)),
]


@pytest.mark.parametrize("name,fn,shape", SECOND_ORDER, ids=[s[0] for s in SECOND_ORDER])
def test_double_backward_vs_torch(name, fn, shape):
    second_order(fn, R(*shape))


@pytest.mark.parametrize("name,fn,shape", SECOND_ORDER[::3], ids=[s[0] for s in SECOND_ORDER[::3]])
def test_gradcheck(name, fn, shape):
    gradchecks(lambda x: fn(ember, x), R(*shape))


def test_gradcheck_cat_multiple_inputs():
    gradchecks(lambda x, y: ember.cat([x, y], 1) ** 2, R(2, 3), R(2, 2, seed=1))
    gradchecks(lambda x, y: ember.stack([x, y]) ** 2, R(2, 3), R(2, 3, seed=1))


# ---- property tests -------------------------------------------------------------------------

shapes = st.lists(st.integers(0, 4), min_size=1, max_size=3)


@settings(max_examples=25, deadline=None)
@given(shapes, st.integers(1, 3), st.data())
def test_cat_split_roundtrip(shape, n, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    parts = []
    for i, s in enumerate(sizes):
        sh = list(shape)
        sh[dim] = s
        parts.append(ember.tensor(rand(*sh, seed=i)))
    whole = ember.cat(parts, dim)
    back = whole.split(sizes, dim)
    assert len(back) == n
    for p, b in zip(parts, back):
        np.testing.assert_array_equal(p.cpu().numpy(), b.cpu().numpy())
    ref = torch.cat([torch.from_numpy(p.cpu().numpy()) for p in parts], dim)
    np.testing.assert_array_equal(whole.cpu().numpy(), ref.cpu().numpy())


@settings(max_examples=25, deadline=None)
@given(shapes, st.integers(1, 3), st.data())
def test_stack_unbind_chunk_roundtrip(shape, n, data):
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    parts = [ember.tensor(rand(*shape, seed=i)) for i in range(n)]
    s = ember.stack(parts, dim)
    for p, b in zip(parts, s.unbind(dim)):
        np.testing.assert_array_equal(p.cpu().numpy(), b.cpu().numpy())
    k = data.draw(st.integers(1, 4))
    d2 = data.draw(st.integers(0, len(shape) - 1))
    chunks = s.chunk(k, d2)
    tch = torch.from_numpy(s.cpu().numpy()).chunk(k, d2)
    assert [c.shape for c in chunks] == [tuple(c.shape) for c in tch]
    np.testing.assert_array_equal(ember.cat(chunks, d2).cpu().numpy(), s.cpu().numpy())


def test_inplace_view_ops():
    for L in (ember, torch):
        x = L.ones(2, 1, 3)
        assert x.squeeze_(1) is x and tuple(x.shape) == (2, 3)
        x.unsqueeze_(0)
        assert tuple(x.shape) == (1, 2, 3)
        x.transpose_(0, 2)
        assert tuple(x.shape) == (3, 2, 1)
        y = L.ones(2, 3)
        y.t_()
        assert tuple(y.shape) == (3, 2) and not y.is_contiguous()
    e, t = ember.ones(2, 3, requires_grad=True), torch.ones(2, 3, requires_grad=True)
    for L, x in ((ember, e), (torch, t)):
        with pytest.raises(RuntimeError, match="leaf Variable"):
            x.unsqueeze_(0)
        y = x * 2
        y.unsqueeze_(0)
        assert tuple(y.shape) == (1, 2, 3)
        (y * L.arange(3.0)).sum().backward()
    assert_close(e.grad, t.grad)
