"""LBFGS, Rprop, ASGD, SparseAdam and optim.swa_utils against torch.

Each optimizer starts from the same weights in both frameworks, each
framework computes its own losses and gradients by backward(), and the
parameters must agree after N steps (1e-6 in float64, 1e-5 in float32).
"""
import copy

import numpy as np
import pytest
import torch

import ember

TOL = {np.float64: 1e-6, np.float32: 1e-5}


def rosenbrock(x):
    """The n-dimensional Rosenbrock function (the same expression in both frameworks)."""
    return ((1 - x[:-1]) ** 2).sum() + 100 * ((x[1:] - x[:-1] ** 2) ** 2).sum()


def assert_same(es, ts, dtype, what=""):
    tol = TOL[dtype]
    for i, (e, t) in enumerate(zip(es, ts)):
        en, tn = e.detach().numpy(force=True), t.detach().cpu().numpy()
        assert en.dtype == tn.dtype == dtype
        assert np.isfinite(tn).all(), "the test problem diverged"
        np.testing.assert_allclose(en, tn, rtol=tol, atol=tol, err_msg=f"{what} param {i}")


def to_ember_sd(sd):
    """A torch state dict with its tensors converted to Ember tensors."""
    if isinstance(sd, torch.Tensor):
        return ember.tensor(sd.detach().cpu().numpy().copy())
    if isinstance(sd, dict):
        return {k: to_ember_sd(v) for k, v in sd.items()}
    if isinstance(sd, (list, tuple)):
        return type(sd)(to_ember_sd(v) for v in sd)
    return sd


def assert_sd_match(e, t, tol=1e-10, key="state_dict"):
    """Nested state dicts equal: tensors by value and dtype, the rest exactly."""
    if isinstance(t, torch.Tensor):
        assert isinstance(e, ember.Tensor), key
        tn = t.detach().cpu().numpy()
        assert e.numpy(force=True).dtype == tn.dtype, key
        np.testing.assert_allclose(e.numpy(force=True), tn, rtol=tol, atol=tol, err_msg=key)
    elif isinstance(t, dict):
        assert list(e.keys()) == list(t.keys()), (key, e.keys(), t.keys())
        for k in t:
            assert_sd_match(e[k], t[k], tol, f"{key}[{k!r}]")
    elif isinstance(t, (list, tuple)):
        assert len(e) == len(t), key
        for i, (a, b) in enumerate(zip(e, t)):
            assert_sd_match(a, b, tol, f"{key}[{i}]")
    elif isinstance(t, float):
        assert e == pytest.approx(t, rel=tol, abs=tol), key
    else:
        assert e == t, key


# ---- LBFGS --------------------------------------------------------------------------------

ROSEN_INIT = np.array([-1.5, 2.0, 0.5, -0.7])


def lbfgs_rosenbrock(lib, dtype, steps, **opts):
    x = lib.tensor(ROSEN_INIT.astype(dtype)).requires_grad_(True)
    opt = lib.optim.LBFGS([x], **opts)

    def closure():
        opt.zero_grad()
        loss = rosenbrock(x)
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(steps)]
    return [x], opt, losses


# float32 runs stop before the iterates reach the minimum, where a float32
# loss is flat to rounding and the path depends on the last bit of each sum.
LBFGS_ROSEN = [
    (np.float64, 5, dict(lr=0.1, history_size=5, max_iter=10)),
    (np.float64, 5, dict(history_size=5, max_iter=10, line_search_fn="strong_wolfe")),
    (np.float64, 2, dict(max_iter=30, line_search_fn="strong_wolfe")),   # default history
    (np.float64, 3, dict(lr=0.1, max_iter=20, max_eval=7, tolerance_change=1e-5)),
    (np.float32, 3, dict(lr=0.1, history_size=5, max_iter=10)),
    (np.float32, 3, dict(history_size=4, max_iter=3, line_search_fn="strong_wolfe")),
]


@pytest.mark.parametrize("dtype,steps,opts", LBFGS_ROSEN)
def test_lbfgs_rosenbrock(dtype, steps, opts):
    es, eopt, elosses = lbfgs_rosenbrock(ember, dtype, steps, **opts)
    ts, topt, tlosses = lbfgs_rosenbrock(torch, dtype, steps, **opts)
    assert_same(es, ts, dtype)
    np.testing.assert_allclose(elosses, tlosses, rtol=TOL[dtype])
    est, tst = eopt.state[es[0]], topt.state[ts[0]]
    assert (est["func_evals"], est["n_iter"]) == (tst["func_evals"], tst["n_iter"])
    assert len(est["old_dirs"]) == len(tst["old_dirs"])
    assert tlosses[-1] < tlosses[0]


