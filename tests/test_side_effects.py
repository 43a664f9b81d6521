"""Importing Ember and training with it leave the user's process as it was:
NumPy's BLAS thread count and the allocator (see README, "What Ember changes")."""
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PROBE = textwrap.dedent("""
    import ctypes, glob, os, time
    import numpy as np

    def blas_threads():
        root = os.path.dirname(np.__file__)
        for path in glob.glob(os.path.join(root, os.pardir, "numpy.libs", "*openblas*")):
            lib = ctypes.CDLL(path)
            for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                         "openblas_get_num_threads"):
                fn = getattr(lib, name, None)
                if fn is not None:
                    return fn()
        return None

    before = blas_threads()
    import ember
    after_import = blas_threads()
    ember.set_num_threads(2)
    model = ember.nn.Sequential(ember.nn.Linear(256, 512), ember.nn.GELU(),
                                ember.nn.Linear(512, 256))
    opt = ember.optim.Adam(model.parameters())
    x = ember.randn(512, 256)
    during = None
    for _ in range(5):
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        during = blas_threads() if during is None else during
    # Ember's workers go to sleep ~7 ms after the last op and give the
    # threads back then; on a loaded machine that can take longer.
    deadline = time.monotonic() + 10
    while blas_threads() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    print(before, after_import, during, blas_threads())
""")


def test_blas_threads_are_given_back_after_training():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2", PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    before, after_import, during, after = out.stdout.split()
    if before == "None":
        return       # (a NumPy without a bundled OpenBLAS: nothing Ember could change)
    assert after_import == before        # importing changes nothing
    assert after == before               # training took them at most while it ran


def test_import_leaves_the_allocator_alone():
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("EMBER_MALLOC_TUNE", None)
    code = "import ember; print(ember.backends.cpu._alloc.tuned)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.stdout.split() == ["False"], out.stderr
