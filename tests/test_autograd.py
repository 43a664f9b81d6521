"""Autograd engine semantics, each checked against torch's behaviour."""
import numpy as np
import pytest
import torch

import ember
from helpers import assert_close


def both(arr, requires_grad=True):
    arr = np.asarray(arr, dtype=np.float64)
    return (ember.tensor(arr, requires_grad=requires_grad),
            torch.tensor(arr, requires_grad=requires_grad))


# ---- backward basics ---------------------------------------------------------------

def test_grad_accumulates_across_backward_calls():
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        (x * 3).sum().backward()
        assert x.grad.tolist() == [5.0, 7.0]


def test_reused_tensor_accumulates_in_one_backward():
    (xe, xt) = both([1.0, -2.0, 3.0])
    for x in (xe, xt):
        y = x * x
        (y * x + y + x).sum().backward()
    assert_close(xe.grad, xt.grad)


def test_second_backward_raises_unless_retained():
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        y.backward(retain_graph=True)
        y.backward()
        assert x.grad.tolist() == [4.0, 8.0]
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            y.backward()


def test_second_backward_through_graph_without_saved_tensors_is_fine():
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = (x + 1).sum()
        y.backward()
        y.backward()
        assert x.grad.tolist() == [2.0, 2.0]


def test_nonscalar_backward_needs_gradient():
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
            (x * 2).backward()
        (x * 2).backward(lib.tensor([1.0, 10.0]))
        assert x.grad.tolist() == [2.0, 20.0]


def test_backward_on_tensor_without_grad_raises():
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0])
        with pytest.raises(RuntimeError, match="does not require grad"):
            x.sum().backward()


def test_leaf_and_grad_fn_flags():
    x = ember.tensor([1.0], requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf
    assert y.grad_fn is not None and x.grad_fn is None
    assert y.grad_fn.name() == "MulBackward0"
    nxt = y.grad_fn.next_functions
    assert nxt[0][0].name() == "AccumulateGrad" and nxt[0][0].variable is x
    z = ember.tensor([1.0]) * 2
    assert z.is_leaf and not z.requires_grad


def test_requires_grad_only_for_floats():
    for lib in (ember, torch):
        with pytest.raises(RuntimeError, match="only Tensors of floating point"):
            lib.tensor([1, 2]).requires_grad_()


def test_requires_grad_flag_on_nonleaf_raises():
    for lib in (ember, torch):
        x = lib.tensor([1.0], requires_grad=True)
        y = x * 2
        with pytest.raises(RuntimeError, match="leaf variables"):
            y.requires_grad_(False)


def test_long_chain_has_no_recursion_limit():
    x = ember.tensor([1.0], dtype=ember.float64, requires_grad=True)
    y = x
    for _ in range(10000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), [1.0001 ** 10000], rtol=1e-4)


def test_integer_outputs_do_not_require_grad():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    assert not (x > 1).requires_grad
    assert not (x.long()).requires_grad


def test_mixed_dtype_grads_come_back_in_input_dtype():
    a32 = ember.tensor([1.0, 2.0], dtype=ember.float32, requires_grad=True)
    b64 = ember.tensor([3.0, 4.0], dtype=ember.float64, requires_grad=True)
    t32 = torch.tensor([1.0, 2.0], dtype=torch.float32, requires_grad=True)
    t64 = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    (a32 * b64).sum().backward()
    (t32 * t64).sum().backward()
    assert_close(a32.grad, t32.grad)
    assert_close(b64.grad, t64.grad)


# ---- autograd.grad -----------------------------------------------------------------

def test_grad_returns_without_touching_dot_grad():
    xe, xt = both([1.0, 2.0, 3.0])
    ge, = ember.autograd.grad((xe ** 3).sum(), xe)
    gt, = torch.autograd.grad((xt ** 3).sum(), xt)
    assert_close(ge, gt)
    assert xe.grad is None


