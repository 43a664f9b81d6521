"""ember.save / ember.load (no pickle) and safetensors interop."""
import collections
import io
import json
import os
import struct
import zipfile
import zlib

import numpy as np
import pytest
import torch

import ember
from ember import serialization as S
from ember.serialization import SerializationError


def same(a, b):
    """Deep equality that also checks types, tensor dtypes/shapes/flags."""
    assert type(a) is type(b), f"{type(a)} != {type(b)}"
    if isinstance(a, ember.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.detach().cpu().numpy(), b.detach().cpu().numpy())
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys())
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def roundtrip(obj, tmp_path, **kw):
    path = tmp_path / "obj.ember"
    ember.save(obj, path)
    out = ember.load(path, **kw)
    buf = io.BytesIO()
    ember.save(obj, buf)
    buf.seek(0)
    same(out, ember.load(buf))
    return out


ALL_DTYPES = [ember.float16, ember.float32, ember.float64, ember.int8, ember.int16, ember.int32,
              ember.int64, ember.uint8, ember.bool]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_every_dtype_and_shape(tmp_path, dtype):
    rng = np.random.default_rng(0)
    for shape in [(), (0,), (5,), (2, 3, 4), (1, 0, 3)]:
        arr = (rng.standard_normal(shape) * 50).astype(dtype.np)
        t = ember.tensor(arr)
        out = roundtrip(t, tmp_path)
        same(out, t)


def test_special_float_values(tmp_path):
    t = ember.tensor([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38], dtype=ember.float32)
    out = roundtrip(t, tmp_path)
    np.testing.assert_array_equal(out.cpu().numpy().view(np.uint32), t.cpu().numpy().view(np.uint32))
    same(roundtrip({"nan": float("nan"), "inf": float("inf")}, tmp_path),
         {"nan": float("nan"), "inf": float("inf")})


def test_non_contiguous_and_views(tmp_path):
    base = ember.arange(24, dtype=ember.float64).reshape(4, 6)
    views = [base.t(), base[:, ::2], base[1:3], base.reshape(2, 12).t()[::3]]
    out = roundtrip(views, tmp_path)
    for v, o in zip(views, out):
        same(o, v)
        assert o.is_contiguous()


def test_nested_structures(tmp_path):
    P = collections.namedtuple("P", "a b")
    obj = {
        "none": None, "bool": True, "int": -(2 ** 70), "float": 0.1, "str": "héllo\n",
        "bytes": b"\x00\xffabc", "list": [1, [2, [3, ()]]], "tuple": (1, (2.0, "x")),
        "set": {1, 2}, "frozenset": frozenset({"a"}),
        "np": np.arange(6, dtype=np.uint16).reshape(2, 3),
        "np_scalar": np.float32(1.5), "np_text": np.array(["ab", "c"]),
        "np_complex": np.array([1 + 2j]),
        "dtype": ember.int16, "size": ember.Size([2, 3]),
        "device": ember.device("cpu"),
        7: "int key", (1, "t"): "tuple key", None: "none key", 2.5: "float key",
        "nt": P(1, ember.ones(2)),
    }
    out = roundtrip(obj, tmp_path)
    assert out["tuple"] == (1, (2.0, "x")) and type(out["tuple"][1]) is tuple
    assert out["set"] == {1, 2} and out["frozenset"] == frozenset({"a"})
    assert out["dtype"] is ember.int16 and out["device"] == ember.device("cpu")
    assert type(out["np_scalar"]) is np.float32
    assert out["nt"]._fields == ("a", "b") and type(out["nt"]).__name__ == "P"
    np.testing.assert_array_equal(out["nt"].b.cpu().numpy(), [1.0, 1.0])
    for k in obj:
        if k != "nt":
            same(out[k], obj[k])


