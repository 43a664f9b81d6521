"""Sparse COO and CSR tensors against torch: construction, conversions,
printing, sparse @ dense and sums with their gradients, and a graph
convolution network's training step."""
import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")
# (torch's own notices about its sparse support)
pytestmark = [pytest.mark.filterwarnings("ignore:Sparse invariant checks"),
              pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")]

IDX = [[0, 1, 1, 2, 0], [2, 0, 2, 1, 2]]           # (0, 2) twice: uncoalesced
VAL = [3.0, 4.0, 5.0, 6.0, 1.5]


def both(fn):
    return fn(ember), fn(torch)


def np_of(t):
    if isinstance(t, torch.Tensor):
        if t.layout != torch.strided:
            t = t.to_dense()
        return t.detach().numpy()
    if t.layout is not ember.strided:
        t = t.to_dense()
    return t.detach().numpy(force=True)


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np_of(a), np_of(b), rtol=tol, atol=tol)


def test_coo_construction_and_metadata():
    e, t = both(lambda lib: lib.sparse_coo_tensor(lib.tensor(IDX), lib.tensor(VAL), (3, 4)))
    assert e.is_sparse and not e.is_sparse_csr and e.layout is ember.sparse_coo
    assert repr(e.layout) == repr(t.layout) == "torch.sparse_coo"
    assert tuple(e.shape) == tuple(t.shape) and e._nnz() == t._nnz() == 5
    assert e.sparse_dim() == 2 and e.dense_dim() == 0
    assert e.is_coalesced() is t.is_coalesced() is False
    close(e.to_dense(), t.to_dense())
    assert np.array_equal(e._indices().numpy(), t._indices().numpy())
    with pytest.raises(RuntimeError, match="uncoalesced"):
        e.indices()
    ec, tc = e.coalesce(), t.coalesce()
    assert ec.is_coalesced() and ec._nnz() == tc._nnz() == 4
    assert np.array_equal(ec.indices().numpy(), tc.indices().numpy())
    assert np.array_equal(ec.values().numpy(), tc.values().numpy())
    # size inferred from the indices; a dtype argument
    e2, t2 = both(lambda lib: lib.sparse_coo_tensor(lib.tensor(IDX), lib.tensor(VAL),
                                                    dtype=lib.float64))
    assert tuple(e2.shape) == tuple(t2.shape) == (3, 3) and e2.dtype is ember.float64
    # hybrid: vector values
    e3, t3 = both(lambda lib: lib.sparse_coo_tensor(lib.tensor([[0, 2]]),
                                                    lib.tensor([[1.0, 2.0], [3.0, 4.0]]), (3, 2)))
    assert e3.sparse_dim() == 1 and e3.dense_dim() == 1
    close(e3.to_dense(), t3.to_dense())
    assert ember.strided is ember.ones(1).layout and repr(ember.strided) == "torch.strided"


def test_repr_is_torchs():
    for make in (lambda lib: lib.sparse_coo_tensor(lib.tensor(IDX), lib.tensor(VAL), (3, 4)),
                 lambda lib: lib.sparse_coo_tensor(lib.tensor(IDX), lib.tensor(VAL),
                                                   dtype=lib.float64).coalesce(),
                 lambda lib: lib.sparse_coo_tensor(lib.tensor(IDX), lib.tensor(VAL),
                                                   requires_grad=True),
                 lambda lib: lib.tensor([[0.0, 1.5, 0.0], [2.0, 0.0, -3.0]]).to_sparse_csr()):
        e, t = both(make)
        assert repr(e).replace("ember.", "torch.") == repr(t)


def test_conversions():
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(5, 6)) * (rng.random((5, 6)) < 0.3)
    e, t = both(lambda lib: lib.tensor(dense, dtype=lib.float32))
    es, ts = e.to_sparse(), t.to_sparse()
    assert es.is_coalesced() and es._nnz() == ts._nnz()
    assert np.array_equal(es.indices().numpy(), ts.indices().numpy())
    ec, tc = e.to_sparse_csr(), t.to_sparse_csr()
    assert ec.is_sparse_csr and ec.layout is ember.sparse_csr
    for a, b in ((ec.crow_indices(), tc.crow_indices()), (ec.col_indices(), tc.col_indices()),
                 (ec.values(), tc.values())):
        assert np.array_equal(a.numpy(), b.numpy())
    close(es.to_sparse_csr(), ts.to_sparse_csr())          # COO -> CSR
    back = ec.to_sparse()                                  # CSR -> COO
    assert back.is_sparse and np.array_equal(back.indices().numpy(), ts.indices().numpy())
    close(ec.to_dense(), t)
    # a CSR from its parts
    e2, t2 = both(lambda lib: lib.sparse_csr_tensor(lib.tensor([0, 2, 2, 3]), lib.tensor([0, 3, 1]),
                                                    lib.tensor([1.0, 2.0, 3.0]), (3, 4)))
    close(e2.to_dense(), t2.to_dense())
    assert e2.to_dense().layout is ember.strided and e.to_dense() is e
    # partial sparse_dim: rows
    e3, t3 = e.to_sparse(1), t.to_sparse(1)
    assert e3.sparse_dim() == 1 and e3._nnz() == t3._nnz()
    close(e3.to_dense(), t3.to_dense())


