"""torch checkpoints: torch writes, Ember reads (zip and legacy formats, as
torch.load(weights_only=True) would) and Ember writes, torch reads; crafted and
malicious files are refused without running anything."""
import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
import torch

import ember
import ember.models  # (not imported by `import ember`)
from ember.serialization import SerializationError
from test_models import torch_twin


def as_np(t):
    return t.detach().numpy(force=True)


def assert_same(e, t):
    """Ember value ``e`` equals torch value ``t``: tensors by dtype, shape, bits."""
    if isinstance(t, torch.Tensor):
        assert isinstance(e, ember.Tensor), type(e)
        assert tuple(e.shape) == tuple(t.shape)
        assert e.requires_grad == t.requires_grad
        if t.dtype == torch.bfloat16:
            want = t.detach().float().numpy()
            bf = _bf16()
            if bf is not None:
                assert e.dtype == bf
                got = as_np(e.float())
            else:                                  # widened exactly to float32
                assert e.dtype == ember.float32
                got = as_np(e)
            np.testing.assert_array_equal(got, want)
            return
        assert str(e.dtype).split(".")[1] == str(t.dtype).split(".")[1]
        np.testing.assert_array_equal(as_np(e), t.detach().numpy())
    elif isinstance(t, dict):
        assert type(e) is type(t)
        assert list(e) == list(t)
        for k in t:
            assert_same(e[k], t[k])
    elif isinstance(t, (list, tuple)):
        assert type(e) is type(t) and len(e) == len(t)
        for a, b in zip(e, t):
            assert_same(a, b)
    else:
        assert e == t and type(e) is type(t)


def _bf16():
    """Ember's bfloat16 dtype, or None while Ember has none (then bfloat16 loads
    widened exactly to float32)."""
    from ember._torch_format._dtypes import _ember_bf16
    return _ember_bf16()


def same_memory(a, b):
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


# ---- torch writes, Ember reads -----------------------------------------------------------------

def _twin(module, build):
    torch.manual_seed(0)
    return build(torch_twin(module) if module else None)


REFERENCE = {
    "mlp": ("ember.models.mlp", lambda T: T.MLP(12, (8, 6), 3),
            lambda: ember.models.MLP(12, (8, 6), 3), (2, 12)),
    "lenet": ("ember.models.lenet", lambda T: T.LeNet5(),
              lambda: ember.models.LeNet5(), (2, 1, 28, 28)),
    "resnet": ("ember.models.resnet", lambda T: T.resnet_small(num_classes=4),
               lambda: ember.models.resnet_small(num_classes=4), (2, 3, 8, 8)),
    "char_lstm": ("ember.models.lstm_lm", lambda T: T.CharLSTM(11, 6, 10, 2),
                  lambda: ember.models.CharLSTM(11, 6, 10, 2), None),
    # (gpt.py uses Ember-only layers, so torch gets a module of the same parameters)
    "gpt": (None, lambda T: _torch_gpt(),
            lambda: ember.models.GPT(ember.models.GPTConfig(vocab_size=20, block_size=8,
                                                            n_layer=1, n_head=2, n_embd=8)),
            None),
}


def _torch_gpt():
    """A torch module with the tiny GPT's parameter names and shapes, and its tied
    embedding/LM-head weight."""
    ember.manual_seed(0)
    src = REFERENCE["gpt"][2]()
    tm = torch.nn.Module()
    for name, p in src.named_parameters(remove_duplicate=False):
        *path, leaf = name.split(".")
        mod = tm
        for part in path:
            if not hasattr(mod, part):
                mod.add_module(part, torch.nn.Module())
            mod = getattr(mod, part)
        if name == "lm_head.weight":
            mod.weight = tm.transformer.wte.weight
        else:
            mod.register_parameter(leaf, torch.nn.Parameter(torch.randn(tuple(p.shape))))
    return tm


