"""ember.onnx.export against the real other side: every exported graph passes
onnx.checker (full_check: type and shape inference too) and runs in ONNX
Runtime (CPUExecutionProvider), giving Ember's outputs within float32
tolerance (rtol 1e-5, atol 1e-5) -- at the example sizes and, where
dynamic_axes say so, at other batch sizes and sequence lengths."""
import io

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.models import GPT, GPTConfig, MLP, LeNet5, CharLSTM, resnet_small

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

RTOL = ATOL = 1e-5


def _export(model, args, **kw):
    buf = io.BytesIO()
    assert ember.onnx.export(model, args, buf, **kw) is None
    data = buf.getvalue()
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto, full_check=True)
    return proto, ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out]


def _check(model, sess, *inputs, names=None):
    """ORT's outputs against Ember's on ``inputs``."""
    with ember.no_grad():
        want = _flat(model(*inputs))
    names = names or [i.name for i in sess.get_inputs()]
    got = sess.run(None, {n: t.numpy(force=True) for n, t in zip(names, inputs)})
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(force=True), rtol=RTOL, atol=ATOL)


def _module(fn):
    """A Module whose forward is ``fn`` (for exporting one op)."""
    class Fn(nn.Module):
        def forward(self, *args):
            return fn(*args)
    return Fn()


# ---- the reference models ----------------------------------------------------------------

def test_mlp_dynamic_batch():
    ember.manual_seed(0)
    m = MLP(20, (16, 8), 5).eval()
    proto, sess = _export(m, (ember.randn(4, 20),), input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
    assert [i.name for i in proto.graph.input] == ["x"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    for n in (4, 1, 9):
        _check(m, sess, ember.randn(n, 20))


def test_lenet_dynamic_batch():
    ember.manual_seed(1)
    m = LeNet5().eval()
    _, sess = _export(m, (ember.randn(2, 1, 28, 28),), input_names=["img"],
                      dynamic_axes={"img": [0]})
    for n in (2, 5):
        _check(m, sess, ember.randn(n, 1, 28, 28))


def test_resnet_small_dynamic_batch_and_image_size():
    ember.manual_seed(2)
    m = resnet_small()
    # give batch norm statistics that are not 0/1, then export in eval mode
    with ember.no_grad():
        m(ember.randn(8, 3, 16, 16))
    m.eval()
    proto, sess = _export(m, (ember.randn(2, 3, 16, 16),), input_names=["x"],
                          dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}})
    assert {"BatchNormalization", "Conv", "GlobalAveragePool", "Gemm"} <= \
        {n.op_type for n in proto.graph.node}
    _check(m, sess, ember.randn(2, 3, 16, 16))
    _check(m, sess, ember.randn(3, 3, 20, 12))


def test_lstm_lm_dynamic_batch_and_length():
    ember.manual_seed(3)
    m = CharLSTM(20, embed_dim=8, hidden_size=16, num_layers=2).eval()
    proto, sess = _export(m, (ember.randint(0, 20, (2, 5)),), input_names=["ids"],
                          output_names=["logits", "h", "c"],
                          dynamic_axes={"ids": {0: "batch", 1: "seq"}})
    assert [n.op_type for n in proto.graph.node].count("LSTM") == 2
    for shape in ((2, 5), (3, 9), (1, 2)):
        _check(m, sess, ember.randint(0, 20, shape))


@pytest.mark.parametrize("opset", [17, 20])
def test_gpt_dynamic_batch_and_length(opset):
    ember.manual_seed(4)
    m = GPT(GPTConfig(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=16)).eval()
    proto, sess = _export(m, (ember.randint(0, 30, (2, 5)),), input_names=["idx"],
                          opset_version=opset, dynamic_axes={"idx": {0: "batch", 1: "seq"}})
    assert proto.opset_import[0].version == opset
    ops = {n.op_type for n in proto.graph.node}
    assert "LayerNormalization" in ops and "Range" in ops and "Trilu" in ops
    assert ("Gelu" in ops) == (opset >= 20)
    for shape in ((2, 5), (1, 16), (4, 1), (3, 11)):
        _check(m, sess, ember.randint(0, 30, shape))


