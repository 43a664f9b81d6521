"""ember.optim.lr_scheduler against torch.optim.lr_scheduler.

Each scheduler is built with the same arguments on an Ember and a torch
optimizer (two param groups with different lrs) and stepped ~100 times; the
lr sequence (and the cycled momentum / beta1 where relevant) must equal
torch's to 1e-12, and state dicts must round-trip.
"""
import copy
import math
import warnings

import numpy as np
import pytest
import torch

import ember

LIBS = (ember, torch)


def make_opt(lib, kind="SGD", lrs=(0.1, 0.05), **kw):
    ps = [lib.zeros(2, requires_grad=True), lib.zeros(3, requires_grad=True)]
    groups = [{"params": [ps[0]], "lr": lrs[0]}, {"params": [ps[1]], "lr": lrs[1]}]
    if kind == "SGD":
        kw.setdefault("momentum", 0.9)
    return getattr(lib.optim, kind)(groups, **kw)


def record(opt, sched, steps, metrics=None):
    """Step optimizer then scheduler ``steps`` times; the lrs and momenta seen."""
    out = [snapshot(opt, sched)]
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        out.append(snapshot(opt, sched))
    return out


def snapshot(opt, sched):
    row = [float(x) for x in sched.get_last_lr()] + [float(g["lr"]) for g in opt.param_groups]
    for g in opt.param_groups:
        if "betas" in g:
            row.append(float(g["betas"][0]))
        elif "momentum" in g:
            row.append(float(g["momentum"]))
    return row


def compare(build, steps=100, kind="SGD", opt_kw=None, metrics=None, lrs=(0.1, 0.05)):
    """Build the scheduler with ``build(lib, opt)`` in both frameworks and compare."""
    rows = {}
    for lib in LIBS:
        opt = make_opt(lib, kind, lrs, **(opt_kw or {}))
        sched = build(lib, opt)
        rows[lib] = record(opt, sched, steps, metrics)
    e, t = np.array(rows[ember]), np.array(rows[torch])
    assert e.shape == t.shape
    np.testing.assert_allclose(e, t, rtol=1e-12, atol=0)
    return e


S = lambda lib: lib.optim.lr_scheduler  # noqa: E731