@pytest.mark.parametrize("name", list(REFERENCE))
def test_reference_model_state_dicts_from_torch(tmp_path, name):
    module, build_torch, build_ember, shape = REFERENCE[name]
    tm = _twin(module, build_torch).eval()
    path = tmp_path / f"{name}.pt"
    torch.save(tm.state_dict(), path)
    sd = ember.load(path)
    assert isinstance(sd, collections.OrderedDict)
    assert sd._metadata == tm.state_dict()._metadata
    assert_same(sd, tm.state_dict())
    em = build_ember().eval()
    em.load_state_dict(sd)
    for (k, p), (k2, q) in zip(em.state_dict().items(), tm.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(as_np(p), q.numpy())
    if shape is not None:                         # the loaded model computes what torch's does
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        with torch.no_grad(), ember.no_grad():
            np.testing.assert_allclose(as_np(em(ember.tensor(x))),
                                       tm(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)


def test_tied_weights_load_as_one_buffer(tmp_path):
    tm = _twin(*REFERENCE["gpt"][:2])
    sd = tm.state_dict()
    tied = [k for k in sd if sd[k].data_ptr() == sd["transformer.wte.weight"].data_ptr()]
    assert len(tied) == 2                          # the embedding and the LM head
    torch.save(sd, tmp_path / "gpt.pt")
    out = ember.load(tmp_path / "gpt.pt")
    a, b = (out[k] for k in tied)
    assert same_memory(a, b) and a.data_ptr() == b.data_ptr()


def test_adam_checkpoint_from_torch_resumes_like_torch(tmp_path):
    T = torch_twin("ember.models.mlp")
    torch.manual_seed(0)
    tm = T.MLP(6, (5,), 3)
    topt = torch.optim.Adam(tm.parameters(), lr=0.01)
    x = torch.randn(4, 6)
    for _ in range(2):
        topt.zero_grad()
        tm(x).square().sum().backward()
        topt.step()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": tm.state_dict(), "optimizer": topt.state_dict(), "epoch": 2}, path)
    ck = ember.load(path)
    assert ck["epoch"] == 2
    assert_same(ck["optimizer"], topt.state_dict())
    em = ember.models.MLP(6, (5,), 3)
    em.load_state_dict(ck["model"])
    eopt = ember.optim.Adam(em.parameters(), lr=0.01)
    eopt.load_state_dict(ck["optimizer"])
    # one more step on both: the restored moments and step counts must give torch's update
    topt.zero_grad()
    tm(x).square().sum().backward()
    topt.step()
    eopt.zero_grad()
    em(ember.tensor(x.numpy())).square().sum().backward()
    eopt.step()
    for p, q in zip(em.parameters(), tm.parameters()):
        np.testing.assert_allclose(as_np(p), q.detach().numpy(), rtol=1e-5, atol=1e-6)


def _views():
    base = torch.arange(24.)
    return {"base": base, "slice": base[2:10], "t": base.view(4, 6).t(),
            "step": base[1::3], "row": base.view(4, 6)[2], "expand": base[:1].expand(3, 4)}


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_shared_views_stay_shared(tmp_path, legacy):
    obj = _views()
    path = tmp_path / "views.pt"
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    out = ember.load(path)
    assert_same(out, obj)
    for k in obj:
        assert same_memory(out[k], out["base"]), k
        assert out[k].stride() == obj[k].stride() and \
            out[k].storage_offset() == obj[k].storage_offset(), k
    out["base"].mul_(-1)                           # one write, seen through every view
    for k in obj:
        np.testing.assert_array_equal(as_np(out[k]), -obj[k].numpy())


DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8,
          torch.uint8, torch.int16, torch.int32, torch.int64, torch.bool]


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_dtypes_from_torch(tmp_path, legacy):
    g = torch.Generator().manual_seed(0)
    obj = {str(dt): (torch.randn(3, 4, generator=g) * 50).to(dt) for dt in DTYPES}
    obj["bf16_view"] = obj["torch.bfloat16"][1:, ::2]
    obj["scalar"] = torch.tensor(2.5)
    obj["empty"] = torch.zeros(0, 3, dtype=torch.int64)
    path = tmp_path / "dtypes.pt"
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    out = ember.load(path)
    assert_same(out, obj)
    assert same_memory(out["bf16_view"], out["torch.bfloat16"])


def test_what_ember_cannot_represent_is_refused_by_name(tmp_path):
    torch.save({"u": torch.tensor([1, 2]).to(torch.uint16)}, tmp_path / "u16.pt")
    with pytest.raises(SerializationError, match=r"u16\.pt: holds torch\.uint16 tensors"):
        ember.load(tmp_path / "u16.pt")
    # a whole pickled module, as torch.save(model) writes: weights_only refuses it too
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")
    with pytest.raises(pickle.UnpicklingError,
                       match="refused to load global torch.nn.modules.linear.Linear"):
        ember.load(tmp_path / "module.pt")
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / "module.pt", weights_only=True)
    torch.save(torch.ones(2).to_sparse(), tmp_path / "sparse.pt")
    with pytest.raises(pickle.UnpicklingError, match="sparse"):
        ember.load(tmp_path / "sparse.pt")


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_everything_weights_only_allows(tmp_path, legacy):
    p = torch.nn.Parameter(torch.ones(2, 3))
    frozen = torch.nn.Parameter(torch.zeros(2), requires_grad=False)
    obj = {"p": p, "frozen": frozen, "grad": torch.ones(2, requires_grad=True),
           "dtype": torch.float16, "device": torch.device("cpu"), "size": torch.Size([2, 3]),
           "bytes": b"\x00\xffabc", "bytearray": bytearray(b"xy"), "set": {1, 2},
           "complex": 1 + 2j, "big": 2 ** 80, "neg": -7, "float": 0.1, "none": None,
           "nested": [(1, "a", [p]), {"k": (None, True)}],
           "counter": collections.Counter("aab")}
    path = tmp_path / "misc.pt"
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    out = ember.load(path)
    assert isinstance(out["p"], ember.nn.Parameter) and out["p"].requires_grad
    assert isinstance(out["frozen"], ember.nn.Parameter) and not out["frozen"].requires_grad
    assert out["grad"].requires_grad and not isinstance(out["grad"], ember.nn.Parameter)
    assert out["nested"][0][2][0] is out["p"]     # one object saved twice loads as one
    assert out["dtype"] is ember.float16 and out["device"] == ember.device("cpu")
    assert out["size"] == ember.Size([2, 3]) and isinstance(out["size"], ember.Size)
    assert out["counter"] == collections.Counter("aab")
    for k in ("bytes", "bytearray", "set", "complex", "big", "neg", "float", "none"):
        assert out[k] == obj[k] and type(out[k]) is type(obj[k]), k


