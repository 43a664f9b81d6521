"""ember.utils.tensorboard.SummaryWriter: what it writes, read back by
TensorBoard's own reader (EventAccumulator), against what torch's
SummaryWriter writes for the same calls."""
import glob
import io
import os
import time

import numpy as np
import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

import ember  # noqa: E402
from ember.utils.tensorboard import SummaryWriter  # noqa: E402

torch = pytest.importorskip("torch")
from torch.utils.tensorboard import SummaryWriter as TorchWriter  # noqa: E402


def read(d):
    acc = EventAccumulator(str(d), size_guidance={"tensors": 0, "images": 0, "histograms": 0,
                                                  "scalars": 0})
    acc.Reload()
    return acc


def both(tmp_path, write):
    """Run ``write(writer, lib)`` with Ember's writer and torch's, in two
    directories; return their readers."""
    out = []
    for name, cls, lib in (("ember", SummaryWriter, ember), ("torch", TorchWriter, torch)):
        d = tmp_path / name
        with cls(str(d)) as w:
            write(w, lib)
        out.append(read(d))
    return out


def test_scalars_read_back(tmp_path):
    values = [0.5, 1.25, -3.0, 7.0]

    def write(w, lib):
        for i, v in enumerate(values):
            w.add_scalar("loss/train", v, i)
        w.add_scalar("t", lib.tensor(2.5), 10)
        w.add_scalar("np", np.float32(4.0), 3)
        w.add_scalar("new", 0.1, 1, new_style=True)
    e, t = both(tmp_path, write)
    got = [(s.step, s.value) for s in e.Scalars("loss/train")]
    assert got == list(enumerate(values))
    for tag in ("loss/train", "t", "np"):
        assert [(s.step, s.value) for s in e.Scalars(tag)] == \
               [(s.step, s.value) for s in t.Scalars(tag)]
    # new_style: a tensor value, which the scalars plugin reads
    assert e.Tensors("new")[0].tensor_proto == t.Tensors("new")[0].tensor_proto


def test_add_scalars_makes_one_run_per_key(tmp_path):
    def write(w, lib):
        for i in range(3):
            w.add_scalars("run/loss", {"train": 1.0 / (i + 1), "val": 2.0 * i}, i)
    both(tmp_path, write)
    def runs(d):
        return sorted(n for n in os.listdir(d) if not n.startswith("events."))
    names = runs(tmp_path / "ember")
    assert names == runs(tmp_path / "torch")
    assert "run_loss_train" in names and "run_loss_val" in names
    acc = read(tmp_path / "ember" / "run_loss_val")
    assert [(s.step, s.value) for s in acc.Scalars("run/loss")] == [(0, 0.0), (1, 2.0), (2, 4.0)]


def _hist(acc, tag):
    return [h.histogram_value for h in acc.Histograms(tag)]


def test_histograms_match_torch(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=2000).astype(np.float32)
    ints = rng.integers(0, 10, size=50)

    def write(w, lib):
        w.add_histogram("normal", lib.tensor(data), 0)
        w.add_histogram("normal", lib.tensor(data * 2), 1)
        w.add_histogram("auto", data, 0, bins="auto")
        w.add_histogram("ten", lib.tensor(ints), 0, bins=10)
        w.add_histogram("few", data, 0, max_bins=30)
        w.add_histogram_raw("raw", min=0.0, max=3.0, num=6, sum=9.0, sum_squares=19.0,
                            bucket_limits=[1.0, 2.0, 3.0], bucket_counts=[1, 2, 3], global_step=0)
    e, t = both(tmp_path, write)
    for tag in ("normal", "auto", "ten", "few", "raw"):
        for he, ht in zip(_hist(e, tag), _hist(t, tag), strict=True):
            assert he.bucket == ht.bucket and he.bucket_limit == ht.bucket_limit
            assert (he.min, he.max, he.num) == (ht.min, ht.max, ht.num)
            assert he.sum == pytest.approx(ht.sum) and \
                he.sum_squares == pytest.approx(ht.sum_squares)
    h = _hist(e, "normal")[0]
    assert h.num == 2000 and sum(h.bucket) == 2000
    assert h.min == pytest.approx(data.min()) and h.max == pytest.approx(data.max())