def test_grad_allow_unused():
    for lib in (ember, torch):
        x = lib.tensor([1.0], requires_grad=True)
        z = lib.tensor([1.0], requires_grad=True)
        y = (x * 2).sum()
        with pytest.raises(RuntimeError, match="appears to not have been used"):
            lib.autograd.grad(y, [x, z], retain_graph=True)
        gx, gz = lib.autograd.grad(y, [x, z], allow_unused=True)
        assert gz is None and gx.tolist() == [2.0]


def test_grad_wrt_intermediate():
    xe, xt = both([1.0, 2.0])
    res = []
    for lib, x in ((ember, xe), (torch, xt)):
        h = x * x
        y = (h * 3 + x).sum()
        res.append(lib.autograd.grad(y, [h, x]))
    assert_close(res[0], res[1])


def test_higher_order_gradients_match_torch():
    xe, xt = both([0.5, -1.0, 2.0])
    out = []
    for lib, x in ((ember, xe), (torch, xt)):
        y = (x ** 3 * 2 + x * x).sum()
        g, = lib.autograd.grad(y, x, create_graph=True)
        gg, = lib.autograd.grad((g * g).sum(), x, create_graph=True)
        ggg, = lib.autograd.grad(gg.sum(), x)
        out.append((g, gg, ggg))
    assert_close(out[0][0].detach(), out[1][0].detach())
    assert_close(out[0][1].detach(), out[1][1].detach())
    assert_close(out[0][2], out[1][2])


def test_hessian_vector_product_through_matmul():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    v = rng.standard_normal(4)
    xe, xt = both(rng.standard_normal(4))
    res = []
    for lib, x in ((ember, xe), (torch, xt)):
        Am = lib.tensor(A)
        f = ((Am @ x) ** 2).sum() + (x * x * x).sum()
        g, = lib.autograd.grad(f, x, create_graph=True)
        hv, = lib.autograd.grad((g * lib.tensor(v)).sum(), x)
        res.append(hv)
    assert_close(res[0], res[1])


def test_gradient_penalty_backward_into_params():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((3, 5))
    xin = rng.standard_normal((2, 3))
    res = []
    for lib in (ember, torch):
        w = lib.tensor(W, requires_grad=True)
        x = lib.tensor(xin, requires_grad=True)
        out = ((x @ w) ** 2).sum()
        g, = lib.autograd.grad(out, x, create_graph=True)
        penalty = ((g * g).sum(dim=1) - 1.0) ** 2
        penalty.sum().backward()
        res.append(w.grad)
    assert_close(res[0], res[1])


# ---- hooks and retain_grad -------------------------------------------------------------

def test_tensor_hooks_can_replace_gradients():
    res = []
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        seen = []
        x.register_hook(lambda g: seen.append(g.clone()))
        y = x * 3
        y.register_hook(lambda g: g * 10)
        y.sum().backward()
        res.append((x.grad, seen[0]))
    assert_close(res[0][0], res[1][0])
    assert_close(res[0][1], res[1][1])


def test_hook_handle_remove():
    x = ember.tensor([1.0], requires_grad=True)
    h = x.register_hook(lambda g: g * 100)
    h.remove()
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0]


def test_retain_grad_on_nonleaf():
    res = []
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * x
        y.retain_grad()
        assert y.retains_grad
        (y * 3).sum().backward()
        res.append(y.grad)
    assert_close(res[0], res[1])
    z = ember.tensor([1.0], requires_grad=True) * 2
    assert z.grad is None


# ---- grad modes ----------------------------------------------------------------------

def test_no_grad_and_friends():
    x = ember.tensor([1.0], requires_grad=True)
    with ember.no_grad():
        assert not (x * 2).requires_grad
        assert not ember.is_grad_enabled()
        with ember.enable_grad():
            assert (x * 2).requires_grad
    assert ember.is_grad_enabled()
    with ember.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    ember.set_grad_enabled(False)
    assert not ember.is_grad_enabled()
    ember.set_grad_enabled(True)
    with ember.inference_mode():
        assert not (x * 2).requires_grad
        assert ember.is_inference_mode_enabled()