def _products():
    """Each product: (name, fn(lib, S, D), whether S's gradient is sparse in torch)."""
    return [("sparse.mm", lambda lib, S, D: lib.sparse.mm(S, D), True),
            ("mm", lambda lib, S, D: lib.mm(S, D), False),
            ("matmul", lambda lib, S, D: lib.matmul(S, D), False),
            ("@", lambda lib, S, D: S @ D, False),
            ("spmm", lambda lib, S, D: lib.spmm(S, D), False),
            ("sparse.addmm", lambda lib, S, D: lib.sparse.addmm(lib.ones(3, 2), S, D,
                                                                beta=0.5, alpha=2.0), True),
            ("addmm", lambda lib, S, D: lib.addmm(lib.ones(1, 2), S, D, alpha=3.0), False)]


@pytest.mark.parametrize("name,fn,sparse_grad", _products(), ids=[p[0] for p in _products()])
def test_products_and_their_gradients(name, fn, sparse_grad):
    rng = np.random.default_rng(1)
    d = rng.normal(size=(4, 2))
    w = rng.normal(size=(3, 2))
    res = {}
    for lib in (ember, torch):
        v = lib.tensor(VAL, requires_grad=True)
        D = lib.tensor(d, dtype=lib.float32, requires_grad=True)
        S = lib.sparse_coo_tensor(lib.tensor(IDX), v, (3, 4))
        out = fn(lib, S, D)
        (out * lib.tensor(w, dtype=lib.float32)).sum().backward()
        # a sparse leaf: its own gradient's layout is torch's
        L = lib.sparse_coo_tensor(lib.tensor(IDX), lib.tensor(VAL), (3, 4)).coalesce()
        L.requires_grad_(True)
        (fn(lib, L, D.detach()) * lib.tensor(w, dtype=lib.float32)).sum().backward()
        res[lib] = (out, v.grad, D.grad, L.grad)
    (oe, ve, de, le), (ot, vt, dt, lt) = res[ember], res[torch]
    assert oe.layout is ember.strided
    close(oe, ot)
    close(ve, vt)
    close(de, dt)
    assert le.is_sparse == lt.is_sparse == sparse_grad
    close(le, lt)


def test_dense_at_sparse():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(2, 3))
    res = {}
    for lib in (ember, torch):
        v = lib.tensor(VAL, requires_grad=True)
        A = lib.tensor(a, dtype=lib.float32, requires_grad=True)
        out = A @ lib.sparse_coo_tensor(lib.tensor(IDX), v, (3, 4))
        (out ** 2).sum().backward()
        res[lib] = (out, v.grad, A.grad)
    for x, y in zip(res[ember], res[torch]):
        close(x, y, 1e-5)


def test_sums():
    for dim in (None, 0, 1, (0, 1)):
        res = {}
        for lib in (ember, torch):
            v = lib.tensor(VAL, requires_grad=True)
            S = lib.sparse_coo_tensor(lib.tensor(IDX), v, (3, 4))
            out = lib.sparse.sum(S) if dim is None else lib.sparse.sum(S, dim)
            dense = out.to_dense() if out.layout != lib.strided else out
            (dense * lib.arange(dense.numel(), dtype=lib.float32).reshape(dense.shape)).sum()\
                .backward()
            res[lib] = (out, v.grad)
        (oe, ve), (ot, vt) = res[ember], res[torch]
        assert (oe.layout is ember.strided) == (ot.layout == torch.strided), dim
        close(oe, ot)
        close(ve, vt)


def test_tensor_sum_of_a_sparse_tensor():
    """S.sum() is torch.sparse.sum (values as torch's; torch itself cannot
    differentiate this spelling: "expand is unsupported for Sparse tensors")."""
    for kw in ({}, {"dim": 1}):
        e, t = both(lambda lib: lib.sparse_coo_tensor(lib.tensor(IDX), lib.tensor(VAL),
                                                      (3, 4)).sum(**kw))
        assert (e.layout is ember.strided) == (t.layout == torch.strided)
        close(e, t)