def _pixels(acc, tag):
    from PIL import Image
    ev = acc.Images(tag)[0]
    return np.asarray(Image.open(io.BytesIO(ev.encoded_image_string))), (ev.height, ev.width)


def test_images_match_torch(tmp_path):
    rng = np.random.default_rng(1)
    chw = rng.random((3, 5, 7)).astype(np.float32)
    hwc8 = rng.integers(0, 256, (6, 4, 3)).astype(np.uint8)
    hw = rng.random((4, 9))
    batch = rng.random((10, 1, 3, 2)).astype(np.float32)
    rgba = rng.random((4, 3, 3)).astype(np.float32)

    def write(w, lib):
        w.add_image("chw", lib.tensor(chw), 0)
        w.add_image("hwc", hwc8, 0, dataformats="HWC")
        w.add_image("hw", lib.tensor(hw), 0, dataformats="HW")
        w.add_image("over", lib.tensor(chw * 2 - 0.5), 0)     # (clipped to [0, 255])
        w.add_image("rgba", lib.tensor(rgba), 0)
        w.add_images("batch", lib.tensor(batch), 0)
        w.add_images("nhwc", lib.tensor(batch.transpose(0, 2, 3, 1)), 0, dataformats="NHWC")
    e, t = both(tmp_path, write)
    for tag in ("chw", "hwc", "hw", "over", "rgba", "batch", "nhwc"):
        pe, se = _pixels(e, tag)
        pt, st = _pixels(t, tag)
        assert se == st and np.array_equal(pe, pt), tag
    pe, size = _pixels(e, "chw")
    assert size == (5, 7)
    assert np.array_equal(pe, (chw.transpose(1, 2, 0) * 255).clip(0, 255).astype(np.uint8))
    assert _pixels(e, "batch")[1] == (2 * 3, 8 * 2)     # 10 images, 8 to a row


def test_text_matches_torch(tmp_path):
    def write(w, lib):
        w.add_text("note", "lr **0.1**, ünïcode", 3)
    e, t = both(tmp_path, write)
    te, tt = e.Tensors("note/text_summary"), t.Tensors("note/text_summary")
    assert te[0].step == 3 and te[0].tensor_proto == tt[0].tensor_proto
    assert te[0].tensor_proto.string_val == ["lr **0.1**, ünïcode".encode()]
    assert e.SummaryMetadata("note/text_summary").plugin_data.plugin_name == "text"


def test_hparams_read_back(tmp_path):
    from tensorboard.plugins.hparams import metadata, api_pb2
    hp = {"lr": 0.1, "bs": 16, "opt": "adam", "nesterov": True}
    for cls, lib, name in ((SummaryWriter, ember, "ember"), (TorchWriter, torch, "torch")):
        with cls(str(tmp_path / name)) as w:
            w.add_hparams(dict(hp, wd=lib.tensor([0.5])), {"hp/acc": 0.75, "hp/loss": 0.25},
                          hparam_domain_discrete={"opt": ["adam", "sgd"]}, run_name="trial")
    accs = [read(tmp_path / name / "trial") for name in ("ember", "torch")]
    got = []
    for acc in accs:
        content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
        start = metadata.parse_session_start_info_plugin_data(
            content[metadata.SESSION_START_INFO_TAG])
        exp = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
        end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
        assert end.status == api_pb2.STATUS_SUCCESS
        got.append((dict(start.hparams), sorted(i.name for i in exp.hparam_infos),
                    sorted(m.name.tag for m in exp.metric_infos),
                    [(s.step, s.value) for s in acc.Scalars("hp/acc")]))
        infos = {i.name: i for i in exp.hparam_infos}
        assert list(infos["opt"].domain_discrete.values) == list(
            api_pb2.HParamInfo(domain_discrete=["adam", "sgd"]).domain_discrete.values)
    assert got[0] == got[1]
    hps = got[0][0]
    assert hps["lr"].number_value == 0.1 and hps["bs"].number_value == 16
    assert hps["opt"].string_value == "adam"
    assert hps["nesterov"].number_value == 1.0     # (torch writes a bool as a number)
    assert hps["wd"].number_value == 0.5
    assert got[0][3] == [(0, 0.75)]