def test_mmap_maps_instead_of_reading(tmp_path):
    obj = _views()
    path = tmp_path / "views.pt"
    torch.save(obj, path)
    out = ember.load(path, mmap=True)
    assert_same(out, obj)
    root = out["t"]._data
    while isinstance(root.base, np.ndarray) and not isinstance(root, np.memmap):
        root = root.base
    assert isinstance(root, np.memmap)             # the file's pages, not a copy
    assert same_memory(out["t"], out["base"])
    out["base"].fill_(-1.0)                        # copy-on-write: the file is unchanged
    assert_same(ember.load(path, mmap=True), obj)
    for f in (io.BytesIO(path.read_bytes()), open(path, "rb")):   # (paths only, as torch)
        with pytest.raises(ValueError, match="f must be a file path in order to use the mmap"):
            ember.load(f, mmap=True)
        f.close()
    torch.save(obj, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(RuntimeError, match="mmap can only be used"):
        ember.load(tmp_path / "legacy.pt", mmap=True)


def test_file_objects_and_streams(tmp_path):
    obj = {"w": torch.arange(6.).view(2, 3)}
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    assert_same(ember.load(buf), obj)
    legacy = io.BytesIO()
    torch.save(obj, legacy, _use_new_zipfile_serialization=False)
    legacy.seek(0)
    assert_same(ember.load(legacy), obj)


def _relocated(tmp_path, where):
    """A torch checkpoint whose storages say they were saved on ``where`` (a GPU)."""
    src = tmp_path / "cpu.pt"
    base = torch.arange(4.)
    torch.save({"w": base, "v": base[1:]}, src)
    old = b"X\x03\x00\x00\x00cpu"
    new = b"X" + struct.pack("<I", len(where)) + where.encode()
    return _rezip(src, tmp_path / "gpu.pt", pkl=lambda b: b.replace(old, new))


def test_map_location(tmp_path):
    path = _relocated(tmp_path, "cuda:1")
    # torch itself reads the crafted file (it is a real checkpoint)
    assert torch.equal(torch.load(path, map_location="cpu", weights_only=True)["w"],
                       torch.arange(4.))
    with pytest.raises(RuntimeError, match="CUDA device but torch.cuda.is_available"):
        ember.load(path)
    seen = []

    def keep(storage, location):
        seen.append(location)
        return storage

    for ml in ("cpu", ember.device("cpu"), torch.device("cpu"), {"cuda:1": "cpu"},
               {"cuda:1": torch.device("cpu")}, keep, lambda s, loc: s.cpu()):
        out = ember.load(path, map_location=ml)
        np.testing.assert_array_equal(as_np(out["w"]), np.arange(4.))
        assert same_memory(out["w"], out["v"])
    assert seen == ["cuda:1"]                      # once per storage
    with pytest.raises(RuntimeError, match="CUDA device"):
        ember.load(path, map_location={"cuda:0": "cpu"})        # not this file's location
    with pytest.raises(RuntimeError, match="CUDA device"):
        ember.load(path, map_location=lambda s, loc: None)      # None: the default place
    with pytest.raises(TypeError, match="map_location"):
        ember.load(path, map_location=lambda s, loc: "cpu")
    with pytest.raises(TypeError, match="map_location"):
        ember.load(path, map_location=3)


# ---- Ember writes, torch reads ------------------------------------------------------------------

def _torch_reads(obj, path):
    ember.save(obj, path, format="torch")
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize("name", ["mlp", "gpt", "resnet"])
def test_reference_models_to_torch(tmp_path, name):
    module, build_torch, build_ember, shape = REFERENCE[name]
    ember.manual_seed(0)
    em = build_ember()
    got = _torch_reads(em.state_dict(), tmp_path / "m.pt")
    tm = build_torch(torch_twin(module) if module else None)
    tm.load_state_dict(got)                        # names and shapes are torch's
    for (k, p), (k2, q) in zip(em.state_dict().items(), got.items()):
        assert k == k2
        np.testing.assert_array_equal(as_np(p), q.numpy())
    assert got._metadata == em.state_dict()._metadata
    # and back: Ember reads its own torch-format file
    again = ember.load(tmp_path / "m.pt")
    for p, q in zip(again.values(), em.state_dict().values()):
        np.testing.assert_array_equal(as_np(p), as_np(q))


def test_optimizer_checkpoint_to_torch(tmp_path):
    em = ember.models.MLP(6, (5,), 3)
    opt = ember.optim.Adam(em.parameters(), lr=0.01)
    em(ember.randn(4, 6)).square().sum().backward()
    opt.step()
    ck = {"model": em.state_dict(), "optimizer": opt.state_dict(), "epoch": 1}
    got = _torch_reads(ck, tmp_path / "ck.pt")
    tm = torch_twin("ember.models.mlp").MLP(6, (5,), 3)
    tm.load_state_dict(got["model"])
    topt = torch.optim.Adam(tm.parameters(), lr=0.01)
    topt.load_state_dict(got["optimizer"])
    assert got["epoch"] == 1
    state = opt.state_dict()
    for i, s in state["state"].items():
        for k, v in s.items():
            np.testing.assert_array_equal(got["optimizer"]["state"][i][k].numpy(), as_np(v))
    assert got["optimizer"]["param_groups"] == state["param_groups"]


def test_shared_views_to_torch(tmp_path):
    base = ember.arange(24.)
    obj = {"base": base, "slice": base[2:10], "t": base.view(4, 6).t(), "step": base[1::3],
           "row": base.view(4, 6)[2], "again": base}
    got = _torch_reads(obj, tmp_path / "v.pt")
    for k, v in obj.items():
        np.testing.assert_array_equal(got[k].numpy(), as_np(v))
        assert got[k].untyped_storage().data_ptr() == got["base"].untyped_storage().data_ptr()
        assert got[k].stride() == v.stride() and got[k].storage_offset() == v.storage_offset()
    assert got["again"] is got["base"]
    mapped = torch.load(tmp_path / "v.pt", weights_only=True, mmap=True)   # (64-byte aligned)
    assert torch.equal(mapped["t"], got["t"])
    got["base"].add_(1)
    np.testing.assert_array_equal(got["t"].numpy(), as_np(obj["t"]) + 1)


def test_containers_and_dtypes_to_torch(tmp_path):
    w = ember.nn.Parameter(ember.ones(2, 2))
    obj = {"p": w, "rg": ember.ones(2, requires_grad=True), "f16": ember.ones(3, dtype=ember.float16),
           "i64": ember.arange(5), "bool": ember.tensor([True, False]),
           "u8": ember.tensor([1, 255], dtype=ember.uint8), "f64": ember.tensor([0.1]),
           "scalar": ember.tensor(3.0), "empty": ember.zeros(0, 2), "dtype": ember.int32,
           "device": ember.device("cpu"), "size": ember.Size([3, 1]), "bytes": b"\x00\x01",
           "bytearray": bytearray(b"ab"), "set": {3, 1}, "complex": 2 - 1j, "big": -2 ** 70,
           "tuple": (1, (2.5, "x", None), [True]), "odict": collections.OrderedDict(a=1),
           "many": [ember.full((1,), float(i)) for i in range(300)]}  # (memo past one byte)
    got = _torch_reads(obj, tmp_path / "c.pt")
    assert isinstance(got["p"], torch.nn.Parameter) and got["p"].requires_grad
    assert got["rg"].requires_grad and not isinstance(got["rg"], torch.nn.Parameter)
    for k in ("f16", "i64", "bool", "u8", "f64", "scalar", "empty"):
        assert str(got[k].dtype) == "torch." + obj[k].dtype.name, k
        np.testing.assert_array_equal(got[k].numpy(), as_np(obj[k]))
    assert got["dtype"] is torch.int32 and got["device"] == torch.device("cpu")
    assert got["size"] == torch.Size([3, 1]) and type(got["size"]) is torch.Size
    for k in ("bytes", "bytearray", "set", "complex", "big", "tuple", "odict"):
        assert got[k] == obj[k] and type(got[k]) is type(obj[k]), k
    assert [t.item() for t in got["many"]] == list(range(300))
    buf = io.BytesIO()                             # to a file object, and Ember reads it back
    ember.save(obj, buf, format="torch")
    buf.seek(0)
    back = ember.load(buf)
    assert back["p"].tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert [t.item() for t in back["many"]] == list(range(300))


@pytest.mark.skipif(_bf16() is None, reason="Ember has no bfloat16 dtype yet")
def test_bfloat16_to_torch(tmp_path):
    t = torch.randn(3, 4).to(torch.bfloat16)
    e = ember.tensor(t.float().numpy()).to(_bf16())
    got = _torch_reads({"b": e, "v": e[1:, ::2]}, tmp_path / "bf.pt")
    assert got["b"].dtype == torch.bfloat16 and torch.equal(got["b"], t)
    assert got["v"].untyped_storage().data_ptr() == got["b"].untyped_storage().data_ptr()


@pytest.mark.parametrize("bad, what", [
    (np.ones(2), "NumPy array"), (np.float32(1.0), "NumPy"), (frozenset({1}), "frozenset"),
    (collections.namedtuple("P", "x")(1), "named tuple"), (lambda: 0, "function"),
])
def test_save_refuses_what_torch_would_not_load(tmp_path, bad, what):
    path = tmp_path / "bad.pt"
    with pytest.raises(TypeError, match=rf"{what}.*at obj\['x'\]\[0\]"):
        ember.save({"x": [bad]}, path, format="torch")
    assert not path.exists()
    with pytest.raises(ValueError, match="format"):
        ember.save({}, path, format="pickle")


# ---- crafted and malicious files ------------------------------------------------------------------

MARKER = "ember_pwned_marker"


class _System:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Exec:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def _rezip(src, dst, pkl=None, drop=(), replace=None, compress=()):
    """Copy torch zip ``src`` to ``dst``, editing data.pkl with ``pkl(bytes)``, dropping
    records whose name ends with one of ``drop`` and replacing others (``replace``)."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            name = info.filename
            data = zin.read(name)
            if any(name.endswith(d) for d in drop):
                continue
            if name.endswith("/data.pkl") and pkl is not None:
                data = pkl(data)
            for suffix, value in replace.items():
                if name.endswith(suffix):
                    data = value
            kind = zipfile.ZIP_DEFLATED if any(name.endswith(c) for c in compress) \
                else zipfile.ZIP_STORED
            zout.writestr(name, data, compress_type=kind)
    return dst


def _G(module, name):
    return b"c" + f"{module}\n{name}\n".encode()


def _S(s):
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _I(n):
    return b"J" + struct.pack("<i", n)


def _T(items):
    return b"(" + b"".join(_I(i) for i in items) + b"t"


def _tensor_pkl(key="0", numel=4, offset=0, size=(4,), stride=(1,), stype="FloatStorage",
                rg=b"\x89", location="cpu", pid=None):
    """The pickle torch writes for one tensor, with every field open to crafting."""
    if pid is None:
        pid = b"(" + _S("storage") + _G("torch", stype) + _S(key) + _S(location) + _I(numel) \
            + b"t"
    return (b"\x80\x02" + _G("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + b"Q"
            + _I(offset) + _T(size) + _T(stride) + rg + _G("collections", "OrderedDict")
            + b")RtR.")


def _zip(path, pkl, records=None):
    """A torch-layout zip: archive/data.pkl, the storages' records, version."""
    records = {"0": np.arange(4, dtype=np.float32).tobytes()} if records is None else records
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", b"little")
        for k, v in records.items():
            z.writestr(f"archive/data/{k}", v)
        z.writestr("archive/version", b"3\n")
    return path


def _evil_legacy(tmp_path, payload):
    """A legacy-format stream whose object pickle is ``payload``."""
    head = b"".join(pickle.dumps(x, protocol=2) for x in (
        0x1950a86a20f9469cfc6c, 1001,
        {"protocol_version": 1001, "little_endian": True,
         "type_sizes": {"short": 2, "int": 4, "long": 4}}))
    path = tmp_path / "evil_legacy.pt"
    path.write_bytes(head + payload + pickle.dumps([], protocol=2))
    return path


def test_crafted_baseline_is_a_valid_checkpoint(tmp_path):
    """The crafting helpers make files both torch and Ember read: each failure below
    comes from its one corruption, not from the helpers."""
    path = _zip(tmp_path / "ok.pt", _tensor_pkl())
    assert torch.load(path, weights_only=True).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert ember.load(path).tolist() == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize("evil", [_System, _Exec], ids=["os.system", "builtins.exec"])
def test_malicious_reduce_never_runs(tmp_path, monkeypatch, evil):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / MARKER
    payload = pickle.dumps({"w": [1, {"deep": evil(str(marker))}]}, protocol=2)
    qual = "system" if evil is _System else "builtins.exec"
    # inside a torch zip checkpoint, as a whole legacy stream, as a bare pickle file
    src = tmp_path / "clean.pt"
    torch.save({"w": torch.ones(2)}, src)
    for path in (_rezip(src, tmp_path / "evil.pt", pkl=lambda b: payload),
                 _evil_legacy(tmp_path, payload)):
        with pytest.raises(pickle.UnpicklingError, match=rf"refused to load global .*{qual}"):
            ember.load(path)
        with pytest.raises(pickle.UnpicklingError):
            ember.load(path, weights_only=False)   # (Ember never unpickles freely)
        assert not marker.exists()
    bare = tmp_path / "evil.pkl"
    bare.write_bytes(payload)
    with pytest.raises(pickle.UnpicklingError, match=rf"refused to load global .*{qual}"):
        ember.load(bare)
    assert not marker.exists()
    # and torch agrees these files are refused under weights_only
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / "evil.pt", weights_only=True)
    assert not marker.exists()


