"""``Tensor.share_memory_()``, ``Module.share_memory()``, ``is_shared()``: memory a forked
child writes and the parent sees (Hogwild training), as torch's."""
import copy
import multiprocessing
import os

import numpy as np
import pytest
import torch

import ember

fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                          reason="needs the 'fork' start method")
spawn_shares = pytest.mark.skipif(
    not hasattr(os, "memfd_create") or os.environ.get("EMBER_TEST_DEVICE", "cpu") != "cpu",
    reason="sharing with spawned processes needs memory files, and CPU tensors (a spawned "
           "child has no guard backend)")


def test_is_shared_matches_torch():
    for L in (torch, ember):
        x = L.arange(6.0)
        assert not x.is_shared()
        assert x.share_memory_() is x and x.is_shared()
        assert x[1:3].is_shared()                        # views made afterwards share too
        assert x.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        assert x.share_memory_().is_shared()             # twice: a no-op
        assert not x.clone().is_shared()


def test_sharing_a_view_shares_its_base():
    base = ember.arange(6.0)
    view = base[2:]
    view.share_memory_()
    assert view.is_shared() and base.is_shared()
    view[0] = 100.0
    assert base.tolist() == [0.0, 1.0, 100.0, 3.0, 4.0, 5.0]


def _write(t, value):
    t.fill_(value)


@fork
def test_forked_child_writes_are_seen_by_the_parent():
    ctx = multiprocessing.get_context("fork")
    shared, private = ember.zeros(4).share_memory_(), ember.zeros(4)
    for t in (shared, private):
        p = ctx.Process(target=_write, args=(t, 7.0))
        p.start()
        p.join(60)
        assert p.exitcode == 0
    assert shared.tolist() == [7.0] * 4
    assert private.tolist() == [0.0] * 4             # (without sharing: the child's own copy)


def _train(model, steps, seed):
    """A few SGD steps on a fixed regression problem (the same data for a given seed)."""
    g = np.random.default_rng(seed)
    opt = ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        x = ember.tensor(g.standard_normal((16, 4)), dtype=ember.float32)
        y = x.sum(1, keepdim=True) * 0.5
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def _model():
    ember.manual_seed(0)
    return ember.nn.Sequential(ember.nn.Linear(4, 8), ember.nn.Tanh(), ember.nn.Linear(8, 1))


def _params(m):
    return [p.detach().numpy(force=True).copy() for p in m.parameters()]


@fork
def test_hogwild_children_train_the_parents_model():
    """Two forked children train the shared model in turn: the parent's weights are
    exactly those of the same training run in one process.  Then both at once (Hogwild):
    the weights change.  Without share_memory() the children train copies."""
    ctx = multiprocessing.get_context("fork")
    model = _model()
    reference = copy.deepcopy(model)
    for seed in (1, 2):                 # (first, so the children inherit warm kernels)
        _train(reference, 5, seed)
    assert model.share_memory() is model
    assert all(p.is_shared() for p in model.parameters())
    for seed in (1, 2):
        p = ctx.Process(target=_train, args=(model, 5, seed))
        p.start()
        p.join(120)
        assert p.exitcode == 0
    for a, b in zip(_params(model), _params(reference)):
        np.testing.assert_array_equal(a, b)

    before = _params(model)
    procs = [ctx.Process(target=_train, args=(model, 5, seed)) for seed in (3, 4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert all(not np.array_equal(a, b) for a, b in zip(before, _params(model)))

    unshared = _model()
    before = _params(unshared)
    p = ctx.Process(target=_train, args=(unshared, 5, 1))
    p.start()
    p.join(120)
    for a, b in zip(before, _params(unshared)):
        np.testing.assert_array_equal(a, b)


def test_training_in_process_keeps_parameters_shared():
    """Gradients and the optimizer work on shared parameters, in place (the
    parameters stay on shared memory), and match an unshared model's training."""
    model, plain = _model(), _model()
    model.share_memory()
    _train(model, 4, 0)
    _train(plain, 4, 0)
    assert all(p.is_shared() for p in model.parameters())
    assert all(p.grad is not None and not p.grad.is_shared() for p in model.parameters())
    for a, b in zip(_params(model), _params(plain)):
        np.testing.assert_array_equal(a, b)
    model.share_memory()                                     # (grads too, as torch's _apply)
    assert all(p.grad.is_shared() for p in model.parameters())


@spawn_shares
def test_spawned_children_and_queues_share_the_memory():
    """A tensor shared before a 'spawn' start reaches the child as the same
    memory (torch's file-descriptor strategy): the child's writes are the
    parent's, and a view the child sends back through a Queue is that memory
    too.  An unshared tensor travels as a copy."""
    import shared_memory_children as children
    ctx = multiprocessing.get_context("spawn")
    shared, private = ember.zeros(4).share_memory_(), ember.zeros(4)
    param = ember.nn.Parameter(ember.ones(2))
    param.share_memory_()
    queue, done = ctx.Queue(), ctx.Event()
    for t in (shared, private, param):
        done.clear()
        p = ctx.Process(target=children.add_one_and_send_back_a_view, args=(t, queue, done))
        p.start()
        child_saw_shared, view = queue.get(timeout=120)
        done.set()
        p.join(120)
        assert p.exitcode == 0
        assert child_saw_shared == t.is_shared() and view.is_shared() == t.is_shared()
        with ember.no_grad():
            view.fill_(7.0)                       # the parent writes through the child's view
    assert shared.tolist() == [1.0, 7.0, 7.0, 7.0]
    assert private.tolist() == [0.0] * 4
    assert param.tolist() == [2.0, 7.0] and type(param) is ember.nn.Parameter


@spawn_shares
def test_a_shared_tensor_sent_to_a_running_child_is_shared():
    import shared_memory_children as children
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=children.fill_what_arrives, args=(queue, 3.0))
    p.start()
    t = ember.zeros(3).share_memory_()
    queue.put(t)
    p.join(120)
    assert p.exitcode == 0 and t.tolist() == [3.0] * 3
