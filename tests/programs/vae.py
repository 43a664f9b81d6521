"""Variational autoencoder on MNIST-shaped data: reparameterisation trick,
binary cross-entropy reconstruction loss plus the KL divergence, Adam.

The noise ``eps`` of the reparameterisation is an argument of ``forward`` so
that both libraries can be fed the same draw (the example takes it from
``torch.randn_like``; with ``eps=None`` this model does too)."""
import numpy as np

LATENT = 8


def define(torch):
    nn, F = torch.nn, torch.nn.functional

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 64)
            self.fc21 = nn.Linear(64, LATENT)
            self.fc22 = nn.Linear(64, LATENT)
            self.fc3 = nn.Linear(LATENT, 64)
            self.fc4 = nn.Linear(64, 784)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar, eps=None):
            std = torch.exp(0.5 * logvar)
            if eps is None:
                eps = torch.randn_like(std)
            return mu + eps * std

        def decode(self, z):
            h3 = F.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))

        def forward(self, x, eps=None):
            mu, logvar = self.encode(x.view(-1, 784))
            z = self.reparameterize(mu, logvar, eps)
            return self.decode(z), mu, logvar

    return VAE


def loss_function(torch, recon_x, x, mu, logvar):
    F = torch.nn.functional
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    # KL(N(mu, sigma) || N(0, 1)), summed over the batch and the latent units
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def build(torch):
    return {"model": define(torch)()}


def make_data(seed=0, n=24, batch_size=8):
    rng = np.random.default_rng(seed)
    return {"x": rng.random((n, 1, 28, 28)).astype(np.float32),
            "eps": rng.standard_normal((n // batch_size, batch_size, LATENT)).astype(np.float32),
            "batch_size": batch_size}


def train(torch, models, data, epochs=1):
    model = models["model"]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(torch.tensor(data["x"]), batch_size=data["batch_size"])
    out = {"loss": [], "test_loss": []}
    for epoch in range(epochs):
        model.train()
        for batch_idx, x in enumerate(loader):
            optimizer.zero_grad()
            recon, mu, logvar = model(x, torch.tensor(data["eps"][batch_idx]))
            loss = loss_function(torch, recon, x, mu, logvar)
            loss.backward()
            optimizer.step()
            out["loss"].append(loss.item() / len(x))
        model.eval()
        with torch.no_grad():
            x = torch.tensor(data["x"][: data["batch_size"]])
            recon, mu, logvar = model(x, torch.zeros(len(x), LATENT))
            out["test_loss"].append(loss_function(torch, recon, x, mu, logvar).item() / len(x))
            # a grid of reconstructions as the example saves: originals over reconstructions
            comparison = torch.cat([x[:4], recon.view(len(x), 1, 28, 28)[:4]])
            out["test_loss"].append(comparison.mean().item())
    return out