def test_graph_has_one_node_per_op(tmp_path):
    class Net(ember.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = ember.nn.Linear(4, 8)
            self.block = ember.nn.Sequential(ember.nn.ReLU(), ember.nn.Linear(8, 3))

        def forward(self, x):
            return self.block(self.fc1(x)).softmax(-1)

    model = Net()
    model.train()
    with SummaryWriter(str(tmp_path)) as w:
        w.add_graph(model, ember.randn(2, 4))
    assert model.training and model.block.training     # (its mode is given back)
    graph = read(tmp_path).Graph()
    nodes = {n.name: n for n in graph.node}
    ops = [n for n in graph.node if n.op.startswith("aten::")]
    assert [n.op for n in ops] == ["aten::linear", "aten::relu", "aten::linear", "aten::softmax"]
    assert ops[0].name.startswith("Net/Linear[fc1]/")
    assert ops[1].name.startswith("Net/Sequential[block]/ReLU[0]/")
    assert ops[2].name.startswith("Net/Sequential[block]/Linear[1]/")
    for n in graph.node:       # every input names a node of the graph
        for i in n.input:
            assert i.split(":")[0] in nodes, (n.name, i)
    assert list(ops[0].input) == ["input/input.0", "Net/Linear[fc1]/weight", "Net/Linear[fc1]/bias"]
    assert list(ops[1].input) == [ops[0].name]
    assert list(nodes["output/output.0"].input) == [ops[3].name]
    shape = ops[2].attr["_output_shapes"].list.shape[0]
    assert [d.size for d in shape.dim] == [2, 3]
    # and the ops are no longer watched afterwards
    from ember.autograd import _observe
    assert not _observe.active() and "forward" not in type(ember.relu(ember.ones(1)).grad_fn
                                                           or object).__dict__


def test_default_logdir_purge_step_and_lifetime(tmp_path, monkeypatch):
    import socket
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_exp")
    assert w.get_logdir().startswith("runs" + os.sep)
    assert w.get_logdir().endswith(socket.gethostname() + "_exp")
    w.add_scalar("a", 1.0, 0)
    w.flush()
    assert read(w.get_logdir()).Scalars("a")[0].value == 1.0
    w.close()
    w.add_scalar("a", 2.0, 1)      # (a closed writer opens a new file, as torch's)
    w.close()
    assert len(glob.glob(os.path.join(w.get_logdir(), "events.out.tfevents.*"))) == 2

    d = tmp_path / "purge"
    with SummaryWriter(str(d)) as w:
        for i in range(5):
            w.add_scalar("x", float(i), i)
    # TensorBoard reads a run's files in name order, and a name holds the
    # second it was made: start the resumed file in a later second.
    time.sleep(1.0 - time.time() % 1.0 + 0.01)
    with SummaryWriter(str(d), purge_step=2, filename_suffix=".b") as w:
        w.add_scalar("x", 20.0, 2)
    assert glob.glob(str(d / "*.b"))
    assert [(s.step, s.value) for s in read(d).Scalars("x")] == [(0, 0.0), (1, 1.0), (2, 20.0)]


def test_errors_as_torch(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        with pytest.raises(AssertionError, match="0D"):
            w.add_scalar("a", ember.ones(3), 0)
        with pytest.raises(NotImplementedError):
            w.add_scalar("a", "1.0", 0)
        with pytest.raises(AssertionError, match="input format"):
            w.add_image("i", ember.rand(3, 4), 0)
        with pytest.raises(ValueError, match="no element"):
            w.add_histogram("h", ember.ones(0), 0)
        with pytest.raises(TypeError, match="dictionary"):
            w.add_hparams([("lr", 0.1)], {"acc": 1.0})
        with pytest.raises(ValueError, match="value should be one of"):
            w.add_hparams({"lr": [0.1]}, {"acc": 1.0})