def test_grad_modes_as_decorators():
    x = ember.tensor([1.0], requires_grad=True)

    @ember.no_grad()
    def f():
        return x * 2

    @ember.no_grad
    def f2():
        return x * 2

    @ember.enable_grad()
    def g():
        return x * 2

    @ember.inference_mode()
    def h():
        return x * 2

    assert not f().requires_grad and not f2().requires_grad and not h().requires_grad
    with ember.no_grad():
        assert g().requires_grad


def _mode_cases(lib):
    """What each grad-mode switch does, as a dict: compared between torch and Ember."""
    out = {}
    with lib.no_grad():
        with lib.inference_mode(False):     # (turns recording on, even inside no_grad)
            out["inference_mode(False) in no_grad"] = (lib.is_grad_enabled(),
                                                       lib.is_inference_mode_enabled())

    @lib.inference_mode
    def bare():
        return lib.is_grad_enabled(), lib.is_inference_mode_enabled()
    out["@inference_mode"] = bare()

    @lib.set_grad_enabled(False)
    def off():
        return lib.is_grad_enabled()
    out["@set_grad_enabled(False): after decorating, inside"] = (lib.is_grad_enabled(), off())

    @lib.no_grad()
    def gen():
        for _ in range(2):
            yield lib.is_grad_enabled()
    g = gen()
    out["@no_grad generator: inside, between yields, inside"] = (next(g), lib.is_grad_enabled(),
                                                                 next(g))
    g.close()
    with lib.no_grad():
        @lib.enable_grad()
        def gen2():
            yield lib.is_grad_enabled()
        out["@enable_grad generator in no_grad"] = (next(gen2()), lib.is_grad_enabled())
    s = lib.set_grad_enabled(False)
    first = lib.is_grad_enabled()
    with s:
        inside = lib.is_grad_enabled()
    out["set_grad_enabled(False) then with"] = (first, inside, lib.is_grad_enabled())
    with pytest.raises(TypeError) as info:
        lib.set_grad_enabled(1)
    out["set_grad_enabled(1)"] = str(info.value)
    return out


def test_grad_mode_switches_as_torch():
    assert _mode_cases(ember) == _mode_cases(torch)
    assert ember.is_grad_enabled()


# ---- in-place rules and version counters ------------------------------------------------