def test_gpt_grouped_query_rope_rmsnorm_swiglu():
    ember.manual_seed(5)
    cfg = GPTConfig(vocab_size=25, block_size=12, n_layer=1, n_head=4, n_kv_head=2, n_embd=16,
                    pos="rope", norm="rmsnorm", mlp="swiglu", gelu_approximate="none")
    m = GPT(cfg).eval()
    _, sess = _export(m, (ember.randint(0, 25, (2, 6)),), input_names=["idx"],
                      dynamic_axes={"idx": {1: "seq"}})
    _check(m, sess, ember.randint(0, 25, (2, 6)))
    _check(m, sess, ember.randint(0, 25, (2, 9)))


# ---- one op at a time ----------------------------------------------------------------------

def _r(*shape):
    return ember.randn(*shape)


_OPS = [
    ("softmax", lambda x: F.softmax(x, dim=-1), lambda: [_r(3, 5)]),
    ("log_softmax", lambda x: F.log_softmax(x, dim=0), lambda: [_r(3, 5)]),
    ("sigmoid_tanh", lambda x: ember.sigmoid(x) + ember.tanh(x), lambda: [_r(3, 5)]),
    ("gelu_exact", lambda x: F.gelu(x), lambda: [_r(3, 5)]),
    ("silu_leaky_elu", lambda x: F.silu(x) + F.leaky_relu(x, 0.2) + F.elu(x) + F.selu(x),
     lambda: [_r(4, 3)]),
    ("softplus_hardtanh", lambda x: F.softplus(x, beta=2.0) + F.hardtanh(x, -0.5, 0.5),
     lambda: [_r(4, 3) * 10]),
    ("clamp_pow_sqrt", lambda x: ember.clamp(x, -1, 1) ** 2 + ember.sqrt(x.abs() + 1) - 1 / (x.abs() + 1),
     lambda: [_r(4, 3)]),
    ("exp_log_rsqrt", lambda x: ember.exp(x) + ember.log(x.abs() + 1) + ember.rsqrt(x.abs() + 1),
     lambda: [_r(3, 3)]),
    ("scalars", lambda x: 2 - x * 3 / 4 + 1, lambda: [_r(3, 2)]),
    ("int_input_cast", lambda i: i.float() / 2 + (i > 3).float(), lambda: [ember.randint(0, 8, (3, 4))]),
    ("compare_where", lambda x, y: ember.where(x > y, x, y * 2) + (x != y).float(),
     lambda: [_r(3, 4), _r(3, 4)]),
    ("masked_fill_tril", lambda x: x.masked_fill(ember.ones(4, 4).tril() == 0, float("-inf")).softmax(-1),
     lambda: [_r(2, 4, 4)]),
    ("matmul_bmm", lambda a, b: a @ b + ember.bmm(a, b), lambda: [_r(2, 3, 4), _r(2, 4, 5)]),
    ("addmm", lambda c, a, b: ember.addmm(c, a, b, beta=0.5, alpha=2.0), lambda: [_r(5), _r(3, 4), _r(4, 5)]),
    ("transpose_permute", lambda x: x.transpose(0, 2).permute(1, 0, 2).contiguous(), lambda: [_r(2, 3, 4)]),
    ("view_flatten_unsqueeze", lambda x: x.view(6, 4).flatten().unsqueeze(0).squeeze(0)[None],
     lambda: [_r(2, 3, 4)]),
    ("getitem", lambda x: (x[1, :, ::2], x[-1, 1:3, None, 0], x[..., 1:2], x[None, :, -3:-1], x[2]),
     lambda: [_r(3, 4, 5)]),
    ("split_chunk", lambda x: tuple(x.split([1, 3], dim=1)) + tuple(x.chunk(2, dim=0)),
     lambda: [_r(4, 4)]),
    ("cat_stack_unbind", lambda x, y: ember.cat([ember.cat([x, y], 1), ember.stack(list(y.unbind(1)) * 2, 1)], 0),
     lambda: [_r(2, 3), _r(2, 3)]),
    ("pad_repeat", lambda x: (F.pad(x, (1, 2, 0, 1), value=0.5).repeat(2, 1, 1), F.pad(x, (-1, 1)).repeat(2, 2)),
     lambda: [_r(2, 3)]),
    ("reductions", lambda x: x.sum(0) + x.mean(dim=(0,)) + x.amax(0) - x.amin(0), lambda: [_r(3, 4)]),
    ("embedding", lambda i: F.embedding(i, ember.arange(12.0).reshape(6, 2)), lambda: [ember.randint(0, 6, (2, 3))]),
    ("conv_groups_dilation", lambda x: F.conv2d(x, ember.ones(4, 2, 3, 3) * 0.1, ember.ones(4), stride=2,
                                                 padding=2, dilation=2, groups=2), lambda: [_r(2, 4, 9, 9)]),
    ("conv1d", lambda x: F.conv1d(x, ember.ones(3, 2, 3) * 0.5, padding=1), lambda: [_r(2, 2, 7)]),
    ("conv_transpose", lambda x: F.conv_transpose2d(x, ember.ones(3, 2, 3, 3) * 0.1, stride=2, padding=1,
                                                    output_padding=1), lambda: [_r(1, 3, 4, 5)]),
    ("max_pool_ceil", lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), lambda: [_r(2, 3, 8, 7)]),
    ("avg_pool_no_pad_count", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
     lambda: [_r(2, 3, 7, 7)]),
    ("avg_pool_pad_count", lambda x: F.avg_pool2d(x, 2, padding=1), lambda: [_r(2, 3, 6, 6)]),
    ("max_pool1d_adaptive", lambda x: F.max_pool1d(x, 2) .sum() + F.adaptive_avg_pool2d(x[:, None], (2, 3)).sum(),
     lambda: [_r(2, 4, 6)]),
    ("group_norm", lambda x: F.group_norm(x, 2, ember.ones(4) * 2, ember.ones(4)), lambda: [_r(3, 4, 5)]),
    ("layer_norm_2d", lambda x: F.layer_norm(x, (3, 4)), lambda: [_r(2, 3, 4)]),
    ("rms_norm", lambda x: F.rms_norm(x, (4,), ember.ones(4) * 3), lambda: [_r(2, 3, 4)]),
    ("sdpa_bool_mask", lambda q: F.scaled_dot_product_attention(q, q * 2, q, attn_mask=ember.tensor(
        [[True, False, True], [False, False, False], [True, True, True]])), lambda: [_r(2, 2, 3, 4)]),
    ("sdpa_float_mask", lambda q, m: F.scaled_dot_product_attention(q, q, q, attn_mask=m, scale=0.3),
     lambda: [_r(1, 2, 3, 4), _r(3, 3)]),
]