CASES = {
    "StepLR": lambda lib, o: S(lib).StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda lib, o: S(lib).MultiStepLR(o, milestones=[10, 30, 30, 60], gamma=0.3),
    "ExponentialLR": lambda lib, o: S(lib).ExponentialLR(o, gamma=0.97),
    "CosineAnnealingLR": lambda lib, o: S(lib).CosineAnnealingLR(o, T_max=20, eta_min=1e-3),
    "CosineAnnealingLR-odd": lambda lib, o: S(lib).CosineAnnealingLR(o, T_max=17),
    "WarmRestarts": lambda lib, o: S(lib).CosineAnnealingWarmRestarts(o, T_0=10),
    "WarmRestarts-mult": lambda lib, o: S(lib).CosineAnnealingWarmRestarts(
        o, T_0=5, T_mult=2, eta_min=1e-4),
    "LambdaLR": lambda lib, o: S(lib).LambdaLR(o, lambda e: 0.95 ** e),
    "LambdaLR-list": lambda lib, o: S(lib).LambdaLR(o, [lambda e: 1 / (1 + e),
                                                         lambda e: 0.9 ** (e // 3)]),
    "MultiplicativeLR": lambda lib, o: S(lib).MultiplicativeLR(o, lambda e: 0.98),
    "LinearLR": lambda lib, o: S(lib).LinearLR(o, start_factor=0.25, total_iters=12),
    "LinearLR-down": lambda lib, o: S(lib).LinearLR(o, start_factor=1.0, end_factor=0.1,
                                                   total_iters=30),
    "ConstantLR": lambda lib, o: S(lib).ConstantLR(o, factor=0.5, total_iters=8),
    "PolynomialLR": lambda lib, o: S(lib).PolynomialLR(o, total_iters=40, power=2.0),
    "OneCycleLR": lambda lib, o: S(lib).OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=101),
    "OneCycleLR-linear": lambda lib, o: S(lib).OneCycleLR(
        o, max_lr=0.8, epochs=10, steps_per_epoch=11, anneal_strategy="linear", pct_start=0.25),
    "OneCycleLR-3phase": lambda lib, o: S(lib).OneCycleLR(
        o, max_lr=0.8, total_steps=120, three_phase=True, div_factor=10.0,
        final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9),
    "OneCycleLR-nomom": lambda lib, o: S(lib).OneCycleLR(o, max_lr=0.3, total_steps=100,
                                                       cycle_momentum=False),
    "CyclicLR": lambda lib, o: S(lib).CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=7),
    "CyclicLR-tri2": lambda lib, o: S(lib).CyclicLR(o, base_lr=[0.01, 0.02], max_lr=[0.1, 0.3],
                                                  step_size_up=6, step_size_down=4,
                                                  mode="triangular2"),
    "CyclicLR-exp": lambda lib, o: S(lib).CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5,
                                                 mode="exp_range", gamma=0.97,
                                                 base_momentum=0.7, max_momentum=0.95),
    "CyclicLR-custom": lambda lib, o: S(lib).CyclicLR(o, base_lr=0.01, max_lr=0.1,
                                                    step_size_up=9,
                                                    scale_fn=lambda x: 1 / (1 + 0.01 * x),
                                                    scale_mode="iterations",
                                                    cycle_momentum=False),
    "SequentialLR": lambda lib, o: S(lib).SequentialLR(
        o, [S(lib).LinearLR(o, start_factor=0.1, total_iters=5),
            S(lib).ExponentialLR(o, gamma=0.9)], milestones=[5]),
    "SequentialLR-3": lambda lib, o: S(lib).SequentialLR(
        o, [S(lib).ConstantLR(o, factor=0.3, total_iters=4),
            S(lib).CosineAnnealingLR(o, T_max=15, eta_min=0.001),
            S(lib).StepLR(o, step_size=10, gamma=0.5)], milestones=[5, 40]),
    "ChainedScheduler": lambda lib, o: S(lib).ChainedScheduler(
        [S(lib).ConstantLR(o, factor=0.1, total_iters=2), S(lib).ExponentialLR(o, gamma=0.9)]),
    "ChainedScheduler-cos": lambda lib, o: S(lib).ChainedScheduler(
        [S(lib).LinearLR(o, start_factor=0.5, total_iters=10),
         S(lib).CosineAnnealingLR(o, T_max=25)], optimizer=o),
}


@pytest.mark.parametrize("name", list(CASES))
def test_lr_sequence_matches_torch(name):
    compare(CASES[name], steps=100 if "OneCycle" not in name else 99)


@pytest.mark.parametrize("name", ["OneCycleLR", "OneCycleLR-3phase", "CyclicLR",
                                  "CyclicLR-exp"])
def test_beta1_cycling_with_adam(name):
    compare(CASES[name], steps=99, kind="Adam")


def test_cycle_momentum_requires_momentum():
    for lib in LIBS:
        opt = make_opt(lib, "Adagrad")
        with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
            S(lib).OneCycleLR(opt, max_lr=0.1, total_steps=10)
        with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
            S(lib).CyclicLR(opt, base_lr=0.01, max_lr=0.1)


def test_one_cycle_too_many_steps():
    for lib in LIBS:
        opt = make_opt(lib)
        sched = S(lib).OneCycleLR(opt, max_lr=0.1, total_steps=3)
        for _ in range(3):
            opt.step()
            sched.step()
        with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of "
                                             "total steps is 3"):
            sched.step()