def test_inplace_on_leaf_requiring_grad_raises():
    for lib in (ember, torch):
        x = lib.tensor([1.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            x.add_(1)
        with lib.no_grad():
            x.add_(1)
        assert x.tolist() == [2.0]


def test_modified_saved_tensor_raises_at_backward():
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        z = y * y
        y.mul_(3)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.sum().backward()


def test_inplace_on_unsaved_tensor_is_fine_and_correct():
    res = []
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x + 1          # add saves nothing
        z = y * x
        y.mul_(2)          # version bump, but z saved y? (mul saves both) -> only check add chain
        w = (y * 5).sum()
        w.backward()
        res.append(x.grad)
    assert_close(res[0], res[1])


def test_inplace_on_nonleaf_gradient():
    res = []
    for lib in (ember, torch):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = x * 2
        y.mul_(x)
        y.add_(1.5)
        y.sum().backward()
        res.append(x.grad)
    assert_close(res[0], res[1])


def test_version_counter_shared_with_views():
    x = ember.zeros(4)
    v = x.reshape(2, 2)
    before = x._version
    v.add_(1)
    assert x._version == before + 1 == v._version
    assert x.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_inplace_on_view_rebases_base_gradient():
    res = []
    for lib in (ember, torch):
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        y = x * 1
        v = y.reshape(4)
        v.mul_(lib.tensor([1.0, 2.0, 3.0, 4.0]))
        (y * y).sum().backward()
        res.append(x.grad)
    assert_close(res[0], res[1])


# ---- detach, .data, numpy ------------------------------------------------------------

def test_detach_shares_memory_and_version():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None
    d.add_(1)
    assert x.tolist() == [2.0, 3.0]


def test_data_attribute_is_detached_alias():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    x.data.mul_(2)
    assert x.tolist() == [2.0, 4.0]
    x.data = ember.tensor([5.0, 6.0])
    assert x.tolist() == [5.0, 6.0] and x.requires_grad


def test_numpy_refuses_when_requires_grad():
    x = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        x.numpy()
    assert x.detach().cpu().numpy().tolist() == [1.0]


# ---- custom Function ------------------------------------------------------------------

def _make_cube(lib):
    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(x)
            ctx.k = k
            return x * x * x * k

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            assert ctx.needs_input_grad[0]
            return g * 3 * x * x * ctx.k, None
    return Cube


def test_custom_function_first_and_second_order():
    xe, xt = both([1.0, -2.0])
    res = []
    for lib, x in ((ember, xe), (torch, xt)):
        Cube = _make_cube(lib)
        y = Cube.apply(x, 2.0)
        assert y.grad_fn is not None
        g, = lib.autograd.grad(y.sum(), x, create_graph=True)
        gg, = lib.autograd.grad(g.sum(), x)
        res.append((y, g, gg))
    assert_close(res[0][0].detach(), res[1][0].detach())
    assert_close(res[0][1].detach(), res[1][1].detach())
    assert_close(res[0][2], res[1][2])


def test_custom_function_mark_non_differentiable_and_multiple_outputs():
    for lib in (ember, torch):
        class SortLike(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                idx = (x > 0).long()
                ctx.mark_non_differentiable(idx)
                return x * 2, idx

            @staticmethod
            def backward(ctx, g, gidx):
                return g * 2

        x = lib.tensor([1.0, -1.0], requires_grad=True)
        y, idx = SortLike.apply(x)
        assert not idx.requires_grad
        y.sum().backward()
        assert x.grad.tolist() == [2.0, 2.0]


def test_custom_function_wrong_number_of_grads():
    class Bad(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    a = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        Bad.apply(a, a).sum().backward()


def test_once_differentiable_raises_on_double_backward():
    class Sq(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @ember.autograd.once_differentiable
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * 2 * x

    x = ember.tensor([3.0], requires_grad=True)
    g, = ember.autograd.grad(Sq.apply(x).sum(), x, create_graph=True)
    assert g.tolist() == [6.0]
    with pytest.raises(RuntimeError, match="SqBackward is not differentiable twice"):
        ember.autograd.grad(g.sum(), x)


# ---- gradcheck and anomaly detection -------------------------------------------------------

def test_gradcheck_passes_and_fails():
    x = ember.tensor(np.random.default_rng(0).standard_normal(4), requires_grad=True)
    assert ember.autograd.gradcheck(lambda t: (t * t * t).sum(), (x,))

    class Wrong(ember.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return t * t

        @staticmethod
        def backward(ctx, g):
            return g * 3.0

    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        ember.autograd.gradcheck(Wrong.apply, (x,))


def test_gradgradcheck():
    x = ember.tensor(np.random.default_rng(0).standard_normal(3), requires_grad=True)
    assert ember.autograd.gradgradcheck(lambda t: (t ** 3).sum(), (x,))


def test_detect_anomaly_names_the_op():
    class NanBack(ember.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return t * 1

        @staticmethod
        def backward(ctx, g):
            return g * float("nan")

    x = ember.tensor([1.0], requires_grad=True)
    with pytest.warns(UserWarning):
        with ember.autograd.detect_anomaly():
            y = NanBack.apply(x)
            with pytest.raises(RuntimeError, match="NanBackBackward.*returned nan"):
                y.sum().backward()