def test_sparse_leaf_gradients_accumulate():
    res = {}
    for lib in (ember, torch):
        L = lib.sparse_coo_tensor(lib.tensor(IDX), lib.tensor(VAL), (3, 4)).coalesce()
        L.requires_grad_(True)
        D = lib.ones(4, 2)
        lib.sparse.mm(L, D).sum().backward()
        lib.sparse.mm(L, D * 2).sum().backward()
        res[lib] = L.grad
    assert res[ember].is_sparse
    close(res[ember], res[torch])


def _gcn_data(n=12, f=5, h=8, c=3, seed=0):
    """A random graph, its symmetrically normalised adjacency with self loops
    (Kipf & Welling), features, labels and two weight matrices."""
    rng = np.random.default_rng(seed)
    a = rng.random((n, n)) < 0.25
    a = np.triu(a, 1)
    a = a | a.T | np.eye(n, dtype=bool)
    deg = a.sum(1)
    rows, cols = np.nonzero(a)
    vals = 1.0 / np.sqrt(deg[rows] * deg[cols])
    return dict(idx=np.stack([rows, cols]), vals=vals, n=n, x=rng.normal(size=(n, f)),
                y=rng.integers(0, c, n), w1=rng.normal(size=(f, h)) * 0.5,
                w2=rng.normal(size=(h, c)) * 0.5)


def _gcn_step(lib, g, layout, learn_edges, steps=2):
    """Two SGD steps of a 2-layer GCN: softmax(A relu(A X W1) W2)."""
    f32 = lib.float32
    w1 = lib.tensor(g["w1"], dtype=f32, requires_grad=True)
    w2 = lib.tensor(g["w2"], dtype=f32, requires_grad=True)
    edge = lib.tensor(g["vals"], dtype=f32, requires_grad=learn_edges)
    x = lib.tensor(g["x"], dtype=f32)
    y = lib.tensor(g["y"])
    params = [w1, w2] + ([edge] if learn_edges else [])
    losses = []
    for _ in range(steps):
        A = lib.sparse_coo_tensor(lib.tensor(g["idx"]), edge, (g["n"], g["n"]))
        if layout == "csr":
            A = A.to_sparse_csr()
        h = lib.relu(lib.sparse.mm(A, x @ w1)) if layout != "csr" else lib.relu(A @ (x @ w1))
        out = lib.sparse.mm(A, h @ w2) if layout != "csr" else A @ (h @ w2)
        loss = lib.nn.functional.cross_entropy(out, y)
        loss.backward()
        grads = [p.grad.clone() for p in params]
        with lib.no_grad():              # (plain SGD, lr 0.5)
            for p in params:
                p -= 0.5 * p.grad
                p.grad = None
        losses.append((loss, grads))
    return losses


@pytest.mark.parametrize("layout,learn_edges", [("coo", False), ("coo", True), ("csr", True)])
def test_gcn_training_step_matches_torch(layout, learn_edges):
    g = _gcn_data()
    ours, theirs = _gcn_step(ember, g, layout, learn_edges), _gcn_step(torch, g, layout,
                                                                        learn_edges)
    for (le, ge), (lt, gt) in zip(ours, theirs):
        assert abs(le.item() - lt.item()) < 1e-5
        for a, b in zip(ge, gt, strict=True):
            close(a, b, 1e-5)


def test_errors():
    idx, val = ember.tensor(IDX), ember.tensor(VAL)
    with pytest.raises(RuntimeError, match="same nnz"):
        ember.sparse_coo_tensor(idx, val[:3])
    with pytest.raises(RuntimeError, match="size is inconsistent with indices"):
        ember.sparse_coo_tensor(idx, val, (2, 3))
    with pytest.raises(RuntimeError, match="negative index"):
        ember.sparse_coo_tensor(-idx, val)
    S = ember.sparse_coo_tensor(idx, val)
    with pytest.raises(NotImplementedError, match="sparse"):
        ember.exp(S)
    with pytest.raises(NotImplementedError, match="sparse"):
        S.view(9)
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        ember.sparse.mm(S, ember.ones(4, 2))
    with pytest.raises(RuntimeError, match="layout"):
        ember.ones(2, 2).indices()
    with pytest.raises(RuntimeError, match="crow_indices"):
        ember.sparse_csr_tensor(ember.tensor([0, 3, 2]), ember.tensor([0, 1]), ember.ones(2))
