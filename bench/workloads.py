"""Benchmark workloads, each written once against the torch API.

``make(lib)`` builds the model and data with ``lib`` (``ember`` or ``torch``)
and returns a zero-argument ``step`` that runs one forward + backward
(+ optimizer update where the workload trains).
"""


def op_overhead(lib):
    """~60 small elementwise/reduction ops on 16x16 float32, forward + backward:
    measures per-op framework overhead, not arithmetic."""
    x = lib.randn(16, 16, requires_grad=True)
    w = lib.randn(16, 16, requires_grad=True)
    b = lib.randn(16, requires_grad=True)

    def step():
        h = x
        for _ in range(10):
            h = (h * w + b).tanh()                 # mul, add, tanh
            h = h - h.mean(dim=1, keepdim=True)    # mean, sub
            h = h.exp()                            # exp: 6 ops a round
        loss = (h * h).sum()
        loss.backward()
        x.grad = None
        w.grad = None
        b.grad = None
    return step


def mlp(lib):
    """MLP 784-128-64-10, batch 128, SGD, cross-entropy: one training step."""
    nn = lib.nn
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                          nn.Linear(64, 10))
    opt = lib.optim.SGD(model.parameters(), lr=0.01)
    x = lib.randn(128, 784)
    y = lib.randint(0, 10, (128,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


def lenet(lib):
    """LeNet-style CNN (5x5 convs 16/32 channels, max-pool, linear), batch 64, Adam."""
    nn = lib.nn
    model = nn.Sequential(
        nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10))
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    x = lib.randn(64, 1, 28, 28)
    y = lib.randint(0, 10, (64,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


def char_lstm(lib):
    """Character LSTM LM: embed 64, hidden 128, seq 32, batch 16, Adam."""
    nn = lib.nn

    class LM(nn.Module):
        def __init__(self, vocab=65):
            super().__init__()
            self.emb = nn.Embedding(vocab, 64)
            self.rnn = nn.LSTM(64, 128, batch_first=True)
            self.head = nn.Linear(128, vocab)

        def forward(self, idx):
            h, _ = self.rnn(self.emb(idx))
            return self.head(h)

    model = LM()
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    x = lib.randint(0, 65, (16, 32))
    y = lib.randint(0, 65, (16, 32))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        logits = model(x)
        loss = loss_fn(logits.reshape(-1, 65), y.reshape(-1))
        loss.backward()
        opt.step()
    return step


def resnet(lib):
    """Small CIFAR ResNet: 3 BasicBlocks with BatchNorm, batch 32, 32x32, SGD."""
    nn = lib.nn
    F = lib.nn.functional

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                           nn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.b1(self.c1(x)))
            out = self.b2(self.c2(out))
            return F.relu(out + (x if self.short is None else self.short(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16),
                                      nn.ReLU())
            self.blocks = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
            self.head = nn.Linear(64, 10)

        def forward(self, x):
            h = self.blocks(self.stem(x))
            return self.head(F.adaptive_avg_pool2d(h, 1).flatten(1))

    model = Net()
    opt = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = lib.randn(32, 3, 32, 32)
    y = lib.randint(0, 10, (32,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return step


WORKLOADS = {
    "op_overhead": (op_overhead, 200, "chain of ~60 ops on 16x16 fp32, fwd+bwd"),
    "mlp": (mlp, 100, "MLP 784-128-64-10 train step, batch 128, SGD"),
    "lenet": (lenet, 10, "LeNet CNN 16/32ch train step, batch 64, Adam"),
    "char_lstm": (char_lstm, 10, "char LSTM LM e64 h128 seq32 b16 train step, Adam"),
    "resnet": (resnet, 3, "CIFAR ResNet 3 BasicBlocks+BN, batch 32, SGD"),
}
