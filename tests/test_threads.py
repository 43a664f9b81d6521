"""Autograd and training from several threads, as torch allows.

Grad mode and inference mode belong to each thread (a ``no_grad`` block in
one thread leaves recording on in the others; a new thread starts with
recording on); anomaly mode and the default dtype are process-wide; the
default device is per thread.  Threads may train separate models at once,
with results bit for bit those of one thread, and may run backward at once
into shared leaves without losing a gradient.

Most tests run the same program on Ember and on torch: torch's behaviour is
the specification.  The stress test runs in the default suite (a few
seconds); ``make test-slow`` runs it 100 times.
"""
import random
import sys
import threading
import time
import warnings

import numpy as np
import pytest
import torch

import ember

# (torch alone touches no Ember tensor: the guard run leaves that half out)
LIBS = [pytest.param(ember, id="ember"),
        pytest.param(torch, id="torch", marks=pytest.mark.guard_skip)]


def _default_device(lib):
    """Main's default device, for a thread to adopt (it is per thread), or None for the CPU."""
    dev = lib.get_default_device()
    return None if dev.type == "cpu" else dev


def _run_threads(targets, starts=None):
    """Run each callable of ``targets`` in its own thread, the i-th after
    ``starts[i]`` seconds; return their results, re-raising the first error."""
    results = [None] * len(targets)
    errors = []

    def run(i, fn):
        try:
            if starts:
                time.sleep(starts[i])
            results[i] = fn()
        except BaseException as exc:  # reported in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def _in_thread(fn):
    return _run_threads([fn])[0]


# ---- four threads, four models: the same bits as one thread ---------------------------------

def _make_job(lib, kind, opt_name, seed):
    """A small model, its optimizer and data, built in the calling thread
    from ``seed`` (initialisation draws from the shared default generator,
    so jobs are built one after another, never in their threads)."""
    nn = lib.nn
    lib.manual_seed(seed)
    if kind == "mlp":
        model = nn.Sequential(nn.Linear(20, 32), nn.Tanh(), nn.Linear(32, 4))
        shape = (16, 20)
    else:
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Flatten(),
                              nn.Linear(6 * 4 * 4, 4))
        shape = (16, 1, 8, 8)
    if opt_name == "sgd":
        opt = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        opt = lib.optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(seed)
    data = [lib.tensor(rng.standard_normal(shape).astype(np.float32)),
            lib.tensor(rng.integers(0, 4, shape[0])),
            lib.tensor(rng.standard_normal(shape).astype(np.float32)),
            lib.tensor(rng.integers(0, 4, shape[0]))]
    return model, opt, data


JOBS = [("mlp", "sgd", 1), ("mlp", "adam", 2), ("cnn", "sgd", 3), ("cnn", "adam", 4)]


def _train(lib, job, steps, pause, device=None):
    """Train for ``steps`` SGD/Adam steps with a no_grad evaluation after
    each, held open ``pause`` seconds so that other threads' training steps
    run while this thread is in no_grad.  Returns every loss and the final
    parameters, as NumPy arrays."""
    if device is not None:
        lib.set_default_device(device)
    model, opt, (x, y, xv, yv) = job
    F = lib.nn.functional
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        assert loss.requires_grad and lib.is_grad_enabled(), "recording was off in training"
        opt.zero_grad()
        loss.backward()
        opt.step()
        with lib.no_grad():
            val = F.cross_entropy(model(xv), yv)
            assert not val.requires_grad
            time.sleep(pause)
        assert lib.is_grad_enabled()
        losses += [loss.detach().numpy().copy(), val.numpy().copy()]
    return losses + [p.detach().numpy().copy() for p in model.parameters()]


def _assert_same_bits(threaded, serial):
    for run_t, run_s in zip(threaded, serial):
        assert len(run_t) == len(run_s)
        for a, b in zip(run_t, run_s):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert a.tobytes() == b.tobytes(), "a thread's training differs from one thread's"


@pytest.mark.parametrize("lib", LIBS)
def test_four_threads_train_four_models_bit_for_bit_as_one_thread(lib):
    steps, pause = 6, 0.002
    serial = [_train(lib, _make_job(lib, *j), steps, 0.0) for j in JOBS]
    jobs = [_make_job(lib, *j) for j in JOBS]
    dev = _default_device(lib)
    # Staggered starts, so each thread's no_grad blocks overlap others' steps.
    threaded = _run_threads([lambda job=job: _train(lib, job, steps, pause, dev) for job in jobs],
                            starts=[0.0, 0.003, 0.006, 0.009])
    _assert_same_bits(threaded, serial)
    assert lib.is_grad_enabled()


