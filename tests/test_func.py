"""ember.func against torch.func on the same functions (float64, 1e-6)."""
import numpy as np
import pytest
import torch
import torch.func as tf

import ember
import ember.func as ef

RNG = np.random.default_rng(0)


def arr(*shape):
    return RNG.standard_normal(shape)


def E(a, rg=False):
    return ember.tensor(a, dtype=ember.float64, requires_grad=rg)


def T(a, rg=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=rg)


def close(e, t, tol=1e-6):
    """Compare trees of results (tensors, tuples, dicts, numbers)."""
    if isinstance(t, (tuple, list)):
        assert type(e) is type(t) and len(e) == len(t), (e, t)
        for a, b in zip(e, t):
            close(a, b, tol)
    elif isinstance(t, dict):
        assert isinstance(e, dict) and list(e) == list(t)
        for k in t:
            close(e[k], t[k], tol)
    elif isinstance(t, torch.Tensor):
        assert isinstance(e, ember.Tensor), type(e)
        assert tuple(e.shape) == tuple(t.shape), (e.shape, t.shape)
        assert str(e.dtype)[6:] == str(t.dtype)[6:]
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=tol, atol=tol)
    else:
        assert e == t


# The same functions, written once for both libraries.
def f_scalar(lib, x):
    return (lib.sin(x) * x ** 2).sum()


def f_two(lib, x, y):
    return (lib.tanh(x @ y) ** 2).mean()


def f_vec(lib, x):
    return lib.exp(x) * x.sum()


def f_multi_out(lib, x, y):
    return lib.sin(x) * y, (x * y).sum()


# ---- grad, grad_and_value ----------------------------------------------------------------

def test_grad_simple():
    a = arr(3, 4)
    close(ef.grad(lambda x: f_scalar(ember, x))(E(a)), tf.grad(lambda x: f_scalar(torch, x))(T(a)))


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1, 0), -1])
def test_grad_argnums(argnums):
    a, b = arr(3, 4), arr(4, 2)
    e = ef.grad(lambda x, y: f_two(ember, x, y), argnums=argnums)(E(a), E(b))
    t = tf.grad(lambda x, y: f_two(torch, x, y), argnums=argnums)(T(a), T(b))
    close(e, t)


def test_grad_and_value_has_aux():
    a = arr(5)

    def f(lib):
        def g(x):
            y = lib.cos(x)
            return (y * x).sum(), {"y": y, "n": (x * 2,)}
        return g
    e = ef.grad_and_value(f(ember), has_aux=True)(E(a))
    t = tf.grad_and_value(f(torch), has_aux=True)(T(a))
    close(e, t)
    g, aux = ef.grad(f(ember), has_aux=True)(E(a))
    tg, taux = tf.grad(f(torch), has_aux=True)(T(a))
    close((g, aux), (tg, taux))


def test_grad_over_dict_of_parameters():
    w, b, x = arr(3, 2), arr(2), arr(4, 3)

    def loss(lib):
        return lambda p, x: ((x @ p["w"] + p["b"]) ** 2).mean()
    pe, pt = {"w": E(w), "b": E(b)}, {"w": T(w), "b": T(b)}
    close(ef.grad(loss(ember))(pe, E(x)), tf.grad(loss(torch))(pt, T(x)))


def test_grad_of_grad_and_hessian_vector():
    a = arr(4)
    e = ef.grad(lambda x: ef.grad(lambda y: f_scalar(ember, y))(x).sum())(E(a))
    t = tf.grad(lambda x: tf.grad(lambda y: f_scalar(torch, y))(x).sum())(T(a))
    close(e, t)


def test_grad_requires_grad_of_result_as_torch():
    a = arr(3)
    for lib, fn, mk in [(ember, ef, E), (torch, tf, T)]:
        assert not fn.grad(lambda x: (x * x).sum())(mk(a)).requires_grad
        w = mk(a, True)
        r = fn.grad(lambda x: (x * w).sum())(mk(a))
        assert r.requires_grad                  # depends on a closed-over leaf
        v = fn.grad_and_value(lambda x: (x * x).sum())(mk(a))[1]
        assert not v.requires_grad


