"""Time-sequence prediction: two stacked LSTMCells unrolled over sine waves
by a Python loop, a linear read-out, double precision, trained by LBFGS
(lr=0.8) with a closure; then predicts past the end of the input."""
import numpy as np

HIDDEN = 12


def define(torch):
    nn = torch.nn

    class Sequence(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm1 = nn.LSTMCell(1, HIDDEN)
            self.lstm2 = nn.LSTMCell(HIDDEN, HIDDEN)
            self.linear = nn.Linear(HIDDEN, 1)
            self.dummy_param = nn.Parameter(torch.empty(0))   # tells forward the device

        def forward(self, input, future=0):
            outputs = []
            device = self.dummy_param.device
            h_t = torch.zeros(input.size(0), HIDDEN, dtype=torch.double).to(device)
            c_t = torch.zeros(input.size(0), HIDDEN, dtype=torch.double).to(device)
            h_t2 = torch.zeros(input.size(0), HIDDEN, dtype=torch.double).to(device)
            c_t2 = torch.zeros(input.size(0), HIDDEN, dtype=torch.double).to(device)
            for input_t in input.split(1, dim=1):
                h_t, c_t = self.lstm1(input_t, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            for i in range(future):             # keep predicting from its own output
                h_t, c_t = self.lstm1(output, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            return torch.cat(outputs, dim=1)

    return Sequence


def build(torch):
    return {"seq": define(torch)().double()}


def make_data(seed=0, n=6, length=16, period=12):
    rng = np.random.default_rng(seed)
    shift = rng.integers(-4 * period, 4 * period, (n, 1))
    return {"waves": np.sin((np.arange(length) + shift) / period * 2 * np.pi)}


def train(torch, models, data, steps=2, future=5, path=None):
    """``path``: a file to save the waves to and load them from first, as the
    example does with the NumPy array its generator script saved."""
    seq = models["seq"]
    if path is not None:
        torch.save(data["waves"], open(path, "wb"))
        waves = torch.from_numpy(torch.load(path, weights_only=False))
    else:
        waves = torch.from_numpy(data["waves"])
    input, target = waves[2:, :-1], waves[2:, 1:]
    test_input, test_target = waves[:2, :-1], waves[:2, 1:]
    criterion = torch.nn.MSELoss().to(waves.device)
    optimizer = torch.optim.LBFGS(seq.parameters(), lr=0.8)
    out = {"closure_loss": [], "test_loss": [], "prediction": []}
    for i in range(steps):
        def closure():
            optimizer.zero_grad()
            loss = criterion(seq(input), target)
            out["closure_loss"].append(loss.item())
            loss.backward()
            return loss
        optimizer.step(closure)
        with torch.no_grad():
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            out["test_loss"].append(loss.item())
    out["prediction"] = pred.detach().numpy()[:, -future:].ravel().tolist()
    return out
