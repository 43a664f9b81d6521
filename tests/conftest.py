import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np
import pytest

import ember

# EMBER_TEST_DEVICE=guard runs the tests with every tensor on the guard
# backend (tests/guard_backend.py), whose arrays refuse NumPy calls that do
# not come through the backend seam.
#
# EMBER_TEST_DEVICE=cuda runs them with every tensor on the real GPU (CuPy):
# tools/gpu_check.sh uses it to run the op test files on CUDA.  Without a
# GPU that is an error, not a silent run on the CPU.
#
# EMBER_TEST_DEVICE=fake-cuda runs them on the fake CUDA device of
# tests/fake_cuda.py (registered as "cuda" for the whole session): NumPy
# underneath, but it refuses what CuPy refuses (NumPy arrays in a device
# computation, .numpy(), flags.writeable), so the op files can be checked for
# what a GPU run would hit without one (`make test-fake-cuda`).
ENV_DEVICE = os.environ.get("EMBER_TEST_DEVICE", "cpu")
TEST_DEVICE = "cuda" if ENV_DEVICE == "fake-cuda" else ENV_DEVICE   # (the device type)
if ENV_DEVICE == "guard":
    import guard_backend
    guard_backend.register()
elif ENV_DEVICE == "fake-cuda":
    import fake_cuda
    fake_cuda.register(session=True)
elif ENV_DEVICE == "cuda":
    if not ember.cuda.is_available():
        from ember.backends import gpu
        raise pytest.UsageError(f"EMBER_TEST_DEVICE=cuda, but CUDA is not available: {gpu.why()}")
elif ENV_DEVICE != "cpu":
    raise pytest.UsageError(f"EMBER_TEST_DEVICE={ENV_DEVICE!r}: expected cpu, guard, cuda or "
                            "fake-cuda")


def pytest_configure(config):
    # (registered here rather than in pyproject.toml, whose every change makes
    # `make` reinstall the virtual environment)
    config.addinivalue_line(
        "markers", "guard_skip: runs no Ember tensor op in this process (torch alone, or only "
        "subprocesses); `make test-guard` leaves it out")


@pytest.fixture(autouse=True)
def _reset_state():
    """Each test starts with the default dtype, grad mode on, a fixed seed,
    and the test device as the default device."""
    ember.set_default_dtype(ember.float32)
    ember.set_default_device(None if TEST_DEVICE == "cpu" else TEST_DEVICE)
    ember.manual_seed(0)
    np.random.seed(0)
    yield
    ember.set_default_device(None)
    ember.set_default_dtype(ember.float32)
    ember.autograd.grad_mode.state.enabled = True
    ember.autograd.anomaly.state.enabled = False
    ember.autograd.anomaly.state.check_nan = True
    ember.autograd.grad_mode.state.inference = False

@pytest.fixture(params=["kernels", "numpy"])
def jit(request):
    """Run the test once with the compiled kernels, once with NumPy only."""
    if request.param == "kernels":
        pytest.importorskip("numba")
    from ember.backends.cpu import _jit
    old = _jit.set_enabled(request.param == "kernels")
    yield request.param
    _jit.set_enabled(old)