# ---- each thread its own modes -----------------------------------------------------------------

def _probe(lib):
    return (lib.is_grad_enabled(), lib.is_inference_mode_enabled(),
            lib.is_anomaly_enabled(), lib.is_anomaly_check_nan_enabled())


@pytest.mark.parametrize("lib", LIBS)
def test_a_new_thread_starts_with_recording_on(lib):
    plain = _probe(lib)
    with lib.no_grad():
        assert _in_thread(lambda: _probe(lib)) == plain
    with lib.inference_mode():
        assert _in_thread(lambda: _probe(lib)) == plain
    lib.set_grad_enabled(False)
    try:
        assert _in_thread(lambda: _probe(lib)) == plain
    finally:
        lib.set_grad_enabled(True)
    # ... and what a thread switches stays in that thread
    _in_thread(lambda: lib.set_grad_enabled(False))
    assert _probe(lib) == plain


@pytest.mark.parametrize("lib", LIBS)
def test_anomaly_mode_is_process_wide(lib):
    with lib.autograd.set_detect_anomaly(True, check_nan=False):
        assert _in_thread(lambda: _probe(lib))[2:] == (True, False)
    _in_thread(lambda: lib.autograd.set_detect_anomaly(True))
    try:
        assert lib.is_anomaly_enabled()
    finally:
        lib.autograd.set_detect_anomaly(False)


def test_default_device_is_per_thread():
    """torch 2.13's default device belongs to the thread that set it."""
    import guard_backend
    guard_backend.register()
    old = ember.get_default_device()
    ember.set_default_device("guard")
    try:
        assert _in_thread(lambda: ember.zeros(2).device.type) == "cpu"
        assert ember.zeros(2).device.type == "guard"
    finally:
        ember.set_default_device(old)
    _in_thread(lambda: ember.set_default_device("guard"))
    assert ember.get_default_device() == old
    with torch.device("meta"):   # (torch's own, for the record)
        assert _in_thread(lambda: torch.zeros(2).device.type) == "cpu"


def test_default_dtype_is_process_wide_as_torch():
    for lib in (ember, torch):
        lib.set_default_dtype(lib.float64)
        try:
            assert _in_thread(lib.get_default_dtype) == lib.float64
        finally:
            lib.set_default_dtype(lib.float32)


_SILENT_PROBE = """
import sys, threading
import numpy as np
lib = __import__(sys.argv[1])
before = np.geterr()

def compute():
    x = lib.tensor([1.0, 0.0, -1.0])
    return repr([(x / 0).tolist(), x.log().tolist(), (x * 1e30 * 1e30).exp().tolist()])

out = []
t = threading.Thread(target=lambda: out.append(compute()))
t.start(); t.join()
assert out and out[0] == compute(), (out, compute())
assert np.geterr() == before            # the user's NumPy error mode is untouched
try:
    np.log(np.zeros(1))                 # ... so the user's own NumPy still warns
except RuntimeWarning:
    print("ok")
"""


@pytest.mark.guard_skip      # (the probe runs in a fresh process, on the CPU)
# (torch's probe runs no Ember code, only shows that torch behaves as Ember's is
# checked to: a fresh import of torch, ~1.5 s of CPU, so in make test-slow)
@pytest.mark.parametrize("name", ["ember", pytest.param("torch", marks=pytest.mark.slow)])
def test_inf_and_nan_are_silent_in_every_thread(name):
    """torch computes inf/nan without a warning in any thread, even under
    ``-W error``; Ember does too, without changing NumPy's error mode (the
    user's own NumPy calls still warn)."""
    import os
    import subprocess
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", _SILENT_PROBE, name],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.split() == ["ok"], out.stderr


@pytest.mark.parametrize("lib", LIBS)
def test_no_grad_in_one_thread_leaves_recording_on_in_another(lib):
    inside = threading.Event()
    done = threading.Event()
    dev = _default_device(lib)

    def holder():
        with lib.no_grad():
            inside.set()
            assert done.wait(10)
            return lib.is_grad_enabled()

    def recorder():
        if dev is not None:
            lib.set_default_device(dev)
        assert inside.wait(10)
        try:
            w = lib.ones(3, requires_grad=True)
            y = (w * 2).sum()
            return lib.is_grad_enabled(), y.requires_grad, y.grad_fn is not None
        finally:
            done.set()

    held, recorded = _run_threads([holder, recorder])
    assert held is False
    assert recorded == (True, True, True)