def mlp(lib, dtype, seed=0):
    """A 3-8-1 tanh MLP, its weights from a seeded torch model, and a regression set."""
    torch.manual_seed(seed)
    ref = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    model = lib.nn.Sequential(lib.nn.Linear(3, 8), lib.nn.Tanh(), lib.nn.Linear(8, 1))
    with lib.no_grad():
        for p, r in zip(model.parameters(), ref.parameters()):
            p.copy_(lib.tensor(r.detach().cpu().numpy().astype(dtype)))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((32, 3)).astype(dtype)
    Y = (np.sin(X.sum(1, keepdims=True)) + 0.1 * X[:, :1] ** 2).astype(dtype)
    return model.to(getattr(lib, np.dtype(dtype).name)), lib.tensor(X), lib.tensor(Y)


def lbfgs_mlp(lib, dtype, steps, **opts):
    model, X, Y = mlp(lib, dtype)
    opt = lib.optim.LBFGS(model.parameters(), **opts)

    def closure():
        opt.zero_grad()
        loss = lib.nn.functional.mse_loss(model(X), Y)
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(steps)]
    return list(model.parameters()), opt, losses


# (float32: few iterations, as float32 rounding differences grow along the path)
@pytest.mark.parametrize("dtype,steps,opts", [
    (np.float64, 3, dict(lr=0.5, history_size=10, max_iter=8)),
    (np.float64, 3, dict(history_size=10, max_iter=8, line_search_fn="strong_wolfe")),
    (np.float32, 3, dict(lr=0.5, history_size=10, max_iter=4)),
    (np.float32, 2, dict(history_size=10, max_iter=4, line_search_fn="strong_wolfe")),
])
def test_lbfgs_mlp_regression(dtype, steps, opts):
    es, _, elosses = lbfgs_mlp(ember, dtype, steps, **opts)
    ts, _, tlosses = lbfgs_mlp(torch, dtype, steps, **opts)
    assert_same(es, ts, dtype)
    np.testing.assert_allclose(elosses, tlosses, rtol=TOL[dtype])
    assert tlosses[-1] < 0.8 * tlosses[0]


def test_lbfgs_state_dict_round_trip():
    """Stop after 2 steps, save, load into a fresh LBFGS, go on: as torch does,
    and the state dict matches torch's entry by entry."""
    opts = dict(history_size=3, max_iter=5, line_search_fn="strong_wolfe")

    def resumed(lib, sd_from=None):
        ps, opt, _ = lbfgs_rosenbrock(lib, np.float64, 2, **opts)
        saved = copy.deepcopy(opt.state_dict())
        if sd_from is not None:
            saved = sd_from
        x = lib.tensor(ps[0].detach().cpu().numpy().copy()).requires_grad_(True)
        opt2 = lib.optim.LBFGS([x], **opts)
        opt2.load_state_dict(saved)

        def closure():
            opt2.zero_grad()
            loss = rosenbrock(x)
            loss.backward()
            return loss
        for _ in range(2):
            opt2.step(closure)
        return x, opt, opt2

    ex, eopt, eopt2 = resumed(ember)
    tx, topt, topt2 = resumed(torch)
    # (the line search's last step t is sensitive near the minimum: 1e-6)
    assert_sd_match(eopt.state_dict(), topt.state_dict(), tol=1e-6)
    assert_sd_match(eopt2.state_dict(), topt2.state_dict(), tol=1e-6)
    assert_same([ex], [tx], np.float64)
    # a torch state dict, converted, continues on Ember as on torch
    ex2, _, _ = resumed(ember, sd_from=to_ember_sd(topt.state_dict()))
    assert_same([ex2], [tx], np.float64)
    full, _, _ = lbfgs_rosenbrock(ember, np.float64, 4, **opts)
    np.testing.assert_array_equal(full[0].detach().cpu().numpy(), ex.detach().cpu().numpy())