def _truncate(n):
    def edit(tmp_path, good):
        data = good.read_bytes()
        bad = tmp_path / "bad.pt"
        bad.write_bytes(data[:n if n >= 0 else len(data) + n])
        return bad
    return edit


def _bytes_edit(fn):
    def edit(tmp_path, good):
        bad = tmp_path / "bad.pt"
        bad.write_bytes(fn(good.read_bytes()))
        return bad
    return edit


def _pkl(pkl, records=None):
    return lambda tmp_path, good: _zip(tmp_path / "bad.pt", pkl, records)


def _flip_data_byte(data):
    i = data.index(np.arange(4, dtype=np.float32).tobytes()) + 5
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]


def _deep_list(depth):
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."


def _legacy_edit(fn):
    def edit(tmp_path, good):
        legacy = tmp_path / "legacy_good.pt"
        torch.save({"w": torch.arange(4.)}, legacy, _use_new_zipfile_serialization=False)
        bad = tmp_path / "bad.pt"
        bad.write_bytes(fn(legacy.read_bytes()))
        return bad
    return edit


def _tar(tmp_path, good):
    """torch < 0.4's tar layout (a 'sys_info' member first)."""
    import tarfile
    bad = tmp_path / "bad.pt"
    with tarfile.open(bad, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("sys_info")
        payload = pickle.dumps({"protocol_version": 1001}, protocol=2)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(RuntimeError, match="legacy .tar format"):
        torch.load(bad, weights_only=True)          # (torch refuses it here too)
    return bad


CRAFTED = {
    "truncated zip (half)": (_truncate(-300), SerializationError, "damaged zip|truncated"),
    "truncated zip (header only)": (_truncate(40), SerializationError, "damaged zip|truncated"),
    "empty file": (_truncate(0), SerializationError, "empty"),
    "wrong magic": (_bytes_edit(lambda d: b"GARBAGE!" + d[8:]), SerializationError,
                    "not an Ember checkpoint, a torch checkpoint"),
    "corrupted tensor bytes (CRC)": (_bytes_edit(_flip_data_byte), SerializationError,
                                     "damaged"),
    "bad storage key": (_pkl(_tensor_pkl(key="7")), SerializationError,
                        "storage '7' is missing"),
    "key escaping the archive": (_pkl(_tensor_pkl(key="../../etc/passwd")), SerializationError,
                                 "is missing"),
    "missing data record": (_pkl(_tensor_pkl(), records={}), SerializationError, "missing"),
    "missing data.pkl": (lambda tmp_path, good: _rezip(good, tmp_path / "bad.pt",
                                                       drop=("data.pkl",)),
                         SerializationError, "data.pkl"),
    "wrong byte count (short record)": (_pkl(_tensor_pkl(), records={"0": b"\0" * 12}),
                                        SerializationError, "16 bytes.*has 12 bytes"),
    "wrong byte count (numel too big)": (_pkl(_tensor_pkl(numel=1000)), SerializationError,
                                         "4000 bytes.*has 16"),
    "compressed record": (lambda tmp_path, good: _rezip(good, tmp_path / "bad.pt",
                                                        compress=("data/0",)),
                          SerializationError, "compressed"),
    "view past its storage": (_pkl(_tensor_pkl(offset=2, size=(4,))), SerializationError,
                              "reaches past its storage"),
    "negative stride": (_pkl(_tensor_pkl(stride=(-1,))), pickle.UnpicklingError,
                        "malformed tensor geometry"),
    "size and stride disagree": (_pkl(_tensor_pkl(size=(2, 2), stride=(1,))),
                                 pickle.UnpicklingError, "malformed tensor geometry"),
    "int tensor requiring grad": (_pkl(_tensor_pkl(stype="LongStorage", numel=2, size=(2,),
                                                   rg=b"\x88")),
                                  SerializationError, "floating point"),
    "unknown storage type": (_pkl(_tensor_pkl(stype="Uint16Storage")), pickle.UnpicklingError,
                             "refused to load global torch.Uint16Storage"),
    "evil storage type": (_pkl(_tensor_pkl(pid=b"(" + _S("storage") + _G("os", "system")
                                           + _S("0") + _S("cpu") + _I(4) + b"t")),
                          pickle.UnpicklingError, "refused to load global os.system"),
    "malformed persistent id": (_pkl(_tensor_pkl(pid=_S("0"))), pickle.UnpicklingError,
                                "unexpected persistent id"),
    "truncated data.pkl": (_pkl(_tensor_pkl()[:40]), pickle.UnpicklingError, "bad pickle"),
    "garbage data.pkl": (_pkl(b"\x80\x02\xff\xfe\xfd"), pickle.UnpicklingError,
                         "bad pickle"),
    "quantized tensor": (_pkl(b"\x80\x02" + _G("torch._utils", "_rebuild_qtensor") + b")R."),
                         pickle.UnpicklingError, "quantized tensor"),
    "calling torch.Tensor": (_pkl(b"\x80\x02" + _G("torch", "Tensor") + b")R."),
                             pickle.UnpicklingError, "torch.Tensor cannot be called"),
    "bytearray of a huge size": (_pkl(b"\x80\x02" + _G("__builtin__", "bytearray")
                                      + _I(2 ** 31 - 1) + b"\x85R."),
                                 pickle.UnpicklingError, "bytearray is allowed only"),
    "nested too deeply": (_pkl(_deep_list(100000)), SerializationError, "nested too deeply"),
    "bad byte order": (lambda tmp_path, good: _rezip(good, tmp_path / "bad.pt",
                                                     replace={"byteorder": b"middle"}),
                       SerializationError, "byte order"),
    "tar format (torch < 0.4)": (_tar, SerializationError, "tar archive.*before version 0.4"),
    "legacy: truncated storage": (_legacy_edit(lambda d: d[:-5]), SerializationError,
                                  "truncated"),
    "legacy: wrong magic number": (_legacy_edit(lambda d: pickle.dumps(12345, protocol=2)
                                                + d[len(pickle.dumps(0x1950a86a20f9469cfc6c,
                                                                     protocol=2)):]),
                                   SerializationError, "wrong magic number"),
    "legacy: wrong element count": (_legacy_edit(
        lambda d: d[:-24] + struct.pack("<q", 3) + d[-16:]), SerializationError,
        "should hold 4 elements"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_files_are_refused(tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    make, exc, message = CRAFTED[case]
    good = tmp_path / "good.pt"
    torch.save({"w": torch.arange(4.)}, good)
    bad = make(tmp_path, good)
    with pytest.raises(exc, match=message):
        ember.load(bad)
    assert not (tmp_path / MARKER).exists()


def test_build_cannot_touch_ember_objects(tmp_path):
    """A BUILD opcode on the dtype a global names must not change Ember's dtype."""
    before = ember.float32.np
    pkl = (b"\x80\x02" + _G("torch", "float32") + b"N}" + _S("np") + _S("evil") + b"s\x86b.")
    with pytest.raises(pickle.UnpicklingError):
        ember.load(_zip(tmp_path / "build.pt", pkl, records={}))
    assert ember.float32.np is before
    pkl = (b"\x80\x02" + _G("torch", "device") + _S("cpu") + b"\x85R}" + _S("type")
           + _S("cuda") + b"sb.")
    with pytest.raises(pickle.UnpicklingError):
        ember.load(_zip(tmp_path / "build2.pt", pkl, records={}))


def test_count_of_crafted_cases():
    assert len(CRAFTED) >= 20