def test_grad_inside_autograd():
    """A transform's result on a tensor that requires grad can be backpropagated."""
    a = arr(3)
    res = []
    for lib, fn, mk in [(ember, ef, E), (torch, tf, T)]:
        x = mk(a, True)
        g = fn.grad(lambda y: (y ** 3).sum())(x)
        g.sum().backward()
        res.append(x.grad)
    close(res[0], res[1])


def test_grad_unused_and_constant_outputs_give_zeros():
    a = arr(3)
    close(ef.grad(lambda x, y: (y * 2).sum())(E(a), E(a)),
          tf.grad(lambda x, y: (y * 2).sum())(T(a), T(a)))
    close(ef.grad(lambda x: ember.ones(()) * 2)(E(a)), tf.grad(lambda x: torch.ones(()) * 2)(T(a)))


@pytest.mark.parametrize("call", [
    lambda fn, lib, x: fn.grad(lambda a: a)(x),
    lambda fn, lib, x: fn.grad(lambda a: a.sum(), argnums=2)(x),
    lambda fn, lib, x: fn.grad(lambda a: a.sum(), has_aux=True)(x),
    lambda fn, lib, x: fn.grad(lambda a: (a.sum(), 3), has_aux=True)(x),
    lambda fn, lib, x: fn.grad(lambda a: 3.0)(x),
    lambda fn, lib, x: fn.grad(lambda a: a.sum())(lib.ones(2, dtype=lib.long)),
    lambda fn, lib, x: fn.grad(lambda a: a.sum(), argnums=(0, 0))(x),
    lambda fn, lib, x: fn.grad(lambda a: a.sum(), argnums=1.5)(x),
    lambda fn, lib, x: fn.grad(lambda a: a.sum())(3.0),
    lambda fn, lib, x: fn.jvp(lib.sin, x, x),
    lambda fn, lib, x: fn.jvp(lib.sin, (x,), (x, x)),
    lambda fn, lib, x: fn.jvp(lib.sin, (x,), (lib.ones(2, dtype=lib.float64),)),
    lambda fn, lib, x: fn.vjp(lambda a: 3, x),
])
def test_transform_errors_as_torch(call):
    with pytest.raises(Exception) as te:
        call(tf, torch, T(arr(3, 4)))
    with pytest.raises(Exception) as ee:
        call(ef, ember, E(arr(3, 4)))
    assert type(ee.value) is type(te.value)
    assert str(ee.value).split(" TreeSpec")[0] == str(te.value).split(" TreeSpec")[0]


# ---- vjp, jvp ----------------------------------------------------------------------------

def test_vjp_two_outputs_called_twice():
    a, b = arr(3), arr(3)
    eo, efn = ef.vjp(lambda x, y: f_multi_out(ember, x, y), E(a), E(b))
    to, tfn = tf.vjp(lambda x, y: f_multi_out(torch, x, y), T(a), T(b))
    close(eo, to)
    c1, c2 = arr(3), arr()
    close(efn((E(c1), E(c2))), tfn((T(c1), T(c2))))
    close(efn((E(c2 * c1), E(c1[0]))), tfn((T(c2 * c1), T(c1[0]))))


def test_vjp_has_aux():
    a = arr(4)
    eo, efn, eaux = ef.vjp(lambda x: (ember.sin(x), x.cos()), E(a), has_aux=True)
    to, tfn, taux = tf.vjp(lambda x: (torch.sin(x), x.cos()), T(a), has_aux=True)
    close((eo, eaux), (to, taux))
    c = arr(4)
    close(efn(E(c)), tfn(T(c)))