@pytest.mark.parametrize("lib", LIBS)
def test_overlapping_blocks_never_leave_recording_off(lib):
    """A enters no_grad, B enters no_grad, A leaves, B leaves: with one
    shared flag B would restore the False it saw on entering, for good."""
    order = [threading.Event() for _ in range(3)]

    def a():
        with lib.no_grad():
            order[0].set()
            assert order[1].wait(10)
        order[2].set()
        return lib.is_grad_enabled()

    def b():
        assert order[0].wait(10)
        with lib.no_grad():
            order[1].set()
            assert order[2].wait(10)
            inside = lib.is_grad_enabled()
        return inside, lib.is_grad_enabled()

    assert _run_threads([a, b]) == [True, (False, True)]
    assert lib.is_grad_enabled()


@pytest.mark.parametrize("lib", LIBS)
def test_backward_in_one_thread_while_another_is_in_no_grad(lib):
    """The engine's own switch (recording on under create_graph, off
    otherwise) is seen by its walk only, never by another thread."""
    inside = threading.Event()
    done = threading.Event()
    dev = _default_device(lib)

    def holder():
        with lib.no_grad():
            inside.set()
            assert done.wait(10)
            return lib.is_grad_enabled()

    def trainer():
        if dev is not None:
            lib.set_default_device(dev)
        assert inside.wait(10)
        try:
            w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
            seen = []
            w.register_hook(lambda g: seen.append(lib.is_grad_enabled()))
            (w * w).sum().backward()
            g1 = w.grad.numpy().copy()
            g, = lib.autograd.grad((w ** 3).sum(), w, create_graph=True)
            g2, = lib.autograd.grad(g.sum(), w)
            return g1.tolist(), g2.numpy().tolist(), seen, lib.is_grad_enabled()
        finally:
            done.set()

    held, (g1, g2, seen, after) = _run_threads([holder, trainer])
    assert held is False
    assert g1 == [2.0, 4.0, 6.0] and g2 == [6.0, 12.0, 18.0]
    assert seen == [False, True, False] and after is True   # hooks see the walk's mode, as torch's


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_backward_leaves_the_callers_mode_alone():
    for lib in (ember, torch):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        y = (w * w).sum()
        with lib.no_grad():
            y.backward(retain_graph=True)
            assert not lib.is_grad_enabled()
            y.backward(create_graph=True)
            assert not lib.is_grad_enabled()
        assert lib.is_grad_enabled()


@pytest.mark.parametrize("lib", LIBS)
def test_threads_backward_into_shared_leaves_lose_no_gradient(lib):
    """Threads sharing one model may run backward at once; every thread's
    gradient lands in .grad (torch locks each leaf's accumulator)."""
    dev = _default_device(lib)
    w = lib.ones(64, 64, requires_grad=True)
    xs = [lib.full((4, 64), float(i + 1)) for i in range(4)]
    expected = sum(4.0 * (i + 1) for i in range(4))   # (integers: exact in any order)
    for _ in range(20):
        w.grad = None
        gate = threading.Barrier(4)

        def run(x):
            if dev is not None:
                lib.set_default_device(dev)
            y = (x @ w).sum()
            gate.wait(10)
            y.backward()

        _run_threads([lambda x=x: run(x) for x in xs])
        assert (w.grad.numpy() == expected).all()


# ---- stress: many threads switching modes and differentiating at once ----------------------------