def test_lbfgs_stops_at_optimum_and_counts():
    """A zero gradient returns at once; one iteration per step with max_iter=1."""
    for lib in (ember, torch):
        x = lib.tensor([1.0, 1.0, 1.0], dtype=lib.float64).requires_grad_(True)
        opt = lib.optim.LBFGS([x])
        calls = []

        def closure():
            calls.append(1)
            opt.zero_grad()
            loss = rosenbrock(x)
            loss.backward()
            return loss
        assert opt.step(closure).item() == 0.0
        assert len(calls) == 1 and opt.state[x]["n_iter"] == 0
    e = lbfgs_rosenbrock(ember, np.float64, 3, max_iter=1)
    t = lbfgs_rosenbrock(torch, np.float64, 3, max_iter=1)
    assert e[1].state[e[0][0]]["n_iter"] == t[1].state[t[0][0]]["n_iter"] == 3
    assert_same(e[0], t[0], np.float64)


def test_lbfgs_param_without_grad_and_defaults():
    """A parameter the loss does not use counts as a zero gradient; the
    defaults (max_eval = max_iter * 5 // 4) are torch's."""
    res = {}
    for lib in (ember, torch):
        x = lib.tensor(ROSEN_INIT.copy()).requires_grad_(True)
        unused = lib.tensor([0.5, -0.5], dtype=lib.float64).requires_grad_(True)
        opt = lib.optim.LBFGS([x, unused], line_search_fn="strong_wolfe", max_iter=7)

        def closure():
            opt.zero_grad()
            loss = rosenbrock(x)
            loss.backward()
            return loss
        opt.step(closure)
        res[lib.__name__] = (x, unused, opt.defaults)
    assert_same(res["ember"][:2], res["torch"][:2], np.float64)
    assert res["ember"][2] == res["torch"][2]
    assert res["ember"][2]["max_eval"] == 8


def test_lbfgs_errors():
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64).requires_grad_(True)
        y = lib.tensor([1.0], dtype=lib.float64).requires_grad_(True)
        with pytest.raises(ValueError, match="Invalid learning rate: -1"):
            lib.optim.LBFGS([x], lr=-1)
        with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
            lib.optim.LBFGS([x], lr=lib.tensor([0.1, 0.2]))
        with pytest.raises(ValueError, match="doesn't support per-parameter options"):
            lib.optim.LBFGS([{"params": [x]}, {"params": [y]}])
        opt = lib.optim.LBFGS([x], line_search_fn="backtracking")

        def closure():
            opt.zero_grad()
            loss = (x * x).sum()
            loss.backward()
            return loss
        with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
            opt.step(closure)
        with pytest.raises(TypeError):
            opt.step()   # the closure is required


# ---- Rprop, ASGD ---------------------------------------------------------------------------

_rng = np.random.default_rng(7)
INIT = [_rng.standard_normal((3, 4)), _rng.standard_normal(5), np.array(0.7)]
COEF = np.abs(_rng.standard_normal((3, 4))) + 0.5


def loss_fn(lib, ps):
    """Quadratic + sine + a coupling term, the same expression in both frameworks."""
    a, b, c = ps
    d = c - 0.1 * a.sum()
    return ((lib.tensor(COEF.astype(a.detach().cpu().numpy().dtype)) * a * a).sum()
            + lib.sin(3 * b).sum() + 0.5 * (b * b).sum() + 0.5 * d * d + lib.cos(c))


def run(lib, name, opts, steps, dtype=np.float64, params=None, opt=None):
    ps = params or [lib.tensor(x.astype(dtype)).requires_grad_(True) for x in INIT]
    opt = opt or getattr(lib.optim, name)(ps, **opts)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(lib, ps).backward()
        opt.step()
    return ps, opt


DENSE_CASES = [
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2))),
    ("Rprop", dict(lr=0.05, maximize=True)),
    ("ASGD", dict(lr=0.05)),
    ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=10, weight_decay=0.1)),
    ("ASGD", dict(lr=0.02, t0=5, maximize=True)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,opts", DENSE_CASES, ids=[f"{n}-{i}" for i, (n, _) in
                                                        enumerate(DENSE_CASES)])
def test_dense_optimizer_matches_torch(name, opts, dtype):
    es, eopt = run(ember, name, opts, 30, dtype)
    ts, topt = run(torch, name, opts, 30, dtype)
    assert_same(es, ts, dtype)
    assert_sd_match(eopt.state_dict(), topt.state_dict(), tol=TOL[dtype])