@pytest.mark.parametrize("nin", [1, 2])
def test_jvp(nin):
    a, b, ta_, tb_ = arr(3), arr(3), arr(3), arr(3)
    if nin == 1:
        e = ef.jvp(lambda x: f_vec(ember, x), (E(a),), (E(ta_),))
        t = tf.jvp(lambda x: f_vec(torch, x), (T(a),), (T(ta_),))
    else:
        e = ef.jvp(lambda x, y: f_multi_out(ember, x, y), (E(a), E(b)), (E(ta_), E(tb_)))
        t = tf.jvp(lambda x, y: f_multi_out(torch, x, y), (T(a), T(b)), (T(ta_), T(tb_)))
    close(e, t)


def test_jvp_has_aux():
    a, v = arr(3), arr(3)
    close(ef.jvp(lambda x: (x.exp(), x.sum()), (E(a),), (E(v),), has_aux=True),
          tf.jvp(lambda x: (x.exp(), x.sum()), (T(a),), (T(v),), has_aux=True))


# ---- Jacobians, Hessian ------------------------------------------------------------------

@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
@pytest.mark.parametrize("argnums", [0, 1, (0, 1)])
def test_jacobians(jac, argnums):
    a, b = arr(2, 3), arr(3)
    e = getattr(ef, jac)(lambda x, y: f_multi_out(ember, x, y), argnums=argnums)(E(a), E(b))
    t = getattr(tf, jac)(lambda x, y: f_multi_out(torch, x, y), argnums=argnums)(T(a), T(b))
    close(e, t)


@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
def test_jacobian_has_aux_and_shapes(jac):
    a = arr(2, 2)
    e = getattr(ef, jac)(lambda x: (x @ x, x.sum()), has_aux=True)(E(a))
    t = getattr(tf, jac)(lambda x: (x @ x, x.sum()), has_aux=True)(T(a))
    close(e, t)


@pytest.mark.parametrize("argnums", [0, (0, 1)])
def test_hessian(argnums):
    a, b = arr(3), arr(3)
    f = (lambda lib: lambda x, y: (lib.sin(x) * y ** 3 + x ** 2 * y).sum())
    close(ef.hessian(f(ember), argnums=argnums)(E(a), E(b)),
          tf.hessian(f(torch), argnums=argnums)(T(a), T(b)))


def test_jacrev_of_jacrev_vs_autograd_functional():
    a = arr(3)
    e = ef.jacrev(ef.jacrev(lambda x: x.exp() * x.sum()))(E(a))
    t = tf.jacrev(tf.jacrev(lambda x: x.exp() * x.sum()))(T(a))
    close(e, t)


# ---- vmap --------------------------------------------------------------------------------

@pytest.mark.parametrize("in_dims,shapes", [
    (0, [(4, 3), (4, 3)]), (1, [(3, 4), (3, 4)]), ((0, None), [(4, 3), (3,)]),
    ((None, 1), [(3,), (3, 4)]), (-1, [(3, 4), (3, 4)])])
def test_vmap_in_dims(in_dims, shapes):
    data = [arr(*s) for s in shapes]

    def f(lib):
        return lambda x, y: (x * y).sum() + lib.sin(x)
    e = ef.vmap(f(ember), in_dims=in_dims)(*[E(d) for d in data])
    t = tf.vmap(f(torch), in_dims=in_dims)(*[T(d) for d in data])
    close(e, t)


@pytest.mark.parametrize("out_dims", [0, 1, -1, (0, None), (1, 0)])
def test_vmap_out_dims(out_dims):
    a, c = arr(4, 3), arr(2)

    def f(lib, c):
        return lambda x: (x[:, None] * x[None, :], c * 2)
    if out_dims in (0, 1, -1):
        e = ef.vmap(lambda x: ember.outer(x, x), out_dims=out_dims)(E(a))
        t = tf.vmap(lambda x: torch.outer(x, x), out_dims=out_dims)(T(a))
    else:
        e = ef.vmap(f(ember, E(c)), out_dims=out_dims)(E(a))
        t = tf.vmap(f(torch, T(c)), out_dims=out_dims)(T(a))
    close(e, t)


