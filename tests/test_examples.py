"""The example scripts run end to end on tiny data: each trains a few steps,
prints per-epoch metrics, and writes a checkpoint ember.load can read and a PNG.

The MNIST examples read a generated stand-in (10,000 random 28x28 digits in
the official IDX format) so these tests need no data files and stay quick;
the real-data runs are in test_accuracy.py (slow).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
if EXAMPLES not in sys.path:
    sys.path.insert(0, EXAMPLES)

import _common  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
QUICK = ["--epochs", "1", "--steps", "3", "--no-progress"]


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # as the scripts run (see _common): 2 BLAS threads on 2 busy cores made
    # these runs several times slower
    with _common.blas_threads(1):
        yield


def write_idx(path, arr):
    """Write ``arr`` (uint8) as an uncompressed IDX file."""
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 0x08, arr.ndim]))
        f.write(np.asarray(arr.shape, dtype=">u4").tobytes())
        f.write(np.ascontiguousarray(arr, dtype=np.uint8).tobytes())


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory):
    """A data root with a stand-in MNIST t10k (10,000 images) and a small text."""
    root = tmp_path_factory.mktemp("data")
    os.makedirs(root / "mnist")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 10000).astype(np.uint8)
    images = rng.integers(0, 40, (10000, 28, 28)).astype(np.uint8)
    for k in range(10):  # a bright bar whose row depends on the label: learnable
        images[labels == k, 2 + 2 * k:4 + 2 * k, 4:24] = 255
    write_idx(root / "mnist" / "t10k-images-idx3-ubyte", images)
    write_idx(root / "mnist" / "t10k-labels-idx1-ubyte", labels)
    os.makedirs(root / "tinyshakespeare")
    verse = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
    (root / "tinyshakespeare" / "input.txt").write_text(verse * 40, encoding="utf-8")
    return str(root)


def check_outputs(out, capsys, final):
    """The run printed epoch metrics and ``final``, and wrote a loadable
    checkpoint and a PNG into ``out``."""
    text = capsys.readouterr().out
    assert "epoch 1" in text and "train_loss" in text, text
    assert final in text, text
    ckpt = os.path.join(out, "checkpoint.ember")
    png = os.path.join(out, "curves.png")
    assert f"checkpoint: {ckpt}" in text and f"curves: {png}" in text
    state = ember.load(ckpt)
    with open(png, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    return state, text


def test_mnist_mlp(fake_data, tmp_path, capsys):
    import mnist_mlp
    out = str(tmp_path / "mlp")
    h = mnist_mlp.main(["--data", fake_data, "--out", out, "--epochs", "2", "--steps", "3",
                        "--no-progress"])
    state, text = check_outputs(out, capsys, "test accuracy:")
    assert "epoch 2" in text and "8000 train / 2000 test" in text
    assert len(h["test_acc"]) == 2
    assert set(state) >= {"model", "optimizer", "history", "args"}
    from ember.models.mlp import MLP
    MLP().load_state_dict(state["model"])  # the checkpoint restores the model


def test_mnist_cnn_with_progress_bar(fake_data, tmp_path, capsys):
    import mnist_cnn
    out = str(tmp_path / "cnn")
    mnist_cnn.main(["--data", fake_data, "--out", out, "--epochs", "1", "--steps", "2",
                    "--train-size", "64", "--test-size", "50", "--batch-size", "16"])
    captured = capsys.readouterr()
    assert "epoch 1/1" in captured.err  # tqdm's bar
    sys.stdout.write(captured.out)  # hand stdout back to check_outputs
    state, text = check_outputs(out, capsys, "test accuracy:")
    assert "64 train / 50 test" in text
    from ember.models.lenet import LeNet5
    LeNet5().load_state_dict(state["model"])


def test_demo_in_process(fake_data, tmp_path, capsys):
    import demo
    out = str(tmp_path / "demo")
    demo.main(["--data", fake_data, "--out", out, *QUICK, "--train-size", "128",
               "--test-size", "100"])
    _, text = check_outputs(out, capsys, "test accuracy:")
    assert text.rstrip().splitlines()[-1].startswith("test accuracy: ")
    assert text.rstrip().endswith("%")


def test_demo_cli_uses_ember_data_env(fake_data, tmp_path):
    """As `make demo` runs it, in a fresh process, the data folder from EMBER_DATA."""
    out = str(tmp_path / "demo_cli")
    env = dict(os.environ, EMBER_DATA=fake_data)
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "demo.py"), "--out", out,
                        *QUICK, "--train-size", "64", "--test-size", "50"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "test accuracy: " in r.stdout
    assert os.path.isfile(os.path.join(out, "checkpoint.ember"))
    assert os.path.isfile(os.path.join(out, "curves.png"))


@pytest.mark.parametrize("where", ["missing folder", "folder without MNIST"])
def test_demo_without_data_says_where_to_put_it(tmp_path, where):
    data = str(tmp_path / "nowhere") if where == "missing folder" else str(tmp_path)
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "demo.py"), "--data", data,
                        "--out", str(tmp_path / "o")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert "t10k-images-idx3-ubyte.gz" in r.stderr and "EMBER_DATA" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("dataset", ["synthetic", "mnist32"])
def test_resnet_example(fake_data, tmp_path, capsys, dataset):
    import resnet_cifar_synthetic as ex
    out = str(tmp_path / dataset)
    ex.main(["--data", fake_data, "--dataset", dataset, "--out", out, *QUICK,
             "--train-size", "48", "--test-size", "20", "--batch-size", "16"])
    state, text = check_outputs(out, capsys, "test accuracy:")
    channels = 3 if dataset == "synthetic" else 1
    assert f"of shape ({channels}, 32, 32)" in text
    from ember.models.resnet import ResNet
    ResNet(8, in_channels=channels, width=8).load_state_dict(state["model"])


def test_synthetic_images_are_deterministic():
    from resnet_cifar_synthetic import synthetic_images
    x1, y1 = synthetic_images(20, seed=4)
    x2, y2 = synthetic_images(20, seed=4)
    assert x1.shape == (20, 3, 32, 32) and x1.dtype == ember.float32 and y1.dtype == ember.int64
    assert ember.equal(x1, x2) and ember.equal(y1, y2)
    assert int(y1.min()) >= 0 and int(y1.max()) < 10


def test_scalar_mlp(tmp_path, capsys):
    import scalar_mlp
    out = str(tmp_path / "scalar")
    h = scalar_mlp.main(["--out", out, "--epochs", "3", "--points", "12", "--no-progress"])
    state, _ = check_outputs(out, capsys, "train accuracy:")
    assert len(h["train_loss"]) == 3
    assert state["parameters"].shape == (2 * 16 + 16 + 16 * 16 + 16 + 16 + 1,)


def test_scalar_mlp_writes_epoch_lines_through_its_bar(tmp_path, capsys, monkeypatch):
    """Epoch lines go through the bar's own ``write`` (tqdm keeps them above the bar),
    never a bare print that would land inside the bar's line."""
    import builtins
    import scalar_mlp
    written, printed = [], []

    class Bar:
        def __init__(self, iterable, *a, **k):
            self.iterable = iterable

        def __iter__(self):
            return iter(self.iterable)

        def set_postfix(self, **k):
            pass

        def write(self, msg):
            written.append(msg)

        def close(self):
            pass
    real_print = builtins.print
    monkeypatch.setattr(scalar_mlp.C, "progress", lambda it, desc, enabled=True, total=None: Bar(it))
    monkeypatch.setattr(builtins, "print", lambda *a, **k: (printed.append(a), real_print(*a, **k)))
    scalar_mlp.main(["--out", str(tmp_path / "s"), "--epochs", "2", "--points", "8"])
    assert len(written) == 2 and all("epoch" in w for w in written)
    assert not any(a and a[0] in written for a in printed)