@pytest.mark.parametrize("name,opts", DENSE_CASES[1::2], ids=lambda v: str(v)[:12])
def test_dense_optimizer_state_dict_round_trip(name, opts):
    full, _ = run(ember, name, opts, 20)
    ps, opt = run(ember, name, opts, 8)
    saved = copy.deepcopy(opt.state_dict())
    fresh = [ember.tensor(p.detach().cpu().numpy().copy()).requires_grad_(True) for p in ps]
    opt2 = getattr(ember.optim, name)(fresh, **opts)
    opt2.load_state_dict(saved)
    run(ember, name, opts, 12, params=fresh, opt=opt2)
    for a, b in zip(full, fresh):
        # Loading casts ASGD's float32 'eta' and 'mu' to the parameter's dtype
        # (torch does the same), so its resumed run differs in the last bits.
        np.testing.assert_allclose(a.detach().cpu().numpy(), b.detach().cpu().numpy(),
                                   rtol=1e-6 if name == "ASGD" else 0)
    # torch's state dict, converted, continues as on torch
    tps, topt = run(torch, name, opts, 8)
    eps_ = [ember.tensor(p.detach().cpu().numpy().copy()).requires_grad_(True) for p in tps]
    eopt = getattr(ember.optim, name)(eps_, **opts)
    eopt.load_state_dict(to_ember_sd(topt.state_dict()))
    run(torch, name, opts, 12, params=tps, opt=topt)
    run(ember, name, opts, 12, params=eps_, opt=eopt)
    assert_same(eps_, tps, np.float64)


@pytest.mark.parametrize("name,kwargs,exc,msg", [
    ("Rprop", dict(lr=-0.1), ValueError, "Invalid learning rate: -0.1"),
    ("Rprop", dict(etas=(1.5, 1.2)), ValueError, "Invalid eta values: 1.5, 1.2"),
    ("Rprop", dict(etas=(0.5, 0.9)), ValueError, "Invalid eta values: 0.5, 0.9"),
    ("ASGD", dict(lr=-1.0), ValueError, "Invalid learning rate: -1.0"),
    ("ASGD", dict(weight_decay=-0.1), ValueError, "Invalid weight_decay value: -0.1"),
    ("SparseAdam", dict(lr=0.0), ValueError, "Invalid learning rate: 0.0"),
    ("SparseAdam", dict(eps=0.0), ValueError, "Invalid epsilon value: 0.0"),
    ("SparseAdam", dict(betas=(1.0, 0.9)), ValueError, "Invalid beta parameter at index 0: 1.0"),
    ("SparseAdam", dict(betas=(0.9, -0.1)), ValueError,
     "Invalid beta parameter at index 1: -0.1"),
])
def test_constructor_errors(name, kwargs, exc, msg):
    for lib in (ember, torch):
        p = lib.tensor([1.0, 2.0]).requires_grad_(True)
        with pytest.raises(exc) as info:
            getattr(lib.optim, name)([p], **kwargs)
        assert str(info.value) == msg, lib.__name__


# ---- SparseAdam ----------------------------------------------------------------------------

def sparse_adam_run(lib, dtype, steps, **opts):
    """An embedding bag regression: each step looks up a few rows, so only those
    rows get gradients (torch: sparse ones, from Embedding(sparse=True))."""
    rng = np.random.default_rng(3)
    W0 = rng.standard_normal((10, 4)).astype(dtype)
    dt = getattr(lib, np.dtype(dtype).name)
    emb = lib.nn.Embedding(10, 4, sparse=lib is torch, dtype=dt)
    lin = lib.nn.Linear(4, 1, dtype=dt)
    with lib.no_grad():
        emb.weight.copy_(lib.tensor(W0))
        lin.weight.copy_(lib.tensor(rng.standard_normal((1, 4)).astype(dtype)))
        lin.bias.zero_()
    opt = lib.optim.SparseAdam(list(emb.parameters()), **opts)
    for step in range(steps):
        idx = lib.tensor(rng.integers(0, 10, size=(3, 2)))
        target = lib.tensor(rng.standard_normal((3, 2, 1)).astype(dtype))
        opt.zero_grad()
        loss = ((lin(emb(idx)) - target) ** 2).mean()
        loss.backward()
        opt.step()
    return [emb.weight], opt


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opts", [dict(lr=0.05), dict(lr=0.1, betas=(0.5, 0.9), eps=1e-6,
                                                      maximize=True)])
def test_sparse_adam_matches_torch(dtype, opts):
    es, eopt = sparse_adam_run(ember, dtype, 12, **opts)
    ts, topt = sparse_adam_run(torch, dtype, 12, **opts)
    assert_same(es, ts, dtype)
    assert_sd_match(eopt.state_dict(), topt.state_dict(), tol=TOL[dtype])


