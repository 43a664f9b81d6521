"""ember.utils.checkpoint against torch.utils.checkpoint: same values and
gradients as without checkpointing, in both variants; activations recomputed
in backward (fewer arrays kept between forward and backward)."""
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
import torch.utils.checkpoint as tcp

import ember
import ember.utils.checkpoint as ecp


def models(depth=4, width=8, dropout=0.0):
    torch.manual_seed(0)
    layers = []
    for _ in range(depth):
        layers += [torch.nn.Linear(width, width), torch.nn.Tanh()]
        if dropout:
            layers.append(torch.nn.Dropout(dropout))
    tm = torch.nn.Sequential(*layers).double()
    elayers = []
    for _ in range(depth):
        elayers += [ember.nn.Linear(width, width), ember.nn.Tanh()]
        if dropout:
            elayers.append(ember.nn.Dropout(dropout))
    em = ember.nn.Sequential(*elayers).double()
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return em, tm


def grads(m):
    return [p.grad.numpy(force=True).copy() if p.grad is not None else None for p in m.parameters()]


def check_same(a, b, tol=1e-10):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if x is None or y is None:
            assert x is None and y is None
        else:
            np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


X = np.random.default_rng(0).standard_normal((5, 8))


@pytest.mark.parametrize("reentrant", [True, False])
@pytest.mark.parametrize("input_grad", [True, False])
def test_checkpoint_matches_unchecked_and_torch(reentrant, input_grad):
    em, tm = models()
    results = {}
    for lib, m, cp in [(ember, em, ecp), (torch, tm, tcp)]:
        for mode in ["plain", "checkpoint"]:
            m.zero_grad()
            x = lib.tensor(X, dtype=lib.float64, requires_grad=input_grad)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y = m(x) if mode == "plain" else cp.checkpoint(m, x, use_reentrant=reentrant)
            if not y.requires_grad:          # reentrant, no input needing grad: nothing flows
                results[lib.__name__, mode] = (y.detach().numpy().copy(), None, grads(m))
                continue
            (y ** 2).sum().backward()
            results[lib.__name__, mode] = (y.detach().numpy().copy(),
                                           x.grad.numpy().copy() if input_grad else None, grads(m))
    for lib in ["ember", "torch"]:
        out, xg, pg = results[lib, "checkpoint"]
        np.testing.assert_allclose(out, results[lib, "plain"][0], rtol=1e-12)
    e, t = results["ember", "checkpoint"], results["torch", "checkpoint"]
    np.testing.assert_allclose(e[0], t[0], rtol=1e-10)
    check_same([e[1]], [t[1]])
    check_same(e[2], t[2])
    if input_grad or not reentrant:      # (else, as torch, no gradient reaches the parameters)
        check_same(e[2], results["ember", "plain"][2])


@pytest.mark.parametrize("reentrant", [True, False])
def test_preserve_rng_state_replays_dropout(reentrant):
    """With dropout, the recomputation draws the same mask: gradients equal
    an unchecked run from the same seed."""
    em, _ = models(dropout=0.5)
    out = []
    for mode in ["plain", "checkpoint"]:
        em.zero_grad()
        ember.manual_seed(3)
        x = ember.tensor(X, dtype=ember.float64, requires_grad=True)
        y = em(x) if mode == "plain" else ecp.checkpoint(em, x, use_reentrant=reentrant)
        y.sum().backward()
        out.append((y.detach().numpy().copy(), x.grad.numpy().copy(), grads(em)))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-12)
    check_same(out[0][2], out[1][2], 1e-12)
    # without preserving, the recomputed masks differ and so do the gradients
    em.zero_grad()
    ember.manual_seed(3)
    x = ember.tensor(X, dtype=ember.float64, requires_grad=True)
    ecp.checkpoint(em, x, use_reentrant=reentrant, preserve_rng_state=False).sum().backward()
    assert not np.allclose(x.grad.numpy(), out[0][1])


def test_non_reentrant_works_with_autograd_grad():
    em, tm = models()
    res = []
    for lib, m, cp in [(ember, em, ecp), (torch, tm, tcp)]:
        x = lib.tensor(X, dtype=lib.float64)
        y = cp.checkpoint(m, x, use_reentrant=False)
        res.append([g.numpy(force=True) for g in lib.autograd.grad(y.sum(), list(m.parameters()))])
    check_same(res[0], res[1])