def _stress_worker(lib, seed, iters, shared, dev):
    """Random mode switches and small differentiations, each checked
    exactly; at the end the thread's modes are the defaults again."""
    if dev is not None:
        lib.set_default_device(dev)
    rng = random.Random(seed)
    w = lib.tensor([1.5, -2.0, 0.5], requires_grad=True)
    wv = w.detach().numpy()

    @lib.no_grad()
    def evaluations():
        for _ in range(2):
            yield lib.is_grad_enabled(), (w * 3).requires_grad

    for _ in range(iters):
        case = rng.randrange(8)
        if case == 0:
            with lib.no_grad():
                assert not lib.is_grad_enabled() and not (w * 2).requires_grad
                with lib.enable_grad():
                    assert (w * 2).requires_grad
                assert not lib.is_grad_enabled()
        elif case == 1:
            lib.set_grad_enabled(False)
            assert not (w + 1).requires_grad
            lib.set_grad_enabled(True)
            assert (w + 1).requires_grad
        elif case == 2:
            with lib.inference_mode():
                assert lib.is_inference_mode_enabled() and not (w * w).requires_grad
                with lib.inference_mode(False):
                    assert lib.is_grad_enabled() and not lib.is_inference_mode_enabled()
            assert not lib.is_inference_mode_enabled()
        elif case == 3:
            (w * w).sum().backward()
            assert w.grad.numpy().tolist() == (2 * wv).tolist()
            w.grad = None
        elif case == 4:
            g, = lib.autograd.grad((w ** 3).sum(), w, create_graph=True)
            g2, = lib.autograd.grad(g.sum(), w)
            assert g2.numpy().tolist() == (6 * wv).tolist()
        elif case == 5:
            gen = evaluations()
            assert next(gen) == (False, False)
            assert (w * 3).requires_grad        # (the caller's mode between yields)
            assert next(gen) == (False, False)
            gen.close()
        elif case == 6:
            with lib.no_grad():
                (shared * 2.0).sum()            # (recorded nothing: no backward)
            view = shared.view(10, 100).t()     # (threads add views of one base at once)
            (view * 2.0).sum().backward()       # every thread adds 2 to shared.grad
        else:
            with lib.set_grad_enabled(False):
                y = w.exp()
                assert not y.requires_grad
            assert w.exp().requires_grad
        assert lib.is_grad_enabled() and not lib.is_inference_mode_enabled()


def _stress(lib, threads=8, iters=1500):
    dev = _default_device(lib)
    shared = lib.zeros(1000, requires_grad=True)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)       # switch threads often: more interleavings per run
    try:
        with lib.no_grad():             # (main's own block: no thread sees it)
            _run_threads([lambda s=s: _stress_worker(lib, s, iters, shared, dev)
                          for s in range(threads)])
            assert not lib.is_grad_enabled()
    finally:
        sys.setswitchinterval(old)
    assert lib.is_grad_enabled()
    # Every case-6 step of every thread added 2 to each element of shared.grad
    # (a worker's cases are the first ``iters`` draws of Random(seed)).
    backwards = 0
    for s in range(threads):
        cases = random.Random(s)
        backwards += sum(cases.randrange(8) == 6 for _ in range(iters))
    assert backwards > 0 and (shared.grad.numpy() == 2.0 * backwards).all()


@pytest.mark.parametrize("lib", LIBS)
def test_concurrency_stress(lib):
    _stress(lib)


@pytest.mark.parametrize("lib", LIBS)
def test_global_module_hooks_registered_while_other_threads_call_modules(lib):
    """Global hooks are process-wide (as torch's); registering and removing
    them from some threads while others call modules breaks nothing, and
    once all are removed modules run without hooks again."""
    dev = _default_device(lib)
    calls = []

    def caller():
        if dev is not None:
            lib.set_default_device(dev)
        m = lib.nn.Linear(3, 2)
        x = lib.ones(1, 3)
        for _ in range(300):
            m(x)

    def registrar():
        for _ in range(300):
            h = lib.nn.modules.module.register_module_forward_hook(lambda *a: calls.append(1))
            h.remove()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        _run_threads([caller, caller, registrar, registrar])
    finally:
        sys.setswitchinterval(old)
    n = len(calls)
    lib.nn.Linear(3, 2)(lib.ones(1, 3))
    assert len(calls) == n
    if lib is ember:
        assert not ember.nn.modules.module._GlobalHookFlag.on


@pytest.mark.slow
def test_concurrency_stress_100_runs():
    for _ in range(100):
        _stress(ember, threads=8, iters=1500)
    assert ember.is_grad_enabled()


@pytest.mark.slow
def test_four_threads_train_bit_for_bit_100_runs():
    steps = 4
    serial = [_train(ember, _make_job(ember, *j), steps, 0.0) for j in JOBS]
    dev = _default_device(ember)
    for run in range(100):
        jobs = [_make_job(ember, *j) for j in JOBS]
        starts = [0.0, 0.001 * (run % 3), 0.002, 0.001 * (run % 5)]
        threaded = _run_threads([lambda job=job: _train(ember, job, steps, 0.001, dev)
                                 for job in jobs], starts=starts)
        _assert_same_bits(threaded, serial)
