"""The GPU tooling of issue #16, checked without a GPU: tools/gpu_check.sh's dry
run, bench/run.py's device table (Ember on the fake CUDA device of
tests/fake_cuda.py), and the examples' --device flag (on the CPU, on the fake
CUDA device, and refused with a message when no GPU is there).  The GPU runs
themselves are tools/gpu_check.sh's job."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ember

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
if EXAMPLES not in sys.path:
    sys.path.insert(0, EXAMPLES)
from helpers import TEST_DEVICE   # (the device type: fake-cuda is "cuda")


def test_test_device_is_honoured():
    """Tensors made in a test land on EMBER_TEST_DEVICE: gpu_check.sh adds this test
    to every stage it runs on cuda, so a suite silently running on the CPU fails."""
    x = ember.ones(3)
    assert x.device.type == TEST_DEVICE
    assert (x + x).device.type == TEST_DEVICE


@pytest.fixture
def cuda():
    """The real GPU when Ember has one, else the fake CUDA device of tests/fake_cuda.py
    registered for this test (as tests/test_cuda_device.py does)."""
    import fake_cuda
    with fake_cuda.cuda_device() as kind:
        yield kind


def _run(args, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("EMBER_TEST_DEVICE", None)
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, **kw)


# The bench's device table, driven in a child process (bench/workloads.py tunes the
# allocator of the process that imports it): Ember's half on the fake CUDA device
# of tests/fake_cuda.py, torch's on the CPU (no GPU here) with its CUDA calls
# answered there; the memory peaks, which neither can show, are fixed numbers.
_BENCH_DRIVER = r"""
import sys
sys.argv = ["run.py"]
sys.path[:0] = ["bench", "tests"]
import ember, torch, run, workloads, fake_cuda
fake_cuda.register()
torch.cuda.synchronize = lambda: None
torch.cuda.reset_peak_memory_stats = lambda: None
for lib, peak in ((ember, 3 * 2 ** 20), (torch, 5 * 2 ** 20)):
    lib.cuda.max_memory_allocated = lambda peak=peak: peak
ember.cuda.reset_peak_memory_stats = lambda: None
def where(lib, device):
    return device if lib is ember else "cpu"
def tiny_gpt(lib, device="cpu"):       # the builders of the device workloads, tiny
    return workloads._gpt_train(lib, True, batch=2, n_layer=1, n_head=2, n_embd=16,
                                block_size=16, device=where(lib, device))
def tiny_resnet(lib, device="cpu"):
    model = workloads.resnet_model(lib, stem=4, stages=((4, 1), (8, 2)))
    return workloads._sgd_image_step(lib, model, 2, where(lib, device))
def tiny_mlp(lib, device="cpu"):
    return workloads._mlp_train(lib, 8, where(lib, device))
table = {"tiny_gpt": (tiny_gpt, 2, "tiny GPT"), "tiny_resnet": (tiny_resnet, 2, "tiny ResNet"),
         "tiny_mlp": (tiny_mlp, 2, "tiny MLP")}
run.DEVICE_TARGETS["tiny_mlp"] = (1e9, 0.0)          # (targets any run meets)
run.step_flops = lambda name, make, device=None: 1000
args = type("Args", (), dict(device="cuda", scale=1.0, rounds=2, cpu_steps=1))
run._device_table(list(table), table, args)
fake_cuda.unregister()
print("RC", run.main(["--device", "cuda"]))
"""


@pytest.mark.skipif(ember.cuda.is_available(), reason="checks the no-GPU answer")
def test_bench_device_table():
    r = _run([sys.executable, "-c", _BENCH_DRIVER], timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    head = next(ln for ln in lines if ln.startswith("workload"))
    for col in ("ember ms", "torch ms", "ratio", "ember MiB", "torch MiB", "cuda/cpu"):
        assert col in head
    rows = {ln.split()[0]: ln.split() for ln in lines if ln.startswith("tiny_")}
    assert set(rows) == {"tiny_gpt", "tiny_resnet", "tiny_mlp"}, r.stdout + r.stderr
    for row in rows.values():
        assert float(row[1]) > 0 and float(row[2]) > 0   # ember ms, torch ms
        assert row[5:7] == ["3.0", "5.0"]                # the peaks, in MiB
        assert row[10].endswith("x")                     # Ember-CPU / Ember-device speedup
    row = rows["tiny_mlp"]
    assert lines[lines.index("targets (issue #16):") + 1] == (
        f"  tiny_mlp: ratio {row[3]} (target <= 1000000000.0: met), cuda/cpu "
        f"{row[10][:-1]}x (target >= 0x: met)")
    assert lines[-1] == "RC 2" and "no GPU here" in r.stderr


def test_fit_moves_each_batch_to_the_device():
    """The examples' loop with ``device``: data kept on the CPU and each batch moved
    to the model's device trains exactly as data made there (on the CPU test device
    that is today's run; under EMBER_TEST_DEVICE=guard every batch really moves)."""
    import _common as C
    from ember.models.mlp import MLP
    x = ember.randn(96, 1, 4, 4, device="cpu")
    y = ember.randint(0, 3, (96,), device="cpu")
    runs = []
    for on_device, device in ((True, None), (False, C.device(TEST_DEVICE))):
        ember.manual_seed(0)
        model = MLP(16, hidden=(8,), num_classes=3)          # on the test device
        xs, ys = (x.to(TEST_DEVICE), y.to(TEST_DEVICE)) if on_device else (x, y)
        opt = ember.optim.SGD(model.parameters(), lr=0.1)
        h = C.fit(model, opt, (xs[:64], ys[:64]), (xs[64:], ys[64:]), ember, epochs=2,
                  batch_size=16, show_progress=False, log=lambda msg: None, device=device)
        runs.append((h["train_loss"], h["test_loss"]))
    assert runs[0] == runs[1]