def test_non_reentrant_kwargs_and_double_backward():
    def f(lib):
        return lambda a, scale=1.0: lib.sin(a) * a * scale
    res = []
    for lib, cp in [(ember, ecp), (torch, tcp)]:
        x = lib.tensor(X[0], dtype=lib.float64, requires_grad=True)
        y = cp.checkpoint(f(lib), x, scale=3.0, use_reentrant=False)
        g, = lib.autograd.grad(y.sum(), x, create_graph=True)
        gg, = lib.autograd.grad(g.sum(), x)
        res.append((y.detach().numpy(), g.detach().numpy(), gg.numpy()))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_checkpoint_sequential_matches_torch():
    em, tm = models(depth=6)
    res = []
    for lib, m, cp in [(ember, em, ecp), (torch, tm, tcp)]:
        for reentrant in (True, False):
            m.zero_grad()
            x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
            y = cp.checkpoint_sequential(m, 3, x, use_reentrant=reentrant)
            y.pow(2).sum().backward()
            res.append((y.detach().numpy().copy(), x.grad.numpy().copy(), grads(m)))
    for k in range(2):
        e, t = res[k], res[k + 2]
        np.testing.assert_allclose(e[0], t[0], rtol=1e-10)
        np.testing.assert_allclose(e[1], t[1], rtol=1e-10)
        check_same(e[2], t[2])


def test_warnings_and_errors_as_torch():
    x = ember.ones(2, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        ecp.checkpoint(lambda a: a * 2, x)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        ecp.checkpoint(lambda a: a * 2, ember.ones(2), use_reentrant=True)
    for lib, cp, a in [(ember, ecp, x), (torch, tcp, torch.ones(2, requires_grad=True))]:
        with pytest.raises(ValueError, match="Unexpected keyword arguments: foo"):
            cp.checkpoint(lambda t: t, a, use_reentrant=True, foo=1)
        with pytest.raises(ValueError, match="only supported when use_reentrant=False"):
            cp.checkpoint(lambda t: t, a, use_reentrant=True, debug=True)


def test_recomputation_mismatch_raises():
    calls = []

    def changing(a):
        calls.append(1)
        return a * 2 if len(calls) == 1 else a[:1] * 2
    y = ecp.checkpoint(changing, ember.ones(3, requires_grad=True), use_reentrant=False)
    with pytest.raises(ecp.CheckpointError, match="different metadata"):
        y.sum().backward()


def test_recompute_happens_in_backward():
    calls = []
    lin = ember.nn.Linear(3, 3)

    def seg(a):
        calls.append(ember.is_grad_enabled())
        return lin(a).tanh()
    for reentrant in (True, False):
        calls.clear()
        y = ecp.checkpoint(seg, ember.ones(2, 3, requires_grad=True), use_reentrant=reentrant)
        assert len(calls) == 1
        y.sum().backward()
        assert len(calls) == 2 and calls[1] is True


# ---- the memory drop -----------------------------------------------------------------------

def _saved_arrays(t, params):
    """(count, bytes) of the distinct arrays, other than the parameters, that
    the graph behind ``t`` keeps for backward."""
    count = nbytes = 0
    skip = {p.data_ptr() for p in params}
    seen, stack = set(), [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        saved = getattr(node, "_saved", None)
        if isinstance(saved, tuple):
            for s in saved:
                d = getattr(s, "_data", s)
                if hasattr(d, "nbytes"):
                    ptr = d.__array_interface__["data"][0]
                    if ptr not in skip:
                        skip.add(ptr)
                        count += 1
                        nbytes += d.nbytes
        stack.extend(e[0] for e in getattr(node, "_next", ()) or () if e is not None)
    return count, nbytes


@pytest.mark.parametrize("reentrant", [True, False])
def test_memory_kept_until_backward_drops(reentrant):
    width, batch, depth = 256, 128, 16
    em, _ = models(depth=depth, width=width)
    x = ember.randn(batch, width, dtype=ember.float64, requires_grad=True)

    # one untimed round of each first: one-time allocations (caches, kernels)
    # must not count against the first measured run
    em(x).sum().backward()
    ecp.checkpoint_sequential(em, 4, x, use_reentrant=reentrant).sum().backward()
    em.zero_grad()
    x.grad = None

    def retained(run):
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        y = run()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return y, after - before
    y_plain, mem_plain = retained(lambda: em(x))
    y_cp, mem_cp = retained(lambda: ecp.checkpoint_sequential(em, 4, x, use_reentrant=reentrant))
    params = list(em.parameters())
    n_plain, b_plain = _saved_arrays(y_plain, params)
    n_cp, b_cp = _saved_arrays(y_cp, params)
    # plain: the 16 Linear+Tanh layers keep 17 activations (each Tanh's output
    # is the next Linear's input); checkpointed in 4 segments: the input, the 3
    # segment boundaries and the last segment's 4 Tanh outputs
    assert (n_plain, n_cp) == (17, 8), (n_plain, n_cp)
    assert b_cp < 0.6 * b_plain
    assert mem_cp < 0.6 * mem_plain, (mem_plain, mem_cp)     # (measured: 4.2 MB -> 1.85 MB)
    y_plain.sum().backward()
    g_plain = [p.grad.numpy().copy() for p in em.parameters()]
    em.zero_grad()
    y_cp.sum().backward()
    check_same([p.grad.numpy() for p in em.parameters()], g_plain, 1e-12)
