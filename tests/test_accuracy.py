"""Long runs (``make test-slow``): the reference models reach their accuracy on
real MNIST, and land within a point of the same model trained by torch.

Split: the first 8,000 of the 10,000 official test digits train, the last
2,000 test.  Each comparison trains twice in one test: the model file run by
torch (``test_models.torch_twin``) and by Ember, from the same initial
weights (copied from torch), on the same batches in the same order (one
NumPy-seeded permutation per epoch), with the same optimizer and schedule,
through the same training loop (``examples/_common.fit``).
"""
import math
import os
import sys
import time

import pytest
import torch

import ember
from ember.datasets import default_data_root

from test_models import copy_from_torch, torch_twin

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "examples"))
import _common as C  # noqa: E402

pytestmark = pytest.mark.slow


def mnist_or_skip():
    root = default_data_root()
    for sub in ("", "mnist"):
        if root and os.path.isfile(os.path.join(root, sub, "t10k-images-idx3-ubyte.gz")):
            return C.load_mnist_split(root)
    pytest.skip("MNIST t10k files not found (set EMBER_DATA)")


@pytest.fixture
def one_thread():
    """One thread for torch and for NumPy's BLAS: the same work in both
    libraries, and no oversubscription on shared cores (with 2 BLAS threads on
    2 busy cores an Ember ResNet step was measured 10x slower)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with C.blas_threads(1):
        yield
    torch.set_num_threads(n)


def train_both(module, build, make_optimizer, epochs, batch_size, data, one_cycle_lr=None):
    """Train ``module.<build>`` in torch and in Ember from the same weights; return
    both histories."""
    (xtr, ytr), (xte, yte) = data
    twin = torch_twin(module)
    torch.manual_seed(0)
    tm = build(twin)
    em = build(__import__(module, fromlist=["_"]))
    copy_from_torch(em, tm)
    results = {}
    for lib, model, train, test in (
            (torch, tm, (C.to_lib(xtr, torch), C.to_lib(ytr, torch)),
             (C.to_lib(xte, torch), C.to_lib(yte, torch))),
            (ember, em, (xtr, ytr), (xte, yte))):
        opt = make_optimizer(lib, model)
        sched = None
        if one_cycle_lr:
            sched = lib.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=one_cycle_lr, total_steps=epochs * math.ceil(len(ytr) / batch_size))
        t0 = time.perf_counter()
        h = C.fit(model, opt, train, test, lib, epochs, batch_size, seed=0, scheduler=sched,
                  show_progress=False, log=lambda s, n=lib.__name__: print(f"[{n}] {s}"))
        results[lib.__name__] = (h, time.perf_counter() - t0)
    for name, (h, secs) in results.items():
        print(f"{module} {name}: test accuracy {100 * h.last('test_acc'):.2f}% in {secs:.0f} s")
    return results["ember"][0], results["torch"][0]


def test_cnn_accuracy_matches_torch(one_thread):
    """LeNet-5, the settings of examples/mnist_cnn.py and the demo."""
    data = mnist_or_skip()
    eh, th = train_both("ember.models.lenet", lambda m: m.LeNet5(),
                        lambda lib, model: lib.optim.Adam(model.parameters(), lr=3e-3),
                        epochs=8, batch_size=64, data=data, one_cycle_lr=3e-3)
    e, t = eh.last("test_acc"), th.last("test_acc")
    assert e >= 0.97, f"Ember CNN test accuracy {100 * e:.2f}% < 97%"
    assert abs(e - t) <= 0.01, f"Ember {100 * e:.2f}% vs torch {100 * t:.2f}%"


def test_mlp_accuracy_matches_torch(one_thread):
    """MLP 784-128-64-10, the settings of examples/mnist_mlp.py."""
    data = mnist_or_skip()
    eh, th = train_both("ember.models.mlp", lambda m: m.MLP(784, (128, 64), 10),
                        lambda lib, model: lib.optim.Adam(model.parameters(), lr=1e-3),
                        epochs=15, batch_size=64, data=data)
    e, t = eh.last("test_acc"), th.last("test_acc")
    assert e >= 0.94, f"Ember MLP test accuracy {100 * e:.2f}% < 94%"
    assert abs(e - t) <= 0.01, f"Ember {100 * e:.2f}% vs torch {100 * t:.2f}%"


def test_resnet_accuracy_matches_torch(one_thread):
    """ResNet-8 (width 8, BatchNorm) on MNIST padded to 32x32, the settings of
    examples/resnet_cifar_synthetic.py."""
    (xtr, ytr), (xte, yte) = mnist_or_skip()
    blank = -C.MNIST_MEAN / C.MNIST_STD
    pad = lambda x: ember.nn.functional.pad(x, (2, 2, 2, 2), value=blank)  # noqa: E731
    data = (pad(xtr), ytr), (pad(xte), yte)
    sgd = lambda lib, model: lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,  # noqa: E731
                                           weight_decay=5e-4, nesterov=True)
    eh, th = train_both("ember.models.resnet",
                        lambda m: m.ResNet(8, num_classes=10, in_channels=1, width=8), sgd,
                        epochs=3, batch_size=64, data=data, one_cycle_lr=0.1)
    e, t = eh.last("test_acc"), th.last("test_acc")
    assert e >= 0.95, f"Ember ResNet test accuracy {100 * e:.2f}% < 95%"
    assert abs(e - t) <= 0.02, f"Ember {100 * e:.2f}% vs torch {100 * t:.2f}%"