def test_vmap_nested_in_dims_and_trees():
    a, b = arr(4, 3), arr(4, 3)

    def f(lib):
        return lambda d, s: {"out": d["a"] * s + d["b"].sum()}
    e = ef.vmap(f(ember), in_dims=({"a": 0, "b": 0}, None))({"a": E(a), "b": E(b)}, E(np.array(2.0)))
    t = tf.vmap(f(torch), in_dims=({"a": 0, "b": 0}, None))({"a": T(a), "b": T(b)}, T(np.array(2.0)))
    close(e, t)


def test_nested_vmap():
    a, b = arr(2, 3, 4), arr(4)
    e = ef.vmap(ef.vmap(lambda x, y: (x * y).sum(), in_dims=(0, None)), in_dims=(0, None))(E(a), E(b))
    t = tf.vmap(tf.vmap(lambda x, y: (x * y).sum(), in_dims=(0, None)), in_dims=(0, None))(T(a), T(b))
    close(e, t)


def test_per_sample_gradients():
    """vmap(grad(loss)) with functional_call: the torch.func tutorial's pattern."""
    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    emodel = ember.nn.Sequential(ember.nn.Linear(3, 5), ember.nn.Tanh(), ember.nn.Linear(5, 2)).double()
    emodel.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tmodel.state_dict().items()})
    x, y = arr(6, 3), RNG.integers(0, 2, 6)

    def make(lib, fn, model):
        params = {k: v.detach() for k, v in model.named_parameters()}

        def loss(p, xb, yb):
            out = fn.functional_call(model, p, (xb.unsqueeze(0),))
            return lib.nn.functional.cross_entropy(out, yb.unsqueeze(0))
        return fn.vmap(fn.grad(loss), in_dims=(None, 0, 0))(params, *xy(lib))
    xy = lambda lib: (lib.tensor(x, dtype=lib.float64), lib.tensor(y))  # noqa: E731
    close(make(ember, ef, emodel), make(torch, tf, tmodel))


def test_vmap_randomness():
    x = E(arr(3, 2))
    with pytest.raises(RuntimeError, match="randomness error mode"):
        ef.vmap(lambda a: a + ember.rand(2))(x)
    same = ef.vmap(lambda a: ember.rand(2), randomness="same")(x)
    assert (same == same[0]).all()
    diff = ef.vmap(lambda a: ember.rand(2), randomness="different")(x)
    assert not (diff == diff[0]).all()
    with pytest.raises(RuntimeError, match="Only allowed values for randomness"):
        ef.vmap(ember.sin, randomness="bad")


@pytest.mark.parametrize("call", [
    lambda fn, lib, x: fn.vmap(lib.sin, in_dims=(None,))(x),
    lambda fn, lib, x: fn.vmap(lib.add)(x, lib.ones(2, 4, dtype=lib.float64)),
    lambda fn, lib, x: fn.vmap(lambda a: 3)(x),
    lambda fn, lib, x: fn.vmap(lib.sin, in_dims=2)(x),
    lambda fn, lib, x: fn.vmap(lib.sin, in_dims="a")(x),
    lambda fn, lib, x: fn.vmap(lambda a: a, out_dims=None)(x),
    lambda fn, lib, x: fn.vmap(lib.sin)(3.0),
])
def test_vmap_errors_as_torch(call):
    with pytest.raises(Exception) as te:
        call(tf, torch, T(arr(3, 4)))
    with pytest.raises(Exception) as ee:
        call(ef, ember, E(arr(3, 4)))
    assert type(ee.value) is type(te.value)
    assert str(ee.value) == str(te.value)


def test_vmap_empty_batch():
    close(ef.vmap(lambda a: a.sum())(E(np.zeros((0, 3)))), tf.vmap(lambda a: a.sum())(T(np.zeros((0, 3)))))


