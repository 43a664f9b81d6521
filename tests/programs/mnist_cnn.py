"""MNIST-style CNN: two convolutions, max-pool, dropout, two linear layers,
log_softmax + nll_loss, Adadelta with a StepLR schedule, a DataLoader over a
TensorDataset, and a test pass under no_grad that counts correct answers."""
import numpy as np


def define(torch):
    nn, F = torch.nn, torch.nn.functional

    class Net(nn.Module):
        def __init__(self, dropout=(0.25, 0.5)):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, 1)
            self.conv2 = nn.Conv2d(8, 16, 3, 1)
            self.dropout1 = nn.Dropout(dropout[0])
            self.dropout2 = nn.Dropout(dropout[1])
            self.fc1 = nn.Linear(16 * 12 * 12, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return F.log_softmax(self.fc2(x), dim=1)

    return Net


def build(torch, dropout=(0.0, 0.0)):
    return {"model": define(torch)(dropout)}


def make_data(seed=0, n_train=32, n_test=16):
    rng = np.random.default_rng(seed)
    def images(n):
        # MNIST-shaped, already normalised as the example's transform would
        return ((rng.random((n, 1, 28, 28)) - 0.1307) / 0.3081).astype(np.float32)
    return {"x_train": images(n_train), "y_train": rng.integers(0, 10, n_train),
            "x_test": images(n_test), "y_test": rng.integers(0, 10, n_test)}


def train(torch, models, data, epochs=2, batch_size=16):
    F = torch.nn.functional
    use_accel = torch.accelerator.is_available()
    device = torch.accelerator.current_accelerator() if use_accel else torch.device("cpu")
    model = models["model"].to(device)
    train_set = torch.utils.data.TensorDataset(torch.tensor(data["x_train"]),
                                               torch.tensor(data["y_train"]))
    test_set = torch.utils.data.TensorDataset(torch.tensor(data["x_test"]),
                                              torch.tensor(data["y_test"]))
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=batch_size)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    out = {"loss": [], "test_loss": [], "correct": [], "lr": []}
    for epoch in range(1, epochs + 1):
        model.train()
        for batch_idx, (data_, target) in enumerate(train_loader):
            data_, target = data_.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(data_)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            out["loss"].append(loss.item())
        model.eval()
        test_loss, correct = 0.0, 0
        with torch.no_grad():
            for data_, target in test_loader:
                data_, target = data_.to(device), target.to(device)
                output = model(data_)
                test_loss += F.nll_loss(output, target, reduction="sum").item()
                pred = output.argmax(dim=1, keepdim=True)
                correct += pred.eq(target.view_as(pred)).sum().item()
        out["test_loss"].append(test_loss / len(test_loader.dataset))
        out["correct"].append(float(correct))
        scheduler.step()
        out["lr"].append(scheduler.get_last_lr()[0])
    return out
