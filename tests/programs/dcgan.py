"""DCGAN: a generator of transposed convolutions with batch norm and a
discriminator of strided convolutions with LeakyReLU, weights drawn by a
``weights_init`` applied to every module, BCELoss, and two Adam optimizers
with betas=(0.5, 0.999).  The noise vectors come from NumPy (the example
draws them with ``torch.randn``) so both libraries see the same ones."""
import numpy as np

NZ, NGF, NDF, NC = 8, 8, 8, 3        # latent size, feature widths, image channels (16x16 images)


def define(torch):
    nn = torch.nn

    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            torch.nn.init.normal_(m.weight, 0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.ConvTranspose2d(NZ, NGF * 2, 4, 1, 0, bias=False),     # 1x1 -> 4x4
                nn.BatchNorm2d(NGF * 2),
                nn.ReLU(True),
                nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False),    # -> 8x8
                nn.BatchNorm2d(NGF),
                nn.ReLU(True),
                nn.ConvTranspose2d(NGF, NC, 4, 2, 1, bias=False),         # -> 16x16
                nn.Tanh(),
            )

        def forward(self, input):
            return self.main(input)

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.Conv2d(NC, NDF, 4, 2, 1, bias=False),                  # 16 -> 8
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False),             # -> 4
                nn.BatchNorm2d(NDF * 2),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(NDF * 2, 1, 4, 1, 0, bias=False),               # -> 1
                nn.Sigmoid(),
            )

        def forward(self, input):
            return self.main(input).view(-1, 1).squeeze(1)

    return Generator, Discriminator, weights_init


def build(torch):
    Generator, Discriminator, weights_init = define(torch)
    netG, netD = Generator(), Discriminator()
    netG.apply(weights_init)
    netD.apply(weights_init)
    return {"netG": netG, "netD": netD}


def make_data(seed=0, steps=3, batch_size=8):
    rng = np.random.default_rng(seed)
    return {"real": rng.uniform(-1, 1, (steps, batch_size, NC, 16, 16)).astype(np.float32),
            "noise": rng.standard_normal((steps, batch_size, NZ, 1, 1)).astype(np.float32),
            "fixed_noise": rng.standard_normal((4, NZ, 1, 1)).astype(np.float32)}


def train(torch, models, data):
    netG, netD = models["netG"], models["netD"]
    criterion = torch.nn.BCELoss()
    real_label, fake_label = 1.0, 0.0
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    out = {"errD": [], "errG": [], "D_x": [], "D_G_z1": [], "D_G_z2": [], "fake": []}
    for i in range(len(data["real"])):
        # (1) update D: maximise log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        real_cpu = torch.tensor(data["real"][i])
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype)
        output = netD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()

        noise = torch.tensor(data["noise"][i])
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()

        # (2) update G: maximise log(D(G(z)))
        netG.zero_grad()
        label.fill_(real_label)          # fake labels are real for the generator's cost
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()
        for key, value in zip(out, (errD.item(), errG.item(), D_x, D_G_z1, D_G_z2)):
            out[key].append(value)
    with torch.no_grad():
        fake = netG(torch.tensor(data["fixed_noise"])).detach()
    out["fake"] = fake.flatten().tolist()
    return out