def test_vmap_batched_and_loop_paths(monkeypatch):
    """A Linear/activation stack runs in one batched call; a function Ember
    cannot see into runs once per example; both give torch's values."""
    calls = []
    real = ember.nn.Linear.forward

    def counting(self, x):
        calls.append(tuple(x.shape))
        return real(self, x)
    monkeypatch.setattr(ember.nn.Linear, "forward", counting)
    torch.manual_seed(1)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GELU(), torch.nn.LayerNorm(4)).double()
    em = ember.nn.Sequential(ember.nn.Linear(3, 4), ember.nn.GELU(), ember.nn.LayerNorm(4)).double()
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    a = arr(5, 2, 3)
    close(ef.vmap(em)(E(a)), tf.vmap(tm)(T(a)))
    assert calls == [(5, 2, 3)]                                  # batched: one call
    calls.clear()
    close(ef.vmap(em, in_dims=1, out_dims=1)(E(a)), tf.vmap(tm, in_dims=1, out_dims=1)(T(a)))
    assert calls == [(2, 5, 3)]
    calls.clear()
    close(ef.vmap(ef.vmap(em))(E(a)), tf.vmap(tf.vmap(tm))(T(a)))   # nested: still one call
    assert calls == [(5, 2, 3)]
    calls.clear()
    close(ef.vmap(lambda x: em(x))(E(a)), tf.vmap(lambda x: tm(x))(T(a)))
    assert calls == [(2, 3)] * 5                                 # a lambda: the loop
    calls.clear()
    em.train()
    em.append(ember.nn.Dropout(0.5))                             # random in train mode: loop
    with pytest.raises(RuntimeError, match="randomness error mode"):
        ef.vmap(em)(E(a))
    em.eval()
    ef.vmap(em)(E(a))
    assert calls[-1] == (5, 2, 3)


def test_vmap_elementwise_function_batched():
    a = arr(4, 3)
    close(ef.vmap(ember.sin, in_dims=1)(E(a)), tf.vmap(torch.sin, in_dims=1)(T(a)))
    close(ef.vmap(ember.nn.functional.gelu)(E(a)), tf.vmap(torch.nn.functional.gelu)(T(a)))


def test_vmap_gradient_flows_to_batched_input():
    a = arr(4, 3)
    res = []
    for lib, fn, mk in [(ember, ef, E), (torch, tf, T)]:
        x = mk(a, True)
        fn.vmap(lambda r: (r ** 2).sum() * r[0])(x).sum().backward()
        res.append(x.grad)
    close(res[0], res[1])


def test_top_level_vmap():
    assert ember.vmap is ef.vmap


# ---- functional_call ---------------------------------------------------------------------

def _pair_models():
    torch.manual_seed(2)
    tm = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3)).double()
    em = ember.nn.Sequential(ember.nn.Linear(2, 3), ember.nn.BatchNorm1d(3)).double()
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return em, tm


def test_functional_call_values_grads_and_restore():
    em, tm = _pair_models()
    w, x = arr(3, 2), arr(4, 2)
    ew, tw = E(w, True), T(w, True)
    eo = ef.functional_call(em, {"0.weight": ew}, (E(x),))
    to = tf.functional_call(tm, {"0.weight": tw}, (T(x),))
    close(eo, to)
    eo.sum().backward(), to.sum().backward()
    close(ew.grad, tw.grad)
    assert em[0].weight is not ew and isinstance(em[0].weight, ember.nn.Parameter)
    close(em[1].running_mean, tm[1].running_mean)   # buffers updated as torch does
    eo2 = ef.functional_call(em, ({"0.bias": E(np.zeros(3))}, {"1.running_mean": E(np.ones(3))}), E(x))
    to2 = tf.functional_call(tm, ({"0.bias": T(np.zeros(3))}, {"1.running_mean": T(np.ones(3))}), T(x))
    close(eo2, to2)