@pytest.mark.parametrize("kw,metrics", [
    (dict(patience=2), [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9] * 4),
    (dict(patience=1, cooldown=2, factor=0.5, min_lr=[0.02, 0.001]),
     [5, 5, 5, 5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3] * 2),
    (dict(mode="max", patience=0, threshold=0.1, threshold_mode="abs", eps=1e-3),
     [1, 1.05, 1.2, 1.25, 1.3, 1.5, 1.5, 1.5, 1.7, 1.75] * 3),
    (dict(mode="max", patience=3, threshold=0.01, threshold_mode="rel", min_lr=0.01),
     list(np.sin(np.arange(40) * 0.7))),
    (dict(mode="min", threshold_mode="abs", threshold=0.05, patience=2, factor=0.3),
     [torch_like for torch_like in np.linspace(1, 0.5, 30)]),
])
def test_reduce_lr_on_plateau(kw, metrics):
    rows = {}
    for lib in LIBS:
        opt = make_opt(lib)
        sched = S(lib).ReduceLROnPlateau(opt, **kw)
        rows[lib] = record(opt, sched, len(metrics), metrics=[float(m) for m in metrics])
        if lib is ember:
            esched = sched
        else:
            tsched = sched
    np.testing.assert_allclose(np.array(rows[ember]), np.array(rows[torch]), rtol=1e-12, atol=0)
    for key in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch"):
        assert getattr(esched, key) == getattr(tsched, key), key


def test_reduce_lr_on_plateau_tensor_metric():
    opt = make_opt(ember)
    sched = S(ember).ReduceLROnPlateau(opt, patience=0)
    sched.step(ember.tensor(1.0))
    sched.step(ember.tensor(2.0))
    assert sched.get_last_lr() == pytest.approx([0.01, 0.005])


def test_reduce_lr_on_plateau_errors():
    for lib in LIBS:
        opt = make_opt(lib)
        with pytest.raises(ValueError, match="Factor should be < 1.0."):
            S(lib).ReduceLROnPlateau(opt, factor=1.0)
        with pytest.raises(ValueError, match="mode avg is unknown!"):
            S(lib).ReduceLROnPlateau(opt, mode="avg")
        with pytest.raises(ValueError, match="threshold mode x is unknown!"):
            S(lib).ReduceLROnPlateau(opt, threshold_mode="x")
        with pytest.raises(ValueError, match="expected 2 min_lrs, got 3"):
            S(lib).ReduceLROnPlateau(opt, min_lr=[0, 0, 0])


# ---- step(epoch): closed forms, fractional warm restarts ----------------------------------

@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
                                  "LinearLR", "ConstantLR", "PolynomialLR", "LambdaLR"])
def test_step_with_epoch_uses_closed_form(name):
    epochs = [3, 7, 8, 20, 15, 33, 60, 2]
    rows = {}
    for lib in LIBS:
        opt = make_opt(lib)
        sched = CASES[name](lib, opt)
        out = []
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            for ep in epochs:
                opt.step()
                sched.step(ep)
                out.append(sched.get_last_lr())
        assert any("The epoch parameter in `scheduler.step()` was not necessary" in str(x.message)
                   for x in w)
        rows[lib] = out
    np.testing.assert_allclose(rows[ember], rows[torch], rtol=1e-12, atol=0)


@pytest.mark.parametrize("T_0,T_mult", [(10, 1), (3, 2), (4, 3)])
def test_warm_restarts_fractional_epochs(T_0, T_mult):
    rows = {}
    for lib in LIBS:
        opt = make_opt(lib)
        sched = S(lib).CosineAnnealingWarmRestarts(opt, T_0=T_0, T_mult=T_mult, eta_min=1e-3)
        out = []
        iters = 7
        for epoch in range(12):
            for i in range(iters):
                opt.step()
                sched.step(epoch + i / iters)
                out.append(sched.get_last_lr() + [sched.T_cur, sched.T_i, sched.last_epoch])
        rows[lib] = out
    np.testing.assert_allclose(rows[ember], rows[torch], rtol=1e-12, atol=1e-15)


def test_warm_restarts_negative_epoch():
    for lib in LIBS:
        sched = S(lib).CosineAnnealingWarmRestarts(make_opt(lib), T_0=5)
        with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
            sched.step(-1)


