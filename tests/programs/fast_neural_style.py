"""Fast neural style transfer: an image transformation network of
reflection-padded convolutions, InstanceNorm2d(affine=True), a residual
block and an upsample-then-convolve layer, trained with a content loss and a
Gram-matrix style loss measured by a small frozen VGG-like feature network."""
import re
from collections import namedtuple

import numpy as np


def define(torch):
    nn = torch.nn

    class ConvLayer(nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, stride):
            super().__init__()
            self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
            self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

        def forward(self, x):
            return self.conv2d(self.reflection_pad(x))

    class ResidualBlock(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
            self.in1 = nn.InstanceNorm2d(channels, affine=True)
            self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
            self.in2 = nn.InstanceNorm2d(channels, affine=True)
            self.relu = nn.ReLU()

        def forward(self, x):
            residual = x
            out = self.relu(self.in1(self.conv1(x)))
            out = self.in2(self.conv2(out))
            return out + residual

    class UpsampleConvLayer(nn.Module):
        """Nearest-neighbour upsampling then a convolution (fewer checkerboard
        artifacts than a transposed convolution)."""

        def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
            super().__init__()
            self.upsample = upsample
            self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
            self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

        def forward(self, x):
            if self.upsample:
                x = torch.nn.functional.interpolate(x, mode="nearest", scale_factor=self.upsample)
            return self.conv2d(self.reflection_pad(x))

    class TransformerNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = ConvLayer(3, 8, kernel_size=9, stride=1)
            self.in1 = nn.InstanceNorm2d(8, affine=True)
            self.conv2 = ConvLayer(8, 16, kernel_size=3, stride=2)
            self.in2 = nn.InstanceNorm2d(16, affine=True)
            self.res1 = ResidualBlock(16)
            self.res2 = ResidualBlock(16)
            self.deconv1 = UpsampleConvLayer(16, 8, kernel_size=3, stride=1, upsample=2)
            self.in3 = nn.InstanceNorm2d(8, affine=True)
            self.deconv2 = ConvLayer(8, 3, kernel_size=9, stride=1)
            self.relu = nn.ReLU()

        def forward(self, X):
            y = self.relu(self.in1(self.conv1(X)))
            y = self.relu(self.in2(self.conv2(y)))
            y = self.res2(self.res1(y))
            y = self.relu(self.in3(self.deconv1(y)))
            return self.deconv2(y)

    class TinyVgg(nn.Module):
        """Stands in for VGG16's first slices: returns the relu1_2 and relu2_2 features."""

        def __init__(self, requires_grad=False):
            super().__init__()
            self.slice1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True),
                                        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(inplace=True))
            self.slice2 = nn.Sequential(nn.MaxPool2d(kernel_size=2, stride=2),
                                        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True))
            if not requires_grad:
                for param in self.parameters():
                    param.requires_grad = False

        def forward(self, X):
            h_relu1_2 = self.slice1(X)
            h_relu2_2 = self.slice2(h_relu1_2)
            return namedtuple("VggOutputs", ["relu1_2", "relu2_2"])(h_relu1_2, h_relu2_2)

    return TransformerNet, TinyVgg


def gram_matrix(y):
    (b, ch, h, w) = y.size()
    features = y.view(b, ch, w * h)
    features_t = features.transpose(1, 2)
    return features.bmm(features_t) / (ch * h * w)


def normalize_batch(batch):
    # ImageNet mean and std, on images scaled to [0, 255]
    mean = batch.new_tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
    std = batch.new_tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
    batch = batch.div_(255.0)
    return (batch - mean) / std


def build(torch):
    TransformerNet, TinyVgg = define(torch)
    return {"transformer": TransformerNet(), "vgg": TinyVgg(requires_grad=False)}


def make_data(seed=0, steps=3, batch_size=2, size=16):
    rng = np.random.default_rng(seed)
    return {"content": (rng.random((steps, batch_size, 3, size, size)) * 255).astype(np.float32),
            "style": (rng.random((1, 3, size, size)) * 255).astype(np.float32)}


def train(torch, models, data, content_weight=1e2, style_weight=1e5, path=None):
    """``path``: where to save the trained transformer's state_dict, which a
    fresh TransformerNet then loads to stylize an image, as the example's
    ``stylize`` does."""
    transformer, vgg = models["transformer"], models["vgg"]
    optimizer = torch.optim.Adam(transformer.parameters(), 1e-3)
    mse_loss = torch.nn.MSELoss()
    style = torch.tensor(data["style"]).repeat(data["content"].shape[1], 1, 1, 1)
    features_style = vgg(normalize_batch(style))
    gram_style = [gram_matrix(y) for y in features_style]
    out = {"content_loss": [], "style_loss": [], "total_loss": []}
    transformer.train()
    for x in data["content"]:
        x = torch.tensor(x)
        n_batch = len(x)
        optimizer.zero_grad()
        y = transformer(x)
        y = normalize_batch(y)
        x = normalize_batch(x)
        features_y = vgg(y)
        features_x = vgg(x)
        content_loss = content_weight * mse_loss(features_y.relu2_2, features_x.relu2_2)
        style_loss = 0.0
        for ft_y, gm_s in zip(features_y, gram_style):
            gm_y = gram_matrix(ft_y)
            style_loss += mse_loss(gm_y, gm_s[:n_batch, :, :])
        style_loss *= style_weight
        total_loss = content_loss + style_loss
        total_loss.backward()
        optimizer.step()
        out["content_loss"].append(content_loss.item())
        out["style_loss"].append(style_loss.item())
        out["total_loss"].append(total_loss.item())
    if path is not None:
        transformer.eval().cpu()
        torch.save(transformer.state_dict(), path)
        out["stylized"] = stylize(torch, path, data["content"][0, :1])
    return out


def stylize(torch, path, content_image):
    with torch.no_grad():
        style_model = define(torch)[0]()
        state_dict = torch.load(path)
        # remove deprecated running_* keys of InstanceNorm that old checkpoints hold
        for k in list(state_dict.keys()):
            if re.search(r"in\d+\.running_(mean|var)$", k):
                del state_dict[k]
        style_model.load_state_dict(state_dict)
        output = style_model(torch.tensor(content_image)).cpu()
    img = output[0].clone().clamp(0, 255).numpy()
    return img.transpose(1, 2, 0).ravel().tolist()