@pytest.mark.parametrize("name,fn,make_inputs", _OPS, ids=[c[0] for c in _OPS])
def test_op(name, fn, make_inputs):
    ember.manual_seed(6)
    inputs = make_inputs()      # (made here: on the device the test run uses)
    m = _module(fn)
    _, sess = _export(m, tuple(inputs), input_names=[f"in{i}" for i in range(len(inputs))])
    _check(m, sess, *inputs)


def test_batch_norm_1d_and_layers_with_dropout_in_eval():
    ember.manual_seed(7)
    m = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.GELU(),
                      nn.LayerNorm(8), nn.Linear(8, 3), nn.LogSoftmax(-1))
    with ember.no_grad():
        m(ember.randn(16, 6))
    m.train()
    _, sess = _export(m, (ember.randn(4, 6),), dynamic_axes={"input": [0]})
    assert m.training            # export traced in eval mode and put the mode back
    m.eval()
    _check(m, sess, ember.randn(5, 6))


def test_inplace_relu_is_traced():
    m = nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True), nn.Linear(4, 2))
    _, sess = _export(m.eval(), (ember.randn(3, 4),))
    _check(m, sess, ember.randn(3, 4))


# ---- names, files, options -------------------------------------------------------------------

def test_initializers_are_named_by_state_dict(tmp_path):
    ember.manual_seed(8)
    m = MLP(6, (5,), 3).eval()
    path = tmp_path / "mlp.onnx"
    ember.onnx.export(m, (ember.randn(2, 6),), str(path))
    proto = onnx.load(str(path))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    for name, t in m.state_dict().items():
        np.testing.assert_array_equal(inits[name], t.numpy(force=True))
    assert [i.name for i in proto.graph.input] == ["x"]   # (the forward's parameter name)