@pytest.mark.parametrize("case", ["strict", "dup", "tied", "tied_conflict", "not_tensor", "untied"])
def test_functional_call_rules_as_torch(case):
    def run(lib, fn):
        lib.manual_seed(0)

        class Tied(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.a, self.b = lib.nn.Linear(2, 2), lib.nn.Linear(2, 2)
                self.b.weight = self.a.weight

            def forward(self, x):
                return self.b(self.a(x))
        m = Tied().double()
        with lib.no_grad():
            for i, p in enumerate(m.parameters()):
                p.copy_(lib.tensor(np.arange(p.numel()).reshape(p.shape) * 0.1 + i))
        x = lib.ones(1, 2, dtype=lib.float64)
        z = lib.zeros(2, 2, dtype=lib.float64)
        if case == "strict":
            return fn.functional_call(m, {"a.weight": z}, x, strict=True)
        if case == "dup":
            return fn.functional_call(m, ({"a.weight": z}, {"a.weight": z}), x)
        if case == "tied":
            return fn.functional_call(m, {"a.weight": z}, x)
        if case == "untied":
            return fn.functional_call(m, {"a.weight": z}, x, tie_weights=False)
        if case == "tied_conflict":
            return fn.functional_call(m, {"a.weight": z, "b.weight": z + 1}, x)
        return fn.functional_call(m, {"a.weight": 3}, x)
    try:
        t = run(torch, tf)
    except Exception as te:
        with pytest.raises(type(te)) as ee:
            run(ember, ef)
        assert str(ee.value) == str(te)
        return
    close(run(ember, ef), t)


def test_stateless_functional_call_warns():
    m = ember.nn.Linear(2, 1)
    with pytest.warns(FutureWarning, match="deprecated"):
        out = ember.nn.utils.stateless.functional_call(m, {"bias": ember.zeros(1)}, ember.zeros(1, 2))
    assert out.tolist() == [[0.0]]


# ---- ensembles: stack_module_state + vmap + functional_call ----------------------------------

def test_model_ensembling_as_torch_tutorial():
    torch.manual_seed(3)
    tms = [torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).double()
           for _ in range(3)]
    ems = []
    for tm in tms:
        em = ember.nn.Sequential(ember.nn.Linear(3, 4), ember.nn.ReLU(), ember.nn.Linear(4, 2)).double()
        em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
        ems.append(em)
    x = arr(5, 3)

    def run(lib, fn, models):
        params, buffers = fn.stack_module_state(models)
        assert all(p.requires_grad and p.is_leaf for p in params.values())
        base = models[0]

        def f(p, b, xb):
            return fn.functional_call(base, (p, b), (xb,))
        return fn.vmap(f, in_dims=(0, 0, None))(params, buffers, lib.tensor(x, dtype=lib.float64))
    close(run(ember, ef, ems), run(torch, tf, tms))


def test_stack_module_state_errors_and_buffers():
    bns = [ember.nn.BatchNorm1d(2) for _ in range(2)]
    p, b = ef.stack_module_state(bns)
    assert b["running_mean"].shape == (2, 2) and not b["running_mean"].requires_grad
    assert b["num_batches_tracked"].dtype is ember.int64
    with pytest.raises(RuntimeError, match="Expected at least one model"):
        ef.stack_module_state([])
    m = ember.nn.Linear(2, 3)
    m.eval()
    with pytest.raises(RuntimeError, match="same training/eval mode"):
        ef.stack_module_state([m, ember.nn.Linear(2, 3)])


def test_linearize_and_functionalize():
    a, v = arr(3), arr(3)
    eo, efn = ef.linearize(lambda x: x.sin() * x, E(a))
    to, tfn = tf.linearize(lambda x: x.sin() * x, T(a))
    close(eo, to)
    close(efn(E(v)), tfn(T(v)))

    def f(x):
        y = x.clone()
        y.add_(1)
        return y * 2
    assert ef.functionalize(f) is f
    close(ef.functionalize(f)(E(a)), tf.functionalize(f)(T(a)))