def test_bench_kernels_help_prints_help_and_runs_nothing():
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    r = subprocess.run([sys.executable, os.path.join(root, "bench", "kernels.py"), "--help"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0
    assert r.stdout.startswith("usage: kernels.py") and "median ms" not in r.stdout


def test_scalar_moons():
    from scalar_mlp import make_moons
    X, y = make_moons(10, seed=1)
    assert X.shape == (10, 2) and sorted(set(y.tolist())) == [-1.0, 1.0]


@pytest.mark.skipif(not hasattr(nn, "LSTM"), reason="nn.LSTM not available yet")
def test_char_lstm(fake_data, tmp_path, capsys):
    import char_lstm
    out = str(tmp_path / "lstm")
    h = char_lstm.main(["--data", fake_data, "--out", out, "--epochs", "2", "--steps", "2",
                        "--no-progress", "--block-size", "16", "--batch-size", "4",
                        "--hidden", "16", "--sample", "20"])
    state, text = check_outputs(out, capsys, "validation loss:")
    assert "sample: " in text
    assert len(h["val_loss"]) == 2
    assert "".join(state["vocab"]) == "".join(sorted(set(state["vocab"])))


def test_common_history_and_plot(tmp_path):
    C = _common
    h = C.History().add(epoch=1, train_loss=1.0, test_acc=0.5).add(epoch=2, train_loss=0.5,
                                                                   test_acc=0.75)
    assert h["train_loss"] == [1.0, 0.5] and h.last("test_acc") == 0.75
    assert C.History.format(h.rows[-1]) == "epoch 2  train_loss 0.5000  test_acc 75.00%"
    png = C.plot_curves(h, str(tmp_path / "sub" / "c.png"), "t")
    with open(png, "rb") as f:
        assert f.read(8) == PNG_MAGIC