def test_export_params_false_makes_parameters_inputs():
    m = nn.Linear(3, 2)
    proto = ember.onnx.export(m, (ember.randn(1, 3),), None, export_params=False)
    assert not proto.graph.initializer
    assert {i.name for i in proto.graph.input} == {"input", "weight", "bias"}


def test_is_in_onnx_export():
    seen = []

    def fn(x):
        seen.append(ember.onnx.is_in_onnx_export())
        return x * 2
    assert not ember.onnx.is_in_onnx_export()
    ember.onnx.export(_module(fn), (ember.randn(2),), io.BytesIO())
    assert seen and all(seen)
    assert not ember.onnx.is_in_onnx_export()


def test_unsupported_op_names_it():
    with pytest.raises(ember.onnx.errors.UnsupportedOperatorError, match="Cumsum"):
        ember.onnx.export(_module(lambda x: x.cumsum(0)), (ember.randn(3),), io.BytesIO())
    assert issubclass(ember.onnx.UnsupportedOperatorError, RuntimeError)


def test_values_taken_out_of_the_graph_are_refused():
    # float(x.sum()) leaves Ember's ops: the trace would bake this example's value in
    m = _module(lambda x: x * float(x.sum()))
    with pytest.raises(ember.onnx.OnnxExporterError, match="changes with the inputs"):
        ember.onnx.export(m, (ember.randn(4),), io.BytesIO())


def test_untraceable_inplace_update_is_refused():
    def fn(x):
        y = x * 1
        y.add_(1.0)         # (a fast in-place update the recorder cannot see)
        return y * 2
    with pytest.raises(ember.onnx.OnnxExporterError, match="in place"):
        ember.onnx.export(_module(fn), (ember.randn(3),), io.BytesIO())


def test_control_flow_on_values_is_refused():
    m = _module(lambda x: x.exp() if bool(x[0] > x[1]) else x.sin())
    with pytest.raises(ember.onnx.OnnxExporterError, match="different ops"):
        ember.onnx.export(m, (ember.tensor([2.0, 1.0, 0.0]),), io.BytesIO())


def test_bad_options():
    m = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="opset"):
        ember.onnx.export(m, (ember.randn(1, 2),), io.BytesIO(), opset_version=11)
    with pytest.raises(ember.onnx.OnnxExporterError, match="dynamic_axes"):
        ember.onnx.export(m, (ember.randn(1, 2),), io.BytesIO(), dynamic_shapes={"input": {0: "b"}})
    with pytest.raises(TypeError, match="file"):
        ember.onnx.export(m, (ember.randn(1, 2),), 42)


