"""The GPU tooling of issue #16, checked on the CPU: tools/gpu_check.sh's dry
run, bench/run.py's device workloads and --device flag, and the examples'
--device cpu path.  (The GPU runs themselves are tools/gpu_check.sh's job.)"""
import os
import subprocess
import sys

import pytest

import ember

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
if EXAMPLES not in sys.path:
    sys.path.insert(0, EXAMPLES)
TEST_DEVICE = os.environ.get("EMBER_TEST_DEVICE", "cpu")


def test_test_device_is_honoured():
    """Tensors made in a test land on EMBER_TEST_DEVICE: gpu_check.sh adds this test
    to every stage it runs on cuda, so a suite silently running on the CPU fails."""
    x = ember.ones(3)
    assert x.device.type == TEST_DEVICE
    assert (x + x).device.type == TEST_DEVICE


def _run(args, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("EMBER_TEST_DEVICE", None)
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, **kw)


# The bench's device table, driven in a child process (bench/workloads.py tunes the
# allocator of the process that imports it) with the CUDA calls it makes answered
# on the CPU: synchronize does nothing, the memory peaks are fixed numbers.
_BENCH_DRIVER = r"""
import sys, types
sys.argv = ["run.py"]
sys.path.insert(0, "bench")
import ember, torch, run, workloads
for lib, peak in ((ember, 3 * 2 ** 20), (torch, 5 * 2 ** 20)):
    lib.cuda.synchronize = lambda: None
    lib.cuda.reset_peak_memory_stats = lambda: None
    lib.cuda.max_memory_allocated = lambda peak=peak: peak
def tiny(lib, device="cpu"):
    return workloads._mlp_train(lib, 8, device)
table = {"tiny": (tiny, 2, "tiny MLP")}
run.DEVICE_TARGETS["tiny"] = (1e9, 0.0)          # (targets any run meets)
args = types.SimpleNamespace(device="cpu", scale=1.0, rounds=2, cpu_steps=1)
run.step_flops = lambda name, make, device=None: 1000
run._device_table(["tiny"], table, args)
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
    row = next(ln for ln in lines if ln.startswith("tiny ")).split()
    assert float(row[1]) > 0 and float(row[2]) > 0       # ember ms, torch ms
    assert row[5:7] == ["3.0", "5.0"]                    # the peaks, in MiB
    assert row[10].endswith("x")                         # Ember-CPU / Ember-device speedup
    assert lines[-3:-1] == ["targets (issue #16):", "  tiny: ratio " + row[3] +
                            " (target <= 1000000000.0: met), cuda/cpu " +
                            row[10].strip("x") + "x (target >= 0x: met)"]
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
    assert "ember.cuda.is_available() False" in (out / "env.log").read_text()
    listing = (out / "bench_list.log").read_text()
    for name in ("nanogpt_b64", "resnet_b256", "mlp_b4096"):
        assert f"\n{name} " in listing
    if has_text:
        assert "val loss: ember" in summary                  # char_gpt's losses, copied
    for name in ("gpu_check.log", "pytest.xml", "nvidia-smi.txt"):
        assert (out / name).exists(), name