def test_state_dicts(tmp_path):
    sd = collections.OrderedDict([("layer.weight", ember.randn(3, 4)),
                                  ("layer.bias", ember.zeros(3)),
                                  ("bn.num_batches_tracked", ember.tensor(5))])
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("layer", {"version": 1})])
    opt = {"state": {0: {"step": ember.tensor(3.0), "exp_avg": ember.randn(3, 4)}, 1: {}},
           "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "foreach": None,
                             "params": [0, 1]}]}
    out = roundtrip({"model": sd, "optimizer": opt, "epoch": 3}, tmp_path)
    assert type(out["model"]) is collections.OrderedDict
    assert out["model"]._metadata == sd._metadata
    assert list(out["optimizer"]["state"].keys()) == [0, 1]
    assert out["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    same(out["model"], sd)


def test_real_module_and_optimizer_round_trip(tmp_path):
    nn = pytest.importorskip("ember.nn")
    optim = pytest.importorskip("ember.optim")
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    model(ember.randn(5, 4)).sum().backward()
    opt.step()
    path = tmp_path / "ckpt.pt"
    ember.save({"model": model.state_dict(), "opt": opt.state_dict()}, path)
    ck = ember.load(path)
    model2 = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    opt2 = optim.Adam(model2.parameters(), lr=0.01)
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["opt"])
    x = ember.randn(2, 4)
    np.testing.assert_array_equal(model(x).detach().cpu().numpy(), model2(x).detach().cpu().numpy())


def test_requires_grad_parameter_and_identity(tmp_path):
    from ember.nn import Parameter
    w = ember.randn(2, 2, requires_grad=True)
    p = Parameter(ember.ones(3))
    frozen = Parameter(ember.ones(1), requires_grad=False)
    out = roundtrip({"w": w, "p": p, "frozen": frozen, "again": w, "list": [p]}, tmp_path)
    assert out["w"].requires_grad and out["w"].is_leaf
    assert isinstance(out["p"], Parameter) and out["p"].requires_grad
    assert isinstance(out["frozen"], Parameter) and not out["frozen"].requires_grad
    # the same object saved twice loads as one object
    assert out["again"] is out["w"] and out["list"][0] is out["p"]
    # a non-leaf tensor saves its value
    y = w * 2
    same(roundtrip(y, tmp_path).detach(), y.detach())


def test_map_location(tmp_path):
    path = tmp_path / "t.ember"
    ember.save({"a": ember.ones(2)}, path)
    for loc in ("cpu", ember.device("cpu"), {"cuda:0": "cpu"}, torch.device("cpu")):
        assert ember.load(path, map_location=loc)["a"].tolist() == [1.0, 1.0]
    out = ember.load(path, map_location=lambda t, loc: t * 2)
    assert out["a"].tolist() == [2.0, 2.0]
    if not ember.cuda.is_available():     # (tests/test_cuda_device.py: with CUDA)
        with pytest.raises(RuntimeError, match="is not available"):
            ember.load(path, map_location="cuda")
    assert ember.load(path, weights_only=False)["a"].tolist() == [1.0, 1.0]