class _NanoAttention(nn.Module):
    """nanoGPT's manual attention: a causal mask buffer sliced to the length."""

    def __init__(self, C=8, H=2, block=12):
        super().__init__()
        self.H = H
        self.qkv = nn.Linear(C, 3 * C)
        self.register_buffer("bias", ember.ones(block, block).tril().view(1, 1, block, block))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / (C // self.H) ** 0.5)
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return y.transpose(1, 2).contiguous().view(B, T, C)


def test_manual_attention_with_mask_buffer_dynamic_length():
    ember.manual_seed(9)
    m = _NanoAttention().eval()
    proto, sess = _export(m, (ember.randn(2, 5, 8),), input_names=["x"],
                          dynamic_axes={"x": {0: "B", 1: "T"}})
    assert "bias" in {i.name for i in proto.graph.initializer}
    for shape in ((2, 5, 8), (3, 12, 8), (1, 1, 8)):
        _check(m, sess, ember.randn(*shape))


def test_function_kwargs_and_verbose(capsys):
    def fn(x, *, scale):
        return x * scale
    proto = ember.onnx.export(fn, (ember.randn(2, 3),), None, kwargs={"scale": ember.full((3,), 2.0)},
                              input_names=["x", "scale"], verbose=True)
    assert [i.name for i in proto.graph.input] == ["x", "scale"]
    assert "main_graph" in capsys.readouterr().out
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x, s = np.ones((2, 3), np.float32), np.arange(3, dtype=np.float32)
    np.testing.assert_allclose(sess.run(None, {"x": x, "scale": s})[0], x * s)


def test_padding_mask_from_the_inputs_stays_in_the_graph():
    # the bool masks come from the token ids: the exported graph must compute
    # them (an all-True mask in the example must not be baked in)
    class PaddedAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 8)
            self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, ids):
            x = self.emb(ids)
            keep = (ids != 0)[:, None, None, :]
            y = F.scaled_dot_product_attention(x[:, None], x[:, None], x[:, None], attn_mask=keep)
            z, _ = self.mha(x, x, x, key_padding_mask=ids == 0, need_weights=False)
            return y[:, 0] + z

    ember.manual_seed(10)
    m = PaddedAttention().eval()
    _, sess = _export(m, (ember.randint(1, 10, (2, 5)),), input_names=["ids"],
                      dynamic_axes={"ids": {0: "B", 1: "T"}})
    ids = ember.tensor([[3, 4, 0, 0, 0, 1], [5, 0, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6]])
    _check(m, sess, ids)


@pytest.mark.parametrize("fold", [True, False])
def test_constant_folding(fold):
    m = _module(lambda x: x + ember.arange(4.0).exp() * (ember.ones(4, 4).tril() == 0).float())
    proto, sess = _export(m, (ember.randn(2, 4, 4),), do_constant_folding=fold)
    ops = {n.op_type for n in proto.graph.node}
    assert ("Exp" in ops and "Trilu" in ops) == (not fold)
    _check(m, sess, ember.randn(2, 4, 4))


def test_keep_initializers_as_inputs():
    m = nn.Linear(3, 2)
    proto = ember.onnx.export(m, (ember.randn(1, 3),), None, keep_initializers_as_inputs=True)
    assert {i.name for i in proto.graph.initializer} == {"weight", "bias"}
    assert [i.name for i in proto.graph.input] == ["input", "weight", "bias"]


def test_custom_function_is_traced_through():
    class Shifted(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clamp(min=0) + 1

        @staticmethod
        def backward(ctx, g):
            return g

    m = _module(lambda x: Shifted.apply(x) * 2)
    proto, sess = _export(m, (ember.randn(3, 4),))
    assert "Clip" in {n.op_type for n in proto.graph.node}
    _check(m, sess, ember.randn(3, 4))


def test_training_mode_dropout_is_refused_by_name():
    m = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    with pytest.raises(ember.onnx.UnsupportedOperatorError, match="MaskMul"):
        ember.onnx.export(m, (ember.randn(2, 3),), io.BytesIO(),
                          training=ember.onnx.TrainingMode.TRAINING)
    assert m.training


def test_bidirectional_gru_and_lstm_with_state():
    ember.manual_seed(11)

    class Rec(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(4, 5, num_layers=2, bidirectional=True)
            self.lstm = nn.LSTM(10, 3, batch_first=True)

        def forward(self, x, h0, c0):
            y, h = self.gru(x)
            z, (hn, cn) = self.lstm(y.transpose(0, 1), (h0, c0))
            return z, h, hn, cn

    m = Rec().eval()
    args = (ember.randn(6, 2, 4), ember.randn(1, 2, 3), ember.randn(1, 2, 3))
    proto, sess = _export(m, args, dynamic_axes={"x": {0: "T", 1: "N"}, "h0": {1: "N"},
                                                 "c0": {1: "N"}})
    assert {"GRU", "LSTM"} <= {n.op_type for n in proto.graph.node}
    _check(m, sess, *args)
    _check(m, sess, ember.randn(3, 4, 4), ember.randn(1, 4, 3), ember.randn(1, 4, 3))
