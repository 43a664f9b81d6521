"""Hogwild training: one model in shared memory (``model.share_memory()``)
trained at once by several processes, each with its own optimizer and data
order and no locks, as in the MNIST Hogwild example.

The example starts its processes with 'spawn'; 'fork' works the same here
(a forked child inherits the shared memory, a spawned one is handed it).
A spawned worker imports the library by name, as modules cannot be pickled."""
import importlib

import numpy as np


_NETS = {}


def define(torch):
    """The Net class for library ``torch``, one per library, named ``Net_<library>``
    in this module so that pickle (a 'spawn' start) finds it; see ``__getattr__``."""
    if torch.__name__ in _NETS:
        return _NETS[torch.__name__]
    nn, F = torch.nn, torch.nn.functional

    class Net(nn.Module):
        def __init__(self, dropout=0.5):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, kernel_size=5)
            self.conv2 = nn.Conv2d(4, 8, kernel_size=5)
            self.conv2_drop = nn.Dropout2d(dropout)
            self.fc1 = nn.Linear(8 * 4 * 4, 16)
            self.fc2 = nn.Linear(16, 10)
            self.dropout = dropout

        def forward(self, x):
            x = F.relu(F.max_pool2d(self.conv1(x), 2))
            x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
            x = x.view(-1, 8 * 4 * 4)
            x = F.relu(self.fc1(x))
            x = F.dropout(x, p=self.dropout, training=self.training)
            return F.log_softmax(self.fc2(x), dim=1)

    Net.__qualname__ = Net.__name__ = f"Net_{torch.__name__}"
    _NETS[torch.__name__] = Net
    return Net


def __getattr__(name):
    """``Net_torch``/``Net_ember``: a spawned process unpickling the model looks its
    class up here by name, which defines it for that library."""
    if name.startswith("Net_"):
        return define(importlib.import_module(name[len("Net_"):]))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build(torch, dropout=0.0):
    return {"model": define(torch)(dropout)}


def make_data(seed=0, n=64):
    """Digits that can be learnt: class k has a bright row at height 4 + 2k."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.normal(0.0, 0.3, (n, 1, 28, 28)).astype(np.float32)
    images[np.arange(n), 0, 4 + 2 * labels, :] += 3.0
    return {"x": images, "y": labels}


def train(torch, models, data, rank=0, seed=1, epochs=1, batch_size=16, lr=0.05, momentum=0.5,
          shuffle=False, log=None):
    """One worker's training (the example's ``train``); returns its losses,
    and puts them on the queue ``log`` when one is given."""
    F = torch.nn.functional
    model = models["model"]
    torch.manual_seed(seed + rank)
    dataset = torch.utils.data.TensorDataset(torch.tensor(data["x"]), torch.tensor(data["y"]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    losses = []
    for epoch in range(epochs):
        model.train()
        for batch_idx, (x, target) in enumerate(loader):
            optimizer.zero_grad()
            loss = F.nll_loss(model(x), target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    if log is not None:
        log.put((rank, losses))
    return {"loss": losses}


def _worker(rank, library, models, data, log):
    torch = importlib.import_module(library)
    torch.set_num_threads(1)          # the processes already share the cores
    train(torch, models, data, rank=rank, epochs=2, lr=0.1, shuffle=True, log=log)


def evaluate(torch, model, data):
    with torch.no_grad():
        model.eval()
        x, y = torch.tensor(data["x"]), torch.tensor(data["y"])
        return torch.nn.functional.nll_loss(model(x), y).item()


def hogwild(torch, models, data, num_processes=2, start_method="spawn", timeout=120):
    """Train ``models["model"]`` in ``num_processes`` processes at once.
    Returns each worker's exit code and losses (by rank)."""
    mp = torch.multiprocessing
    ctx = mp.get_context(start_method)
    model = models["model"]
    model.share_memory()         # gradients are allocated lazily, so they are not shared
    log = ctx.Queue()
    processes = []
    for rank in range(num_processes):
        p = ctx.Process(target=_worker, args=(rank, torch.__name__, models, data, log))
        p.start()
        processes.append(p)
    losses = {}
    for _ in processes:
        try:
            rank, worker_losses = log.get(timeout=timeout)
        except Exception:        # a worker died before reporting: its exit code says why
            break
        losses[rank] = worker_losses
    for p in processes:
        p.join(timeout)
        if p.is_alive():
            p.terminate()
            p.join()
    return [p.exitcode for p in processes], losses