# ---- state dicts ---------------------------------------------------------------------------

ROUND_TRIP = ["StepLR", "MultiStepLR", "CosineAnnealingLR", "WarmRestarts-mult", "LambdaLR",
              "MultiplicativeLR", "LinearLR", "PolynomialLR", "OneCycleLR", "OneCycleLR-3phase",
              "CyclicLR", "CyclicLR-exp", "SequentialLR-3", "ChainedScheduler-cos"]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_state_dict_round_trip(name):
    """Save optimizer + scheduler mid-way, rebuild both, load, continue: as uninterrupted."""
    build = CASES[name]
    opt = make_opt(ember)
    sched = build(ember, opt)
    full = record(opt, sched, 60)

    opt = make_opt(ember)
    sched = build(ember, opt)
    first = record(opt, sched, 25)
    opt_sd = copy.deepcopy(opt.state_dict())
    sched_sd = copy.deepcopy(sched.state_dict())
    assert "optimizer" not in sched_sd

    opt2 = make_opt(ember)
    sched2 = build(ember, opt2)
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sched_sd)
    rest = record(opt2, sched2, 35)
    np.testing.assert_array_equal(np.array(first + rest[1:]), np.array(full))


def test_reduce_lr_on_plateau_state_dict_round_trip():
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9] * 3
    opt = make_opt(ember)
    full = record(opt, S(ember).ReduceLROnPlateau(opt, patience=2, cooldown=1), len(metrics),
                  metrics)
    opt = make_opt(ember)
    sched = S(ember).ReduceLROnPlateau(opt, patience=2, cooldown=1)
    first = record(opt, sched, 10, metrics[:10])
    opt2 = make_opt(ember)
    sched2 = S(ember).ReduceLROnPlateau(opt2)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    sched2.load_state_dict(copy.deepcopy(sched.state_dict()))
    rest = record(opt2, sched2, len(metrics) - 10, metrics[10:])
    np.testing.assert_array_equal(np.array(first + rest[1:]), np.array(full))


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "OneCycleLR", "CyclicLR",
                                  "LambdaLR", "SequentialLR", "ChainedScheduler"])
def test_state_dict_keys_match_torch(name):
    sds = {}
    for lib in LIBS:
        opt = make_opt(lib)
        sched = CASES[name](lib, opt)
        record(opt, sched, 5)
        sds[lib] = sched.state_dict()
    assert set(sds[ember]) == set(sds[torch])
    for k, v in sds[torch].items():
        if isinstance(v, (int, float, list)) and k != "_schedulers":
            assert sds[ember][k] == v, k


def test_load_torch_scheduler_state_dict():
    topt = make_opt(torch)
    tsched = S(torch).CosineAnnealingLR(topt, T_max=20)
    record(topt, tsched, 13)
    eopt = make_opt(ember)
    esched = S(ember).CosineAnnealingLR(eopt, T_max=20)
    eopt.load_state_dict(eopt.state_dict() | {"param_groups": [
        {**g, "params": eg["params"]} for g, eg in zip(topt.state_dict()["param_groups"],
                                                       eopt.state_dict()["param_groups"])]})
    esched.load_state_dict(tsched.state_dict())
    np.testing.assert_allclose(np.array(record(eopt, esched, 30)),
                               np.array(record(topt, tsched, 30)), rtol=1e-12, atol=0)


def test_lambda_state_dict_keeps_callable_objects_state():
    class Decay:
        def __init__(self):
            self.rate = 0.9

        def __call__(self, epoch):
            return self.rate ** epoch

    opt = make_opt(ember)
    sched = S(ember).LambdaLR(opt, [Decay(), lambda e: 1.0])
    sched.lr_lambdas[0].rate = 0.5
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"rate": 0.5}, None]
    sched2 = S(ember).LambdaLR(make_opt(ember), [Decay(), lambda e: 1.0])
    sched2.load_state_dict(sd)
    assert sched2.lr_lambdas[0].rate == 0.5
    assert "lr_lambdas" in sd  # the caller's dict is left whole


