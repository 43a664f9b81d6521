"""Super-resolution by sub-pixel convolution: four convolutions whose last
produces upscale_factor**2 channels that PixelShuffle rearranges into a
larger image; orthogonal initialisation scaled by the ReLU gain; MSELoss,
Adam, and the PSNR the example prints."""
import math

import numpy as np

UPSCALE = 2


def define(torch):
    nn, init = torch.nn, torch.nn.init

    class Net(nn.Module):
        def __init__(self, upscale_factor):
            super().__init__()
            self.relu = nn.ReLU()
            self.conv1 = nn.Conv2d(1, 16, (5, 5), (1, 1), (2, 2))
            self.conv2 = nn.Conv2d(16, 16, (3, 3), (1, 1), (1, 1))
            self.conv3 = nn.Conv2d(16, 8, (3, 3), (1, 1), (1, 1))
            self.conv4 = nn.Conv2d(8, upscale_factor ** 2, (3, 3), (1, 1), (1, 1))
            self.pixel_shuffle = nn.PixelShuffle(upscale_factor)
            self._initialize_weights()

        def forward(self, x):
            x = self.relu(self.conv1(x))
            x = self.relu(self.conv2(x))
            x = self.relu(self.conv3(x))
            return self.pixel_shuffle(self.conv4(x))

        def _initialize_weights(self):
            init.orthogonal_(self.conv1.weight, init.calculate_gain("relu"))
            init.orthogonal_(self.conv2.weight, init.calculate_gain("relu"))
            init.orthogonal_(self.conv3.weight, init.calculate_gain("relu"))
            init.orthogonal_(self.conv4.weight)

    return Net


def build(torch):
    return {"model": define(torch)(UPSCALE)}


def make_data(seed=0, steps=3, batch_size=4, size=8):
    rng = np.random.default_rng(seed)
    target = rng.random((steps, batch_size, 1, size * UPSCALE, size * UPSCALE)).astype(np.float32)
    # the low-resolution input: each 2x2 block averaged (the example resizes with PIL)
    low = target.reshape(steps, batch_size, 1, size, UPSCALE, size, UPSCALE).mean(axis=(4, 6))
    return {"input": low, "target": target}


def train(torch, models, data):
    model = models["model"]
    criterion = torch.nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    out = {"loss": [], "psnr": []}
    for input, target in zip(data["input"], data["target"]):
        input, target = torch.tensor(input), torch.tensor(target)
        optimizer.zero_grad()
        loss = criterion(model(input), target)
        loss.backward()
        optimizer.step()
        out["loss"].append(loss.item())
        with torch.no_grad():
            mse = criterion(model(input), target)
            out["psnr"].append(10 * math.log10(1 / mse.item()))
    return out