def test_fit_on_cuda_matches_the_cpu(cuda):
    """The examples' loop with the model on cuda and the data on the CPU: every batch
    moves, the parameters stay on the device, the losses are the CPU run's."""
    import _common as C
    from ember.models.mlp import MLP
    x = ember.randn(96, 1, 4, 4)
    y = ember.randint(0, 3, (96,))
    runs = []
    for device in ("cpu", "cuda"):
        ember.manual_seed(0)
        model = MLP(16, hidden=(8,), num_classes=3).to(C.device(device))
        opt = ember.optim.Adam(model.parameters(), lr=0.01)
        h = C.fit(model, opt, (x[:64], y[:64]), (x[64:], y[64:]), ember, epochs=2,
                  batch_size=16, show_progress=False, log=lambda msg: None,
                  device=C.device(device))
        assert {p.device.type for p in model.parameters()} == {device}
        assert {v.device.type for st in opt.state.values() for v in st.values()
                if isinstance(v, ember.Tensor) and v.dim() > 0} == {device}
        runs.append(h["train_loss"] + h["test_loss"])
    assert np.allclose(runs[0], runs[1], rtol=1e-4, atol=1e-5)


def test_text_examples_on_cuda(cuda, tmp_path, capsys):
    """char_lstm (sampling with a generator on the device) and char_gpt (positions
    made on the input's device, sampling) train and sample with --device cuda."""
    import char_gpt
    import char_lstm
    corpus = tmp_path / "input.txt"
    corpus.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 30)
    h = char_lstm.main(["--data", str(corpus), "--device", "cuda", "--epochs", "1",
                        "--steps", "2", "--block-size", "8", "--batch-size", "2",
                        "--hidden", "8", "--sample", "5", "--no-progress",
                        "--out", str(tmp_path / "lstm")])
    assert len(h["val_loss"]) == 1
    res = char_gpt.main([str(corpus), "--device", "cuda", "--steps", "2", "--n-layer", "1",
                         "--n-head", "2", "--n-embd", "16", "--block-size", "16",
                         "--batch-size", "2", "--eval-iters", "1", "--sample", "5",
                         "--no-progress", "--out", str(tmp_path / "gpt")])
    assert res["ember"] > 0
    state = ember.load(str(tmp_path / "gpt" / "checkpoint.ember"), map_location="cpu")
    assert state["model"]["lm_head.weight"].device.type == "cpu"
    assert "sample:" in capsys.readouterr().out


@pytest.mark.skipif(ember.cuda.is_available(), reason="checks the no-GPU answer")
@pytest.mark.parametrize("example", ["mnist_mlp", "mnist_cnn", "demo", "resnet_cifar_synthetic",
                                     "char_lstm"])
def test_examples_device_cuda_without_gpu_exits_with_a_message(example, tmp_path, capsys):
    """Each example takes --device; asking for a GPU that is not there stops at once
    with a message (status 2), before any data is read."""
    mod = __import__(example)
    with pytest.raises(SystemExit) as exc:
        mod.main(["--device", "cuda", "--data", str(tmp_path / "none"),
                  "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert "ember.cuda.is_available() is False" in capsys.readouterr().err


def test_char_gpt_max_gap_needs_compare(tmp_path):
    """(gpu_check.sh's dry run runs --preset gpu --device cpu --compare --max-gap.)"""
    import char_gpt
    assert char_gpt.PRESETS["gpu"]["n_layer"] == 6 and char_gpt.PRESETS["gpu"]["block_size"] == 256
    with pytest.raises(SystemExit) as exc:
        char_gpt.main([str(tmp_path / "none.txt"), "--max-gap", "3"])
    assert exc.value.code == 2


@pytest.mark.guard_skip
def test_gpu_check_dry_run(tmp_path):
    """tools/gpu_check.sh without a GPU: says so, runs the CPU-runnable stages, writes
    the summary, exits 0."""
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=ROOT, OUT=str(out), PYTHON=sys.executable,
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("EMBER_TEST_DEVICE", None)
    r = subprocess.run(["bash", os.path.join(ROOT, "tools", "gpu_check.sh"), "--dry"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "CPU-runnable parts only" in r.stdout
    summary = (out / "summary.txt").read_text()
    table = summary.split("\n\n")[0].splitlines()[3:]          # (the stage table)
    rows = {ln.split()[0]: ln.split()[1] for ln in table}
    data = ember.datasets.default_data_root()
    has_text = data is not None and os.path.isfile(os.path.join(data, "tinyshakespeare",
                                                                "input.txt"))
    assert rows == {"env": "PASS", "files": "PASS", "pytest": "PASS", "bench_list": "PASS",
                    "char_gpt": "PASS" if has_text else "SKIP"}, summary
    assert "1 passed" in summary                          # pytest's count, parsed
    env_log = (out / "env.log").read_text()
    assert "ember.cuda.is_available() False" in env_log and "why: " in env_log
    listing = (out / "bench_list.log").read_text()
    for name in ("nanogpt_b64", "resnet_b256", "mlp_b4096"):
        assert f"\n{name} " in listing
    if has_text:
        assert "val loss: ember" in summary                  # char_gpt's losses, copied
    for name in ("gpu_check.log", "pytest.xml", "nvidia-smi.txt"):
        assert (out / name).exists(), name