# ---- base class behaviour ------------------------------------------------------------------

def test_initial_lr_and_base_lrs():
    for lib in LIBS:
        opt = make_opt(lib)
        sched = S(lib).StepLR(opt, step_size=2)
        assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.05]
        assert sched.base_lrs == [0.1, 0.05]
        assert sched.last_epoch == 0 and sched.get_last_lr() == [0.1, 0.05]


def test_resume_requires_initial_lr():
    for lib in LIBS:
        with pytest.raises(KeyError, match="param 'initial_lr' is not specified in "
                                           "param_groups\\[0\\] when resuming"):
            S(lib).StepLR(make_opt(lib), step_size=2, last_epoch=5)


def test_resume_with_last_epoch():
    rows = {}
    for lib in LIBS:
        opt = make_opt(lib)
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"]
        sched = S(lib).CosineAnnealingLR(opt, T_max=30, last_epoch=10)
        rows[lib] = record(opt, sched, 30)
    np.testing.assert_allclose(np.array(rows[ember]), np.array(rows[torch]), rtol=1e-12, atol=0)


def test_warns_when_scheduler_steps_before_optimizer():
    opt = make_opt(ember)
    sched = S(ember).StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before "
                                         "`optimizer.step\\(\\)`"):
        sched.step()
    opt = make_opt(ember)
    sched = S(ember).StepLR(opt, step_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        sched.step()
        opt.step()
        sched.step()


def test_warns_when_optimizer_step_overridden():
    opt = make_opt(ember)
    sched = S(ember).StepLR(opt, step_size=2)
    opt.step = lambda closure=None: None
    with pytest.warns(UserWarning, match="Seems like `optimizer.step\\(\\)` has been overridden"):
        sched.step()


def test_get_lr_outside_step_warns():
    sched = S(ember).StepLR(make_opt(ember), step_size=2)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()


def test_optimizer_still_works_and_pickles_after_scheduler_wraps_step():
    opt = make_opt(ember, "Adam")
    p = opt.param_groups[0]["params"][0]
    S(ember).StepLR(opt, step_size=2)
    p.grad = ember.ones(2)
    opt.step()
    assert opt._opt_called and opt.state[p]["step"].item() == 1.0
    opt2 = copy.deepcopy(opt)
    assert "step" not in opt2.__dict__


def test_tensor_lr_is_filled_in_place():
    rows = {}
    for lib in LIBS:
        p = lib.zeros(2, requires_grad=True)
        lr = lib.tensor(0.1, dtype=lib.float64)
        opt = lib.optim.Adam([p], lr=lr)
        sched = S(lib).ExponentialLR(opt, gamma=0.9)
        for _ in range(5):
            opt.step()
            sched.step()
        assert opt.param_groups[0]["lr"] is lr
        rows[lib] = float(lr)
    assert rows[ember] == pytest.approx(rows[torch], rel=1e-12)


def test_verbose_is_accepted():
    opt = make_opt(ember)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        S(ember).StepLR(opt, 3, 0.1, -1, "deprecated")
    with pytest.warns(UserWarning, match="The verbose parameter is deprecated"):
        S(ember).ExponentialLR(make_opt(ember), 0.9, verbose=True)


def test_lr_scheduler_alias_and_subclass():
    class Halve(S(ember).LRScheduler):
        def get_lr(self):
            return [g["lr"] * (0.5 if self.last_epoch > 0 else 1.0)
                    for g in self.optimizer.param_groups]

    opt = make_opt(ember)
    sched = Halve(opt)
    opt.step()
    sched.step()
    assert sched.get_last_lr() == [0.05, 0.025]
    assert issubclass(S(ember)._LRScheduler, S(ember).LRScheduler)


# ---- argument errors -----------------------------------------------------------------------

@pytest.mark.parametrize("build,exc,msg", [
    (lambda lib, o: S(lib).ConstantLR(o, factor=1.5), ValueError,
     "Constant multiplicative factor expected to be between 0 and 1."),
    (lambda lib, o: S(lib).LinearLR(o, start_factor=0), ValueError,
     "Starting multiplicative factor expected to be greater than 0 and less or equal to 1."),
    (lambda lib, o: S(lib).LinearLR(o, end_factor=1.5), ValueError,
     "Ending multiplicative factor expected to be between 0 and 1."),
    (lambda lib, o: S(lib).CosineAnnealingWarmRestarts(o, T_0=0), ValueError,
     "Expected positive integer T_0, but got 0"),
    (lambda lib, o: S(lib).CosineAnnealingWarmRestarts(o, T_0=5, T_mult=1.5), ValueError,
     "Expected integer T_mult >= 1, but got 1.5"),
    (lambda lib, o: S(lib).OneCycleLR(o, max_lr=0.1), ValueError,
     "You must define either total_steps OR (epochs AND steps_per_epoch)"),
    (lambda lib, o: S(lib).OneCycleLR(o, max_lr=0.1, total_steps=0), ValueError,
     "Expected positive integer total_steps, but got 0"),
    (lambda lib, o: S(lib).OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.5), ValueError,
     "Expected float between 0 and 1 pct_start, but got 1.5"),
    (lambda lib, o: S(lib).OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="exp"),
     ValueError, "anneal_strategy must be one of 'cos' or 'linear', instead got exp"),
    (lambda lib, o: S(lib).OneCycleLR(o, max_lr=[0.1, 0.2, 0.3], total_steps=10), ValueError,
     "max_lr must have the same length as optimizer.param_groups. max_lr has 3 values, "
     "param_groups has 2."),
    (lambda lib, o: S(lib).CyclicLR(o, 0.01, 0.1, mode="square"), ValueError,
     "mode is invalid and scale_fn is None"),
    (lambda lib, o: S(lib).LambdaLR(o, [lambda e: 1.0]), ValueError,
     "Expected 2 lr_lambdas, but got 1"),
    (lambda lib, o: S(lib).MultiplicativeLR(o, 0.9), TypeError,
     "lr_lambda should be a function, but got float"),
    (lambda lib, o: S(lib).StepLR([1, 2], step_size=3), TypeError, "list is not an Optimizer"),
    (lambda lib, o: S(lib).SequentialLR(o, [S(lib).StepLR(o, 2), S(lib).StepLR(o, 3)],
                                        milestones=[]), ValueError,
     "Sequential Schedulers expects number of schedulers provided to be one more than the "
     "number of milestone points, but got number of schedulers 2 and the number of milestones "
     "to be equal to 0"),
    (lambda lib, o: S(lib).SequentialLR(o, [], milestones=[]), ValueError,
     "SequentialLR expects at least one scheduler, but got no scheduler."),
    (lambda lib, o: S(lib).ChainedScheduler([S(lib).ReduceLROnPlateau(o)]), ValueError,
     "ChainedScheduler does not support `ReduceLROnPlateau` scheduler"),
])
def test_argument_errors(build, exc, msg):
    for lib in LIBS:
        with pytest.raises(exc) as info:
            build(lib, make_opt(lib))
        assert str(info.value).startswith(msg), (lib.__name__, str(info.value))


def test_sequential_requires_same_optimizer():
    for lib in LIBS:
        o1, o2 = make_opt(lib), make_opt(lib)
        with pytest.raises(ValueError, match="expects all schedulers to belong to the same "
                                             "optimizer"):
            S(lib).SequentialLR(o1, [S(lib).StepLR(o1, 2), S(lib).StepLR(o2, 2)], milestones=[3])


def test_cosine_annealing_closed_form_agrees():
    opt = make_opt(ember)
    sched = S(ember).CosineAnnealingLR(opt, T_max=10, eta_min=0.01)
    for epoch in range(1, 21):
        opt.step()
        sched.step()
        expected = 0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * epoch / 10)) / 2
        assert sched.get_last_lr()[0] == pytest.approx(expected, rel=1e-12, abs=1e-15)