def test_unsupported_objects_refused_before_writing(tmp_path):
    path = tmp_path / "x.ember"
    with pytest.raises(TypeError, match=r"cannot save an object of type .*Foo at obj\['b'\]\[1\]"):
        class Foo:
            pass
        ember.save({"a": 1, "b": [1, Foo()]}, path)
    with pytest.raises(TypeError, match="dtype object"):
        ember.save(np.array([1, "a"], dtype=object), path)
    with pytest.raises(TypeError, match="cannot save an object of type builtins.function"):
        ember.save(lambda: 0, path)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_atomic_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.ember"
    ember.save({"v": ember.ones(1000)}, path)
    before = path.read_bytes()
    os.chmod(path, 0o640)
    real = S._write_payload

    def crash_half_way(fh, header, blobs):
        fh.write(b"\x89EMBER\r\n partial data")
        raise KeyboardInterrupt("simulated crash while writing")
    monkeypatch.setattr(S, "_write_payload", crash_half_way)
    with pytest.raises(KeyboardInterrupt):
        ember.save({"v": ember.zeros(1000)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.ember"]  # no temporary file left behind
    monkeypatch.setattr(S, "_write_payload", real)
    ember.save({"v": ember.zeros(1000)}, path)
    assert ember.load(path)["v"].sum().item() == 0
    assert os.stat(path).st_mode & 0o777 == 0o640  # the file's mode is kept
    assert os.listdir(tmp_path) == ["ckpt.ember"]
    with pytest.raises(RuntimeError, match="Parent directory .* does not exist"):
        ember.save(1, tmp_path / "missing" / "x.ember")


def test_new_file_gets_umask_mode(tmp_path):
    path = tmp_path / "new.ember"
    ember.save([1], path)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


# ---- broken and foreign files ----------------------------------------------------------------

def _saved(tmp_path):
    path = tmp_path / "good.ember"
    ember.save({"w": ember.randn(64, 8), "b": ember.arange(5), "n": 3}, path)
    return path, path.read_bytes()


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.ember"
    with pytest.raises(FileNotFoundError, match="nope.ember"):
        ember.load(missing)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.pt"
    p.write_bytes(b"")
    with pytest.raises(SerializationError, match=r"empty\.pt.*empty"):
        ember.load(p)


def test_truncated_file_at_every_region(tmp_path):
    path, data = _saved(tmp_path)
    bad = tmp_path / "cut.ember"
    for n in [1, 8, 12, 24, 40, len(data) // 2, len(data) - 1]:
        bad.write_bytes(data[:n])
        with pytest.raises(SerializationError, match=r"cut\.ember.*(truncated|not an Ember)"):
            ember.load(bad)
        with pytest.raises(SerializationError, match="truncated|not an Ember"):
            ember.load(io.BytesIO(data[:n]))


def test_trailing_garbage(tmp_path):
    path, data = _saved(tmp_path)
    path.write_bytes(data + b"junk")
    with pytest.raises(SerializationError, match="longer than its header says"):
        ember.load(path)


def test_flipped_bytes_detected(tmp_path):
    path, data = _saved(tmp_path)
    bad = tmp_path / "flip.ember"
    # every byte of the header, and bytes spread across the tensor data
    header_end = 24 + struct.unpack("<Q", data[16:24])[0]
    positions = list(range(8, header_end)) + list(range(header_end, len(data), 37))
    for pos in positions:
        corrupt = bytearray(data)
        corrupt[pos] ^= 0x10
        bad.write_bytes(bytes(corrupt))
        try:
            out = ember.load(bad)
        except SerializationError as e:
            assert "flip.ember" in str(e)
            continue
        # only padding bytes may change without being noticed
        same(out, ember.load(path))


def _rewrite_header(data, edit):
    """A file whose header JSON was changed by ``edit`` (checksum fixed up), to
    check that structural validation does not rely on the checksum alone."""
    hlen = struct.unpack("<Q", data[16:24])[0]
    header = json.loads(data[24:24 + hlen])
    edit(header)
    raw = json.dumps(header).encode()
    start = 24 + hlen
    start += -start % 64
    payload = data[start:]
    pre = S.MAGIC + struct.pack("<IIQ", 1, zlib.crc32(raw), len(raw)) + raw
    return pre + b"\0" * (-len(pre) % 64) + payload


@pytest.mark.parametrize("edit, message", [
    (lambda h: h["blobs"][0].update(shape=[10 ** 6, 10 ** 6]), "do not hold shape"),
    (lambda h: h["blobs"][0].update(nbytes=10 ** 12, shape=[10 ** 12 // 4]), "outside"),
    (lambda h: h["blobs"][1].update(offset=0), "overlap"),
    (lambda h: h["blobs"][0].update(dtype="|O"), "unsupported dtype"),
    (lambda h: h["blobs"][0].update(shape=[-1]), "invalid shape"),
    (lambda h: h.update(payload_nbytes=10 ** 9), "truncated"),
    (lambda h: h.update(version=99), "unsupported format version"),
    (lambda h: h.update(root={"T": "pickle", "data": "cos\nsystem"}), "unknown node type"),
    (lambda h: h.update(root={"T": "tensor", "blob": 99}), "out of range"),
    (lambda h: h.update(root={"T": "dict", "items": [[{"T": "list", "items": []}, 1]]}),
     "malformed"),
    (lambda h: h.update(root={"T": "namedtuple", "name": "x; import os", "fields": ["a"],
                              "items": [1]}), "malformed"),
    (lambda h: h.update(root={"T": "dtype", "name": "__class__"}), "malformed"),
])
def test_malformed_headers_rejected(tmp_path, edit, message):
    _, data = _saved(tmp_path)
    bad = tmp_path / "evil.ember"
    bad.write_bytes(_rewrite_header(data, edit))
    with pytest.raises(SerializationError, match=message):
        ember.load(bad)


def test_foreign_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello, I am not a checkpoint\n")
    with pytest.raises(SerializationError, match=r"notes\.txt.*not an Ember checkpoint"):
        ember.load(text)
    # (torch's own checkpoints load: tests/test_torch_checkpoint.py)
    zipped = tmp_path / "notes.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(SerializationError, match=r"notes\.zip.*not a torch\.save checkpoint"):
        ember.load(zipped)
    npy = tmp_path / "a.npy"
    np.save(npy, np.ones(2))
    with pytest.raises(SerializationError, match="not an Ember checkpoint"):
        ember.load(npy)


def test_file_objects(tmp_path):
    path = tmp_path / "f.ember"
    with open(path, "wb") as fh:
        ember.save([ember.ones(2)], fh)
    with open(path, "rb") as fh:
        assert ember.load(fh)[0].tolist() == [1.0, 1.0]
    # two objects written one after the other into one stream
    buf = io.BytesIO()
    ember.save(1, buf)
    ember.save({"b": ember.zeros(3)}, buf)
    buf.seek(0)
    assert ember.load(buf) == 1
    assert ember.load(buf)["b"].tolist() == [0.0, 0.0, 0.0]
    with open(path, "r") as fh, pytest.raises(TypeError, match="binary mode"):
        ember.load(fh)
    with pytest.raises(TypeError, match="path or a readable"):
        ember.load(123)


# ---- safetensors -----------------------------------------------------------------------------

def test_safetensors_round_trip(tmp_path):
    pytest.importorskip("safetensors")
    tensors = {f"t_{d.name}": ember.tensor((np.arange(6) % 3).astype(d.np).reshape(2, 3))
               for d in ALL_DTYPES}
    tensors["scalar"] = ember.tensor(2.5)
    tensors["view"] = ember.arange(12, dtype=ember.float32).reshape(3, 4).t()
    path = tmp_path / "m.safetensors"
    S.save_safetensors(tensors, path, metadata={"format": "pt", "note": "hi"})
    out = S.load_safetensors(path)
    assert set(out) == set(tensors)
    for k in tensors:
        same(out[k], tensors[k].contiguous() if k == "view" else tensors[k])
    from safetensors import safe_open
    with safe_open(str(path), framework="np") as f:
        assert f.metadata() == {"format": "pt", "note": "hi"}
    # ember.load recognises safetensors by content, whatever the file is called
    other = tmp_path / "weights.bin"
    other.write_bytes(path.read_bytes())
    same(ember.load(other)["t_float32"], tensors["t_float32"])
    same(ember.load(path)["t_int8"], tensors["t_int8"])
    # the result is writable and independent of the file
    out["t_float32"].add_(1)
    with pytest.raises(TypeError, match="keys must be str"):
        S.save_safetensors({1: ember.ones(1)}, path)
    with pytest.raises(TypeError, match="must be a tensor"):
        S.save_safetensors({"a": [1.0]}, path)
    with pytest.raises(TypeError, match="metadata"):
        S.save_safetensors({"a": ember.ones(1)}, path, metadata={"a": 1})


def test_torch_written_safetensors(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    g = torch.Generator().manual_seed(0)
    tt = {"w": torch.randn(4, 3, generator=g), "b": torch.randn(3, generator=g).double(),
          "h": torch.randn(2, 2, generator=g).half(), "i": torch.arange(5),
          "mask": torch.tensor([True, False]), "bf": torch.randn(3, generator=g).bfloat16(),
          "u16": torch.tensor([0, 1, 65535], dtype=torch.uint16), "step": torch.tensor(7)}
    path = tmp_path / "torch.safetensors"
    st.save_file(tt, str(path), metadata={"format": "pt"})
    for out in (S.load_torch_safetensors(path), S.load_safetensors(path), ember.load(path)):
        for k, t in tt.items():
            if k == "bf":             # bfloat16 (through ml_dtypes): compare its float32 values
                assert out[k].dtype is ember.bfloat16
                np.testing.assert_array_equal(out[k].float().cpu().numpy(), t.float().cpu().numpy())
                continue
            elif k == "u16":
                want = t.to(torch.int64).cpu().numpy()
            else:
                want = t.cpu().numpy()
            got = out[k].cpu().numpy()
            assert got.dtype == want.dtype and got.shape == want.shape, k
            np.testing.assert_array_equal(got, want)
    # and back: an Ember-written file loads in torch
    back = tmp_path / "back.safetensors"
    S.save_safetensors({"w": out["w"]}, back)
    assert torch.equal(st.load_file(str(back))["w"], tt["w"])


def test_corrupt_safetensors(tmp_path):
    pytest.importorskip("safetensors")
    path = tmp_path / "m.safetensors"
    S.save_safetensors({"a": ember.ones(100)}, path)
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(SerializationError, match=r"m\.safetensors.*not a valid safetensors"):
        S.load_safetensors(path)
    with pytest.raises(SerializationError, match="not a valid safetensors"):
        ember.load(path)
    path.write_bytes(b"")
    with pytest.raises(SerializationError, match="empty"):
        S.load_safetensors(path)


def test_safetensors_missing_package(monkeypatch, tmp_path):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("safetensors"):
            raise ImportError("No module named 'safetensors'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install safetensors"):
        S.save_safetensors({"a": ember.ones(1)}, tmp_path / "x.safetensors")


# ---- untrusted sizes, killed writers --------------------------------------------------------------

def _four_terabytes(tmp_path):
    """A valid-looking checkpoint whose header declares one 4 TB float32 tensor (its
    checksum fixed up), followed by only a few real bytes."""
    path = tmp_path / "small.ember"
    ember.save({"w": ember.ones(4)}, path)
    n = 2 ** 40

    def declare(h):
        h["blobs"][0].update(shape=[n], nbytes=4 * n)
        h["payload_nbytes"] = 4 * n
    return _rewrite_header(path.read_bytes(), declare)


def test_crafted_huge_header_refused_from_a_file(tmp_path):
    bad = tmp_path / "huge.ember"
    bad.write_bytes(_four_terabytes(tmp_path))
    with pytest.raises(SerializationError, match="truncated: the header describes 4398046511104"):
        ember.load(bad)


def test_crafted_huge_header_refused_from_a_pipe(tmp_path):
    """A pipe's size is unknown: the array grows with the bytes that arrive, so the short
    stream is reported truncated (a 4 TB allocation would raise MemoryError first)."""
    import threading
    data = _four_terabytes(tmp_path)
    rfd, wfd = os.pipe()

    def feed():
        with os.fdopen(wfd, "wb") as w:
            w.write(data)
    t = threading.Thread(target=feed)
    t.start()
    try:
        with os.fdopen(rfd, "rb") as r:
            assert not r.seekable()
            with pytest.raises(SerializationError, match="truncated"):
                ember.load(r)
    finally:
        t.join()


def test_large_array_from_a_pipe_loads(tmp_path):
    """The chunked pipe read still returns the real data (more than one chunk)."""
    import threading
    w_ = ember.arange(float(S._CHUNK // 4 + 1000))
    buf = io.BytesIO()
    ember.save({"w": w_}, buf)
    rfd, wfd = os.pipe()

    def feed():
        with os.fdopen(wfd, "wb") as w:
            w.write(buf.getvalue())
    t = threading.Thread(target=feed)
    t.start()
    try:
        with os.fdopen(rfd, "rb") as r:
            got = ember.load(r)["w"]
    finally:
        t.join()
    np.testing.assert_array_equal(got.numpy(force=True), w_.numpy(force=True))


_KILLED_WRITER = """
import os, sys, time
import ember
from ember import serialization as S

def stall(fh, header, blobs):
    fh.write(b"\\x89EMBER\\r\\n" + b"x" * (1 << 20))   # a partial file, then hang
    fh.flush()
    print("writing", flush=True)
    time.sleep(600)

S._write_payload = stall
ember.save({"w": ember.ones(10)}, sys.argv[1])
"""


def test_sigkill_during_save_leaves_no_temporary_for_long(tmp_path):
    """A writer killed with SIGKILL mid-save cannot clean up; the next save into the
    directory removes its temporary file (its process is gone) and keeps a live
    writer's."""
    import signal
    import subprocess
    import sys
    path = tmp_path / "model.ember"
    ember.save({"w": ember.zeros(3)}, path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(ember.__file__))] + os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    child = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path)], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        stale = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
        assert len(stale) == 1 and f"-{child.pid}-" in stale[0]
        # a live writer's temporary survives another save into the directory
        ember.save({"other": 1}, tmp_path / "other.ember")
        assert stale[0] in os.listdir(tmp_path)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    assert stale[0] in os.listdir(tmp_path)          # nothing cleaned it up yet
    assert ember.load(path)["w"].tolist() == [0.0, 0.0, 0.0]   # the previous file intact
    ember.save({"w": ember.ones(3)}, path)
    assert sorted(os.listdir(tmp_path)) == ["model.ember", "other.ember"]
    assert ember.load(path)["w"].tolist() == [1.0, 1.0, 1.0]