def test_sparse_adam_updates_whole_rows_only():
    """Rows without a gradient keep their weights and moments (unlike Adam);
    a zero entry inside a row that has a gradient updates (its moments decay)."""
    w = ember.tensor(np.ones((4, 3))).requires_grad_(True)
    opt = ember.optim.SparseAdam([w], lr=0.1)
    for row in ([1.0, 1.0, 1.0], [1.0, 0.0, -2.0]):
        g = np.zeros((4, 3))
        g[1] = row
        w.grad = ember.tensor(g)
        before = w.detach().cpu().numpy().copy()
        opt.step()
    out = w.detach().cpu().numpy()
    np.testing.assert_array_equal(out[[0, 2, 3]], 1.0)
    assert (out[1] != before[1]).all()
    assert opt.state[w]["step"] == 2
    np.testing.assert_array_equal(opt.state[w]["exp_avg"].cpu().numpy()[[0, 2, 3]], 0.0)


# ---- swa_utils ----------------------------------------------------------------------------

def bn_model(lib, dtype=np.float64, seed=0):
    """Linear -> BatchNorm1d -> ReLU -> Linear, with torch's seeded initial weights."""
    torch.manual_seed(seed)
    ref = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(),
                              torch.nn.Linear(6, 2))
    model = lib.nn.Sequential(lib.nn.Linear(4, 6), lib.nn.BatchNorm1d(6), lib.nn.ReLU(),
                              lib.nn.Linear(6, 2))
    model.to(getattr(lib, np.dtype(dtype).name))
    with lib.no_grad():
        for p, r in zip(model.parameters(), ref.parameters()):
            p.copy_(lib.tensor(r.detach().cpu().numpy().astype(dtype)))
    return model


def perturb(lib, model, rng, dtype):
    """Give ``model`` new weights and new batch-norm statistics (the same in both libs)."""
    with lib.no_grad():
        for p in model.parameters():
            p.add_(lib.tensor((0.3 * rng.standard_normal(tuple(p.shape))).astype(dtype)))
    model.train()
    model(lib.tensor(rng.standard_normal((8, 4)).astype(dtype)))   # moves the BN buffers


def averaged_run(lib, dtype, updates=5, **kwargs):
    model = bn_model(lib, dtype)
    avg = lib.optim.swa_utils.AveragedModel(model, **kwargs)
    rng = np.random.default_rng(11)
    for _ in range(updates):
        perturb(lib, model, rng, dtype)
        avg.update_parameters(model)
    return avg


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["swa", "ema_multi", "ema_avg_fn", "swa_multi", "swa_avg_fn",
                                  "ema_buffers", "swa_buffers"])
def test_averaged_model_matches_torch(kind, dtype):
    def kwargs(lib):
        su = lib.optim.swa_utils
        return {"swa": {}, "ema_multi": dict(multi_avg_fn=su.get_ema_multi_avg_fn(0.8)),
                "ema_avg_fn": dict(avg_fn=su.get_ema_avg_fn(0.7)),
                "swa_multi": dict(multi_avg_fn=su.get_swa_multi_avg_fn()),
                "swa_avg_fn": dict(avg_fn=su.get_swa_avg_fn()),
                "ema_buffers": dict(multi_avg_fn=su.get_ema_multi_avg_fn(0.6), use_buffers=True),
                "swa_buffers": dict(use_buffers=True)}[kind]
    e = averaged_run(ember, dtype, **kwargs(ember))
    t = averaged_run(torch, dtype, **kwargs(torch))
    esd, tsd = e.state_dict(), t.state_dict()
    assert list(esd.keys()) == list(tsd.keys())
    for k in tsd:
        en, tn = esd[k].numpy(force=True), tsd[k].cpu().numpy()
        assert en.dtype == tn.dtype, k
        np.testing.assert_allclose(en, tn, rtol=TOL[dtype], atol=TOL[dtype], err_msg=k)
    assert e.n_averaged.item() == 5 and e.n_averaged.dtype == ember.int64
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(dtype)
    e.eval(), t.eval()
    np.testing.assert_allclose(e(ember.tensor(x)).detach().cpu().numpy(),
                               t(torch.tensor(x)).detach().cpu().numpy(), rtol=TOL[dtype] * 10,
                               atol=TOL[dtype])


