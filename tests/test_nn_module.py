"""The Module system of ember.nn against torch.nn: registration, naming,
state dicts, containers, repr, hooks, modes, conversion and copying."""
import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as tnn

import ember
import ember.nn as enn
from helpers import assert_close, rand, shares_memory


def as_numpy_state(tmod):
    return {k: v.detach().cpu().numpy().copy() for k, v in tmod.state_dict().items()}


def err(fn):
    """The exception ``fn()`` raises (type, message with torch's names made Ember's)."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return type(e), str(e).replace("torch.", "ember.").replace("torch", "ember")
    raise AssertionError("no exception raised")


class Block(object):
    """Builds the same custom module class in either framework."""

    @staticmethod
    def make(nn, lib):
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(3, 4)
                self.scale = nn.Parameter(lib.ones(4))
                self.register_buffer("running", lib.zeros(4))
                self.register_buffer("cache", lib.zeros(2), persistent=False)
                self.register_buffer("steps", lib.tensor(0))
                self.act = nn.Tanh()

            def forward(self, x):
                return self.act(self.fc(x)) * self.scale + self.running

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleList([Block(), Block()])
                self.head = nn.Sequential(OrderedDict([("proj", nn.Linear(4, 2)),
                                                       ("out", nn.Identity())]))
                self.extra = nn.ParameterDict({"b": nn.Parameter(lib.zeros(2)),
                                               "a": nn.Parameter(lib.ones(3))})

            def forward(self, x):
                for b in self.blocks:
                    x = b(x)[..., :3]
                return self.head(b(x))

        return Net()


def nets():
    torch.manual_seed(0)
    return Block.make(enn, ember), Block.make(tnn, torch)


# ---- registration -----------------------------------------------------------------------

def test_names_and_order_match_torch():
    e, t = nets()
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in e.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in e.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in e.named_children()] == [n for n, _ in t.named_children()]
    assert list(e.state_dict()) == list(t.state_dict())
    assert [n for n, _ in e.named_parameters(prefix="m", recurse=False)] == \
        [n for n, _ in t.named_parameters(prefix="m", recurse=False)]
    assert [n for n, _ in e.named_modules(prefix="root")] == \
        [n for n, _ in t.named_modules(prefix="root")]
    assert "cache" not in str(list(e.state_dict()))
    assert list(e.state_dict()._metadata) == list(t.state_dict()._metadata)


def test_forward_matches_torch_after_loading_state():
    e, t = nets()
    e.load_state_dict(as_numpy_state(t))
    x = rand(5, 3, dtype=np.float32)
    assert_close(e(ember.tensor(x)), t(torch.tensor(x)))


def test_setattr_registration_and_errors():
    m = enn.Module()
    m.w = enn.Parameter(ember.zeros(2))
    m.sub = enn.Linear(2, 2)
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"]
    assert m.plain == 3 and "plain" in m.__dict__
    m.w = None  # None keeps the slot, as torch
    assert "w" in m._parameters and m.w is None
    assert list(m.named_parameters())[0][0] == "sub.weight"
    for mod in (enn.Module(), tnn.Module()):
        lib = ember if isinstance(mod, enn.Module) else torch
        mod.p = (enn if lib is ember else tnn).Parameter(lib.zeros(1))
        mod.register_buffer("b", lib.zeros(1))
    e, t = enn.Module(), tnn.Module()
    e.p, t.p = enn.Parameter(ember.zeros(1)), tnn.Parameter(torch.zeros(1))
    assert err(lambda: setattr(e, "p", ember.zeros(1))) == err(lambda: setattr(t, "p", torch.zeros(1)))
    e.c, t.c = enn.Linear(1, 1), tnn.Linear(1, 1)
    assert err(lambda: setattr(e, "c", 3)) == err(lambda: setattr(t, "c", 3))
    e.register_buffer("b", ember.zeros(1))
    t.register_buffer("b", torch.zeros(1))
    assert err(lambda: setattr(e, "b", 3)) == err(lambda: setattr(t, "b", 3))
    for name in ("a.b", "", 3):
        assert err(lambda: e.register_parameter(name, None))[0] == \
            err(lambda: t.register_parameter(name, None))[0]
        assert err(lambda: e.register_buffer(name, None)) == err(lambda: t.register_buffer(name, None))
    e.x, t.x = 1, 1
    assert err(lambda: e.register_buffer("x", ember.zeros(1))) == \
        err(lambda: t.register_buffer("x", torch.zeros(1)))
    assert err(lambda: e.register_parameter("q", ember.zeros(1))) == \
        err(lambda: t.register_parameter("q", torch.zeros(1)))
    assert err(lambda: e.add_module("m", 3)) == err(lambda: t.add_module("m", 3))
    assert err(lambda: e.register_buffer("z", 3)) == err(lambda: t.register_buffer("z", 3))
    assert err(lambda: e.nothing) == err(lambda: t.nothing)
    # a non-leaf can't become a parameter
    y = ember.ones(2, requires_grad=True) * 2
    with pytest.raises(TypeError):
        e.register_parameter("nl", y)


def test_assign_before_init_raises():
    class Bad(enn.Module):
        def __init__(self):
            self.w = enn.Parameter(ember.zeros(1))

    with pytest.raises(AttributeError, match=r"cannot assign parameters before Module.__init__\(\) call"):
        Bad()


def test_delattr_and_buffer_marker():
    m = enn.Module()
    m.w = enn.Parameter(ember.zeros(2))
    m.b = enn.Buffer(ember.ones(2), persistent=False)
    assert "b" in m._buffers and type(m.b) is ember.Tensor and "b" not in m.state_dict()
    m.b = ember.zeros(2)  # stays a buffer, still non-persistent
    assert "b" in m._buffers and "b" not in m.state_dict()
    del m.w, m.b
    assert not m._parameters and not m._buffers
    with pytest.raises(AttributeError):
        del m.nothing


def test_shared_parameters_yielded_once():
    for nn in (enn, tnn):
        emb = nn.Embedding(10, 4)
        head = nn.Linear(4, 10, bias=False)
        head.weight = emb.weight  # tied weights
        model = nn.Sequential(emb, head)
        assert len(list(model.parameters())) == 1
        assert [n for n, _ in model.named_parameters()] == ["0.weight"]
        assert [n for n, _ in model.named_parameters(remove_duplicate=False)] == ["0.weight", "1.weight"]
        assert list(model.state_dict()) == ["0.weight", "1.weight"]
        shared = nn.Linear(2, 2)
        m2 = nn.Sequential(shared, nn.ReLU(), shared)
        assert len(list(m2.modules())) == 3 and len(list(m2.parameters())) == 2
        assert [n for n, _ in m2.named_modules(remove_duplicate=False)] == ["", "0", "1", "2"]


# ---- state dict ---------------------------------------------------------------------------

def test_state_dict_shares_memory_and_keep_vars():
    m = enn.Linear(2, 3)
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert not sd["weight"].requires_grad and type(sd["weight"]) is ember.Tensor
    sd["weight"].zero_()
    assert (m.weight.detach().cpu().numpy() == 0).all()
    assert m.state_dict(keep_vars=True)["weight"] is m.weight
    assert list(m.state_dict(prefix="pre.")) == ["pre.weight", "pre.bias"]


def test_load_state_dict_errors_match_torch():
    e, t = enn.Linear(4, 4), tnn.Linear(4, 4)
    bad = {"weight": np.zeros((3, 4), np.float32), "bias": np.zeros(4, np.float32),
           "extra": np.zeros(1, np.float32)}
    te, tt = err(lambda: e.load_state_dict(bad)), \
        err(lambda: t.load_state_dict({k: torch.tensor(v) for k, v in bad.items()}))
    assert te == tt
    assert te[0] is RuntimeError
    assert "Error(s) in loading state_dict for Linear:\n\tUnexpected key(s) in state_dict: \"extra\". " \
           "\n\tsize mismatch for weight: copying a param with shape ember.Size([3, 4]) from " \
           "checkpoint, the shape in current model is ember.Size([4, 4])." == te[1]
    assert err(lambda: e.load_state_dict({"weight": np.zeros((4, 4))})) == \
        err(lambda: t.load_state_dict({"weight": torch.zeros(4, 4)}))
    assert err(lambda: e.load_state_dict([1, 2])) == err(lambda: t.load_state_dict([1, 2]))
    # nested: the message names the top-level class and dotted keys
    en, tn = nets()
    sd = as_numpy_state(tn)
    sd.pop("head.proj.bias")
    sd["blocks.0.nope"] = np.zeros(1)
    sd["nothere.x"] = np.zeros(1)
    assert err(lambda: en.load_state_dict(sd)) == \
        err(lambda: tn.load_state_dict({k: torch.tensor(v) for k, v in sd.items()}))


def test_load_state_dict_non_strict_result():
    en, tn = nets()
    sd = as_numpy_state(tn)
    sd.pop("head.proj.bias")
    sd["blocks.1.fc.other"] = np.zeros(2)
    re = en.load_state_dict(sd, strict=False)
    rt = tn.load_state_dict({k: torch.tensor(v) for k, v in sd.items()}, strict=False)
    assert re.missing_keys == rt.missing_keys == ["head.proj.bias"]
    assert re.unexpected_keys == rt.unexpected_keys
    assert repr(re) == repr(rt).replace("_IncompatibleKeys", "_IncompatibleKeys")
    assert repr(en.load_state_dict(as_numpy_state(tn))) == "<All keys matched successfully>"
    assert re == (re.missing_keys, re.unexpected_keys)


def test_load_state_dict_accepts_numpy_torch_and_ember_values():
    t = tnn.Linear(3, 2)
    e = enn.Linear(3, 2)
    w_before = e.weight
    e.load_state_dict(t.state_dict())  # torch tensors directly
    assert_close(e.weight, t.weight)
    assert e.weight is w_before  # copied in place: optimizers keep working
    e2 = enn.Linear(3, 2).double()
    e2.load_state_dict(as_numpy_state(t))  # float32 arrays into float64 params: cast
    assert e2.weight.dtype == ember.float64
    e3 = enn.Linear(3, 2)
    e3.load_state_dict(e.state_dict())
    assert_close(e3.bias, t.bias)
    e4 = enn.Linear(3, 2)
    sd = {k: ember.tensor(v) for k, v in as_numpy_state(t).items()}
    e4.load_state_dict(sd, assign=True)
    assert isinstance(e4.weight, enn.Parameter) and e4.weight.requires_grad
    assert shares_memory(e4.weight.detach(), sd["weight"])
    # 0-d parameters accept 1-element 1-d entries (old checkpoints)
    m = enn.Module()
    m.s = enn.Parameter(ember.tensor(0.0))
    m.load_state_dict({"s": np.array([3.0])})
    assert m.s.item() == 3.0


def test_load_state_dict_in_no_grad_keeps_graph_clean():
    e = enn.Linear(2, 2)
    e.load_state_dict(as_numpy_state(tnn.Linear(2, 2)))
    assert e.weight.grad_fn is None and e.weight.is_leaf


# ---- containers -----------------------------------------------------------------------

def test_sequential_behaviour():
    for nn in (enn, tnn):
        a, b, c = nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)
        s = nn.Sequential(a, b, c)
        assert len(s) == 3 and s[0] is a and s[-1] is c and s[-3] is a
        assert list(s) == [a, b, c]
        sl = s[1:]
        assert type(sl) is nn.Sequential and list(sl) == [b, c] and list(sl._modules) == ["1", "2"]
        with pytest.raises(IndexError, match="index 3 is out of range"):
            s[3]
        with pytest.raises(IndexError, match="index -4 is out of range"):
            s[-4]
        d = nn.Dropout()
        s.append(d)
        assert s[3] is d
        s.insert(1, nn.Tanh())
        assert [type(m).__name__ for m in s] == ["Linear", "Tanh", "ReLU", "Linear", "Dropout"]
        assert list(s._modules) == ["0", "1", "2", "3", "4"]
        s.extend([nn.Identity()])
        popped = s.pop(1)
        assert type(popped).__name__ == "Tanh" and list(s._modules) == ["0", "1", "2", "3", "4"]
        del s[0]
        assert s[0] is b
        del s[1:3]
        assert [type(m).__name__ for m in s] == ["ReLU", "Identity"]
        s[0] = nn.Sigmoid()
        assert type(s[0]).__name__ == "Sigmoid"
        named = nn.Sequential(OrderedDict([("first", a), ("second", c)]))
        assert named.first is a and list(named._modules) == ["first", "second"]
        both = named + nn.Sequential(b)
        assert len(both) == 3
        assert len(nn.Sequential(a) * 3) == 3
        with pytest.raises(ValueError):
            nn.Sequential(a) + [b]


def test_sequential_forward_matches():
    x = rand(4, 3)
    t = tnn.Sequential(tnn.Linear(3, 5), tnn.ReLU(), tnn.Linear(5, 2)).double()
    e = enn.Sequential(enn.Linear(3, 5), enn.ReLU(), enn.Linear(5, 2)).double()
    e.load_state_dict(as_numpy_state(t))
    assert_close(e(ember.tensor(x)), t(torch.tensor(x)))


def test_module_list_and_dict():
    for nn in (enn, tnn):
        ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
        assert len(ml) == 3 and ml[-1] is ml[2]
        ml.append(nn.ReLU())
        ml.extend([nn.Tanh()])
        ml.insert(0, nn.Identity())
        assert [type(m).__name__ for m in ml] == ["Identity", "Linear", "Linear", "Linear", "ReLU", "Tanh"]
        del ml[1]
        assert list(ml._modules) == [str(i) for i in range(5)]
        assert type(ml[1:3]) is nn.ModuleList and len(ml[1:3]) == 2
        ml += [nn.Sigmoid()]
        assert len(ml) == 6 and len(ml + ml) == 12
        with pytest.raises(IndexError, match="index 6 is out of range"):
            ml[6]
        with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable"):
            ml.extend(3)
        with pytest.raises(NotImplementedError, match="missing the required \"forward\" function"):
            ml(1)
        md = nn.ModuleDict({"b": nn.ReLU(), "a": nn.Tanh()})
        assert list(md.keys()) == ["b", "a"] and "a" in md and len(md) == 2
        md["c"] = nn.Identity()
        assert list(md) == ["b", "a", "c"]
        assert type(md.pop("a")).__name__ == "Tanh"
        md.update([("z", nn.ReLU())])
        assert [k for k, _ in md.items()] == ["b", "c", "z"]
        md.clear()
        assert len(md) == 0


def test_parameter_list_and_dict():
    for nn, lib in ((enn, ember), (tnn, torch)):
        pl = nn.ParameterList([nn.Parameter(lib.zeros(2)), lib.ones(3)])
        assert len(pl) == 2 and all(isinstance(p, nn.Parameter) for p in pl)
        pl.append(lib.zeros(1))
        assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
        assert len(pl[1:]) == 2
        with pytest.raises(RuntimeError, match="ParameterList should not be called"):
            pl()
        pd = nn.ParameterDict({"b": lib.zeros(1), "a": lib.zeros(2)})
        assert list(pd) == ["a", "b"]  # a plain dict is added in sorted order, as torch
        pd["c"] = nn.Parameter(lib.ones(1))
        assert isinstance(pd["a"], nn.Parameter) and "c" in pd and len(pd) == 3
        assert pd.get("zz") is None and list(pd.keys()) == ["a", "b", "c"]
        pd.pop("b")
        assert [n for n, _ in pd.named_parameters()] == ["a", "c"]


# ---- repr ---------------------------------------------------------------------------------

def test_repr_matches_torch_for_nested_model():
    def build(nn, lib):
        return nn.Sequential(
            nn.Linear(2, 3), nn.ReLU(inplace=True),
            nn.Sequential(nn.Linear(3, 3, bias=False), nn.Dropout(0.1), nn.GELU(approximate="tanh")),
            nn.ModuleList([nn.Linear(1, 1)] * 3 + [nn.ReLU(), nn.Tanh(), nn.Tanh()]),
            nn.ModuleDict({"emb": nn.Embedding(5, 2, padding_idx=0), "sm": nn.Softmax(dim=-1)}),
            nn.ParameterList([nn.Parameter(lib.zeros(2, 3)), lib.zeros(2)]),
            nn.ParameterDict({"a": nn.Parameter(lib.zeros(1))}),
            nn.Flatten(), nn.LeakyReLU(0.2), nn.PReLU(3), nn.Identity(), nn.ModuleList(),
        )
    e, t = repr(build(enn, ember)), repr(build(tnn, torch))
    assert e == t.replace("torch.", "ember.")
    assert repr(Block.make(enn, ember)) == repr(Block.make(tnn, torch)).replace("torch.", "ember.")


def test_extra_repr_multiline_and_custom():
    for nn in (enn, tnn):
        class Custom(nn.Module):
            def extra_repr(self):
                return "a=1\nb=2"

        c = Custom()
        c.child = nn.ReLU()
        assert repr(c) == "Custom(\n  a=1\n  b=2\n  (child): ReLU()\n)"


# ---- modes, grads, conversion ---------------------------------------------------------

def test_train_eval_propagate():
    e, _ = nets()
    assert e.training and all(m.training for m in e.modules())
    assert e.eval() is e
    assert not any(m.training for m in e.modules())
    e.blocks.train()
    assert e.blocks[1].act.training and not e.head.training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        e.train("yes")


def test_requires_grad_and_zero_grad():
    e, _ = nets()
    e(ember.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in e.blocks.parameters())
    e.zero_grad(set_to_none=False)
    assert all((p.grad.cpu().numpy() == 0).all() for p in e.blocks.parameters())
    e.zero_grad()
    assert all(p.grad is None for p in e.parameters())
    e.requires_grad_(False)
    assert not any(p.requires_grad for p in e.parameters())


def test_to_and_dtype_conversion_keeps_identity():
    e, _ = nets()
    w = e.blocks[0].fc.weight
    assert e.double() is e
    assert e.blocks[0].fc.weight is w and w.dtype == ember.float64
    assert e.blocks[0].running.dtype == ember.float64
    assert e.blocks[0].steps.dtype == ember.int64  # integer buffers keep their dtype
    e.to(ember.float32)
    assert w.dtype == ember.float32
    e.to("cpu")
    e.to(ember.device("cpu"), dtype=ember.float64)
    assert w.dtype == ember.float64
    e.float().half()
    assert w.dtype == ember.float16
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point"):
        e.to(ember.int32)
    if not ember.cuda.is_available():     # (tests/test_cuda_device.py: with CUDA)
        with pytest.raises(RuntimeError, match="is not available"):
            e.to("cuda")
        with pytest.raises(RuntimeError, match="is not available"):
            e.cuda()
    assert e.cpu() is e


def test_grad_is_converted_with_parameters():
    m = enn.Linear(2, 2)
    m(ember.randn(1, 2)).sum().backward()
    m.double()
    assert m.weight.grad.dtype == ember.float64


def test_apply_and_children_order():
    for nn in (enn, tnn):
        seen = []
        s = nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.ReLU()))
        assert s.apply(lambda m: seen.append(type(m).__name__)) is s
        assert seen == ["Linear", "ReLU", "Sequential", "Sequential"]


def test_get_submodule_parameter_buffer():
    e, t = nets()
    assert e.get_submodule("blocks.1.fc") is e.blocks[1].fc
    assert e.get_submodule("") is e
    assert e.get_parameter("blocks.0.scale") is e.blocks[0].scale
    assert e.get_buffer("blocks.0.running") is e.blocks[0].running
    for target in ("blocks.5", "blocks.0.nothing", "blocks.0.fc.weight.x"):
        assert err(lambda: e.get_submodule(target)) == err(lambda: t.get_submodule(target))
    assert err(lambda: e.get_parameter("blocks.0.running")) == \
        err(lambda: t.get_parameter("blocks.0.running"))
    assert err(lambda: e.get_buffer("blocks.0.scale")) == err(lambda: t.get_buffer("blocks.0.scale"))


def test_dir_lists_registered_names():
    e, _ = nets()
    d = dir(e.blocks[0])
    assert {"fc", "scale", "running", "act", "forward", "training"} <= set(d)
    assert not any(k[0].isdigit() for k in dir(e.blocks))


def test_deepcopy_and_pickle():
    e, _ = nets()
    e.head.proj.weight.grad = ember.ones(2, 4)
    c = copy.deepcopy(e)
    assert c.blocks[0].fc.weight is not e.blocks[0].fc.weight
    assert isinstance(c.blocks[0].fc.weight, enn.Parameter)
    for (n1, p1), (n2, p2) in zip(e.state_dict().items(), c.state_dict().items()):
        assert n1 == n2 and np.array_equal(p1.cpu().numpy(), p2.cpu().numpy())
    x = ember.randn(3, 3)
    np.testing.assert_array_equal(c(x).detach().cpu().numpy(), e(x).detach().cpu().numpy())
    c.blocks[0].fc.weight.detach().zero_()
    assert not (e.blocks[0].fc.weight.detach().cpu().numpy() == 0).all()
    assert (c.head.proj.weight.grad.cpu().numpy() == 1).all()
    # shared parameters stay shared in the copy
    s = enn.Sequential(enn.Linear(2, 2))
    s.append(s[0])
    s2 = copy.deepcopy(s)
    assert s2[0] is s2[1] and len(list(s2.parameters())) == 2
    seq = enn.Sequential(enn.Linear(3, 4), enn.ReLU(), enn.Embedding(3, 2))
    p = pickle.loads(pickle.dumps(seq))
    assert list(p.state_dict()) == list(seq.state_dict())
    assert isinstance(p[0].weight, enn.Parameter) and p[0].weight.requires_grad
    np.testing.assert_array_equal(p[:2](x).detach().cpu().numpy(), seq[:2](x).detach().cpu().numpy())


# ---- hooks ---------------------------------------------------------------------------

def test_forward_hooks_match_torch():
    for nn, lib in ((enn, ember), (tnn, torch)):
        m = nn.Linear(2, 2)
        calls = []
        h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
        h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
        y = m(lib.ones(3, 2))
        np.testing.assert_allclose(y.detach().cpu().numpy(), np.broadcast_to(m.bias.detach().cpu().numpy() + 1, (3, 2)))
        assert calls == [(3, 2)]
        h1.remove()
        h2.remove()
        assert len(calls) == 1 and m(lib.ones(1, 2)).shape == (1, 2) and len(calls) == 1

        def kw_pre(mod, args, kwargs):
            return args, {}

        def kw_post(mod, args, kwargs, out):
            calls.append(("kw", kwargs))

        m.register_forward_pre_hook(kw_pre, with_kwargs=True)
        m.register_forward_hook(kw_post, with_kwargs=True)
        m(lib.ones(1, 2))
        assert calls[-1] == ("kw", {})
        order = []
        m2 = nn.ReLU()
        m2.register_forward_hook(lambda *a: order.append("first"))
        m2.register_forward_hook(lambda *a: order.append("zero"), prepend=True)
        m2(lib.ones(1))
        assert order == ["zero", "first"]


def test_hook_handle_context_manager():
    m = enn.ReLU()
    calls = []
    with m.register_forward_hook(lambda *a: calls.append(1)):
        m(ember.ones(1))
    m(ember.ones(1))
    assert calls == [1]


def test_full_backward_hooks_match_torch():
    x = rand(3, 2)
    results = {}
    for nn, lib in ((tnn, torch), (enn, ember)):
        m = nn.Linear(2, 2).double()
        if lib is ember:
            m.load_state_dict(as_numpy_state(results["torch_mod"]))
        seen = []

        def hook(mod, gin, gout):
            seen.append(([None if g is None else g.detach().cpu().numpy().copy() for g in gin],
                         [g.detach().cpu().numpy().copy() for g in gout]))
            return (gin[0] * 2,)

        def pre(mod, gout):
            seen.append("pre")

        m.register_full_backward_pre_hook(pre)
        m.register_full_backward_hook(hook)
        xi = lib.tensor(x, requires_grad=True)
        m(xi).sum().backward()
        results[lib.__name__] = (seen, xi.grad.detach().cpu().numpy().copy())
        results["torch_mod"] = m
    (se, ge), (st, gt) = results["ember"], results["torch"]
    assert se[0] == st[0] == "pre"
    np.testing.assert_allclose(se[1][0][0], st[1][0][0])
    np.testing.assert_allclose(se[1][1][0], st[1][1][0])
    np.testing.assert_allclose(ge, gt)


def test_backward_hook_without_input_grad_runs_with_none():
    for nn, lib in ((enn, ember), (tnn, torch)):
        m = nn.Linear(2, 1)
        seen = []
        m.register_full_backward_hook(lambda mod, gin, gout: seen.append(gin))
        with pytest.warns(UserWarning, match="Full backward hook is firing when gradients are "
                                             "computed with respect to module outputs"):
            m(lib.ones(1, 2)).sum().backward()
        assert seen == [(None,)]


def test_global_forward_hook():
    from ember.nn.modules.module import register_module_forward_hook
    calls = []
    h = register_module_forward_hook(lambda m, a, o: calls.append(type(m).__name__))
    try:
        enn.Sequential(enn.ReLU())(ember.ones(1))
    finally:
        h.remove()
    enn.ReLU()(ember.ones(1))
    assert calls == ["ReLU", "Sequential"]


def test_call_runs_forward_with_kwargs():
    class M(enn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    assert M()(ember.ones(1), scale=3.0).item() == 3.0
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward" function'):
        enn.Module()(1)


def test_module_init_rejects_unexpected_args():
    with pytest.raises(TypeError):
        enn.Module(3)


# ---- a training step on a custom model ---------------------------------------------------

def test_training_step_matches_torch():
    en, tn = nets()
    en.load_state_dict(as_numpy_state(tn))
    x = rand(6, 3, dtype=np.float32)
    for net, lib in ((en, ember), (tn, torch)):
        out = net(lib.tensor(x))
        (out ** 2).mean().backward()
    for (n, pe), (_, pt) in zip(en.named_parameters(), tn.named_parameters()):
        if pt.grad is None:
            assert pe.grad is None, n
        else:
            assert_close(pe.grad, pt.grad, what=n)


# ---- nn.utils -------------------------------------------------------------------------

@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_clip_grad_norm_matches_torch(norm_type):
    grads = [rand(3, 4), rand(5, seed=1)]
    results = []
    for lib in (ember, torch):
        ps = [lib.tensor(np.zeros_like(g), requires_grad=True) for g in grads]
        for p, g in zip(ps, grads):
            p.grad = lib.tensor(g.copy())
        total = (enn if lib is ember else tnn).utils.clip_grad_norm_(ps, 0.5, norm_type=norm_type)
        results.append((total, [p.grad for p in ps]))
    assert_close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        assert_close(a, b)


def test_clip_grad_edge_cases():
    p = ember.zeros(3, requires_grad=True)
    p.grad = ember.tensor([float("nan"), 1.0, 2.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        enn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    q = ember.zeros(2, requires_grad=True)
    assert enn.utils.clip_grad_norm_(q, 1.0).item() == 0.0  # no grads: norm 0
    q.grad = ember.tensor([0.1, 0.2])
    enn.utils.clip_grad_norm_(q, 10.0)  # below the bound: unchanged
    np.testing.assert_allclose(q.grad.cpu().numpy(), [0.1, 0.2], rtol=1e-6)
    q.grad = ember.tensor([-3.0, 0.5])
    enn.utils.clip_grad_value_(q, 1.0)
    assert q.grad.tolist() == [-1.0, 0.5]


def test_parameters_vector_roundtrip():
    m = enn.Linear(3, 2)
    t = tnn.Linear(3, 2)
    m.load_state_dict(t.state_dict())
    v = enn.utils.parameters_to_vector(m.parameters())
    assert_close(v, tnn.utils.parameters_to_vector(t.parameters()))
    enn.utils.vector_to_parameters(ember.arange(8, dtype=ember.float32), m.parameters())
    assert m.weight.tolist() == [[0, 1, 2], [3, 4, 5]] and m.bias.tolist() == [6, 7]
    with pytest.raises(TypeError):
        enn.utils.vector_to_parameters([1, 2], m.parameters())
