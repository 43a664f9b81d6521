"""Places outside the backends that once asked "is this a NumPy array?" and
so treated a CUDA tensor's array as a host one (or failed on it): the
factories, torch-format save and load, ONNX export, result_type.  Each test
is what a torch user does with a model or tensor on cuda, answered as torch
answers it.  On a GPU these run on CuPy; elsewhere on tests/fake_cuda.py's
device (whose arrays have no __array_interface__, as CuPy's)."""
import io

import numpy as np
import pytest
import torch

import ember
import fake_cuda


@pytest.fixture
def cuda():
    with fake_cuda.cuda_device() as kind:
        yield kind


def test_tensor_of_a_cuda_tensor_stays_on_cuda(cuda):
    x = ember.arange(6.0, device="cuda").view(2, 3)
    y = ember.tensor(x)                        # (torch: a copy on the tensor's own device)
    assert y.device == x.device and y.dtype == ember.float32
    y.add_(1)
    assert x.cpu().tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]       # (a copy)
    assert ember.tensor(x, dtype=ember.float64).device == x.device
    assert ember.tensor(x, device="cpu").device == ember.device("cpu")
    # a list of 0-d cuda tensors is read as numbers: a CPU tensor, as torch's
    assert ember.tensor([x[0, 0], x[1, 2]]).tolist() == [0.0, 5.0]


def test_tensor_and_as_tensor_of_a_device_array(cuda):
    x = ember.arange(4.0, device="cuda")
    arr = x._data                              # (a CuPy array on a GPU)
    t = ember.tensor(arr)
    assert t.device == x.device and t.cpu().tolist() == [0.0, 1.0, 2.0, 3.0]
    shared = ember.as_tensor(arr)              # (torch: shares a __cuda_array_interface__ array)
    assert shared.device == x.device
    shared.add_(10)
    assert x.cpu().tolist() == [10.0, 11.0, 12.0, 13.0]
    assert ember.as_tensor(arr, device="cpu").device == ember.device("cpu")


def test_from_numpy_refuses_a_device_array(cuda):
    arr = ember.zeros(3, device="cuda")._data
    with pytest.raises(TypeError, match="expected np.ndarray"):
        ember.from_numpy(arr)
    with pytest.raises(TypeError, match=r"expected np.ndarray \(got list\)"):
        ember.from_numpy([1.0])
    with pytest.raises(TypeError, match=r"expected np.ndarray \(got list\)"):
        torch.from_numpy([1.0])


def test_torch_format_save_of_cuda_tensors_loads_back_on_cuda(cuda):
    w = ember.arange(12.0, device="cuda").view(3, 4)
    b = io.BytesIO()
    ember.save({"w": w, "rows": w[1:], "t": w.t()}, b, format="torch")
    b.seek(0)
    d = ember.load(b)
    for k, want in (("w", w), ("rows", w[1:]), ("t", w.t())):
        assert d[k].device == w.device
        assert d[k].cpu().tolist() == want.cpu().tolist()
    b.seek(0)
    cpu = ember.load(b, map_location="cpu")
    assert cpu["t"].device == ember.device("cpu") and cpu["t"].tolist() == w.t().cpu().tolist()
    b.seek(0)
    # torch reads the file and its storage location as it wrote them from a GPU
    assert torch.load(b, map_location="cpu")["rows"].tolist() == w[1:].cpu().tolist()


def test_torch_format_cuda_location_loads_only_where_cuda_is():
    with fake_cuda.cuda_device():
        b = io.BytesIO()
        ember.save({"x": ember.ones(2, device="cuda")}, b, format="torch")
        assert ember.load(io.BytesIO(b.getvalue()))["x"].device.type == "cuda"
    if ember.cuda.is_available():       # (a GPU, or the fake registered for the session)
        assert ember.load(io.BytesIO(b.getvalue()))["x"].device.type == "cuda"
    else:                               # (torch's error, and its way out)
        with pytest.raises(RuntimeError, match=r"torch.cuda.is_available\(\) is False"):
            ember.load(io.BytesIO(b.getvalue()))
    assert ember.load(io.BytesIO(b.getvalue()), map_location="cpu")["x"].tolist() == [1.0, 1.0]


class _Rotary(ember.nn.Module):
    """Rotary embeddings: apply_rope takes rows of the cached tables with the array
    library (not an op), which the export finds again as rows of a buffer."""

    def __init__(self):
        super().__init__()
        cos, sin = ember.nn.llm.precompute_rope_cache(4, 6)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)

    def forward(self, x):
        return ember.nn.llm.apply_rope(x, self.cos, self.sin)


def test_onnx_export_of_a_cuda_model_with_rotary_tables(cuda):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    m = _Rotary().to("cuda")
    x = ember.randn(1, 3, 4, device="cuda")
    b = io.BytesIO()
    ember.onnx.export(m, (x,), b)
    sess = ort.InferenceSession(b.getvalue())
    got = sess.run(None, {sess.get_inputs()[0].name: x.cpu().numpy()})[0]
    np.testing.assert_allclose(got, m(x).cpu().numpy(), rtol=1e-6, atol=1e-6)


def test_result_type_of_cuda_tensors(cuda):
    i = ember.ones(2, dtype=ember.int32, device="cuda")
    assert ember.result_type(i, 1) == ember.int32
    assert ember.result_type(i, 1.0) == ember.float32
    assert ember.result_type(i, ember.ones((), dtype=ember.float64, device="cuda")) == ember.float64


def test_share_memory_and_is_shared_on_cuda(cuda):
    x = ember.ones(3, device="cuda")
    data = x._data
    assert x.share_memory_() is x and x._data is data    # (torch: a no-op for CUDA tensors)
    assert x.is_shared()                                 # (torch: "always True for CUDA tensors")
    assert not ember.ones(3).is_shared()


def test_a_device_array_indexing_a_cpu_tensor_raises_torchs_error(cuda):
    idx = ember.tensor([0, 2], device="cuda")
    x = ember.arange(4.0)
    msg = "indices should be either on cpu or on the same device"
    with pytest.raises(RuntimeError, match=msg):
        x[idx]
    with pytest.raises(RuntimeError, match=msg):
        x[idx._data]                     # (the raw array: np.asarray refuses CuPy's)
    assert ember.arange(4.0, device="cuda")[idx._data].cpu().tolist() == [0.0, 2.0]
    assert ember.arange(4.0, device="cuda")[np.array([1, 3])].cpu().tolist() == [1.0, 3.0]


def test_normalize_transform_of_a_cuda_image(cuda):
    from ember.datasets import transforms
    img = ember.arange(12.0, device="cuda").view(3, 2, 2)
    out = transforms.Normalize([1.0, 2.0, 3.0], [2.0, 2.0, 4.0])(img)
    want = (np.arange(12.0, dtype=np.float32).reshape(3, 2, 2)
            - np.array([1, 2, 3], np.float32)[:, None, None]) / np.array([2, 2, 4], np.float32)[:, None, None]
    assert out.device == img.device
    np.testing.assert_allclose(out.cpu().numpy(), want)


def test_numpy_conversion_of_a_cuda_tensor_refuses_as_torch(cuda):
    x = ember.ones(2, device="cuda")
    msg = "can't convert cuda:0 device type tensor to numpy"
    for convert in (np.asarray, np.array, lambda t: np.asarray(t, dtype=np.float64)):
        with pytest.raises(TypeError, match=msg):
            convert(x)
    assert np.asarray(x.cpu()).tolist() == [1.0, 1.0]