def test_averaged_model_is_a_copy_and_errors():
    model = bn_model(ember)
    avg = ember.optim.swa_utils.AveragedModel(model)
    assert avg.module is not model
    assert all(a is not p for a, p in zip(avg.parameters(), model.parameters()))
    assert [n for n, _ in avg.named_buffers()][0] == "n_averaged"
    su = ember.optim.swa_utils
    for lib in (ember, torch):
        with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
            lib.optim.swa_utils.AveragedModel(
                bn_model(lib), avg_fn=lib.optim.swa_utils.get_swa_avg_fn(),
                multi_avg_fn=lib.optim.swa_utils.get_swa_multi_avg_fn())
        for f in (lib.optim.swa_utils.get_ema_multi_avg_fn, lib.optim.swa_utils.get_ema_avg_fn):
            with pytest.raises(ValueError, match=r"Invalid decay value 1.5 provided. Please "
                                                 r"provide a value in \[0,1\] range."):
                f(1.5)
    assert set(su.__all__) == set(torch.optim.swa_utils.__all__)


def swalr_lrs(lib, epochs=16, **kwargs):
    ps = [lib.tensor([1.0]).requires_grad_(True), lib.tensor([2.0]).requires_grad_(True)]
    opt = lib.optim.SGD([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.5}], lr=0.1)
    sched = lib.optim.swa_utils.SWALR(opt, **kwargs)
    lrs = [sched.get_last_lr()]
    for _ in range(epochs):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
    return lrs, sched


@pytest.mark.parametrize("kwargs", [
    dict(swa_lr=0.05), dict(swa_lr=0.05, anneal_epochs=4, anneal_strategy="linear"),
    dict(swa_lr=[0.01, 0.2], anneal_epochs=3), dict(swa_lr=0.3, anneal_epochs=0),
    dict(swa_lr=0.02, anneal_epochs=1, anneal_strategy="linear"),
])
def test_swalr_matches_torch(kwargs):
    elrs, esched = swalr_lrs(ember, **kwargs)
    tlrs, tsched = swalr_lrs(torch, **kwargs)
    np.testing.assert_allclose(elrs, tlrs, rtol=1e-12)
    esd, tsd = esched.state_dict(), tsched.state_dict()
    assert set(esd) >= {"anneal_epochs", "_anneal_strategy", "base_lrs", "last_epoch"}
    for k in ("anneal_epochs", "_anneal_strategy", "base_lrs", "last_epoch", "_step_count"):
        assert esd[k] == tsd[k], k
    # a scheduler loaded from the state dict goes on the same way
    ps = [ember.tensor([1.0]).requires_grad_(True), ember.tensor([2.0]).requires_grad_(True)]
    opt = ember.optim.SGD([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.5}], lr=0.1)
    fresh = ember.optim.swa_utils.SWALR(opt, swa_lr=0.9, anneal_strategy="linear")
    fresh.load_state_dict(esd)
    assert fresh.anneal_func(0.5) == esched.anneal_func(0.5)


def test_swalr_errors():
    for lib in (ember, torch):
        opt = lib.optim.SGD([lib.tensor([1.0]).requires_grad_(True)], lr=0.1)
        with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear', "
                                             "instead got exp"):
            lib.optim.swa_utils.SWALR(opt, swa_lr=0.1, anneal_strategy="exp")
        with pytest.raises(ValueError, match="anneal_epochs must be equal or greater than 0, "
                                             "got -1"):
            lib.optim.swa_utils.SWALR(opt, swa_lr=0.1, anneal_epochs=-1)
        with pytest.raises(ValueError, match="swa_lr must have the same length as "
                                             "optimizer.param_groups"):
            lib.optim.swa_utils.SWALR(opt, swa_lr=[0.1, 0.2])


@pytest.mark.parametrize("loader_kind", ["tensors", "tuples"])
def test_update_bn_matches_torch(loader_kind):
    rng = np.random.default_rng(5)
    data = [rng.standard_normal((8, 4)) * (1 + i) for i in range(4)]
    res = {}
    for lib in (ember, torch):
        model = bn_model(lib)
        model[1].momentum = 0.3
        model.eval()
        batches = [lib.tensor(x) for x in data]
        loader = batches if loader_kind == "tensors" else [(x, lib.tensor(0)) for x in batches]
        lib.optim.swa_utils.update_bn(loader, model)
        assert not model.training and model[1].momentum == 0.3
        res[lib.__name__] = model[1]
    e, t = res["ember"], res["torch"]
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(getattr(e, name).cpu().numpy(), getattr(t, name).cpu().numpy(),
                                   rtol=1e-12, err_msg=name)
    # no batch norm: nothing to do, the model is left as it was
    lin = ember.nn.Linear(2, 2)
    lin.eval()
    ember.optim.swa_utils.update_bn([ember.randn(3, 2)], lin)
    assert not lin.training
