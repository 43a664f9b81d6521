"""ResNet for small images, the CIFAR-10 family of He et al. (2016), section 4.2.

    (N, C, H, W) --conv 3x3 (w), BN, ReLU--> stage 1: n BasicBlocks at width w
                 --> stage 2: n blocks at 2w, first one stride 2
                 --> stage 3: n blocks at 4w, first one stride 2
                 --> global average pool, Linear 4w -> num_classes

Depth counts the weighted layers: ``depth = 6n + 2`` (20, 32, 44, 56, 110).
With the paper's width ``w = 16`` ``resnet20()`` has 0.27M parameters.
Where a block changes shape, its shortcut is a 1x1 convolution + BatchNorm
(the paper's option B; option A zero-pads instead).  Any image size works:
the pooling at the end is adaptive.

Written against torch's API (``import ember as torch``): the tests run this
same file under real torch and check both give the same outputs.
"""
import ember as torch
from ember import nn
import ember.nn.functional as F

__all__ = ["BasicBlock", "ResNet", "resnet8", "resnet20", "resnet32", "resnet44", "resnet56",
           "resnet110", "resnet_small"]


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers and an identity (or projection) shortcut:
    ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    Shapes: (N, in_planes, H, W) -> (N, planes, H / stride, W / stride).
    """

    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR-style residual network.

    Args:
        depth: ``6n + 2`` weighted layers (8, 14, 20, 32, 44, 56, 110, ...).
        num_classes: number of output logits.
        in_channels: image channels (3 for CIFAR, 1 for MNIST).
        width: channels of the first stage (16 in the paper); stages use w, 2w, 4w.

    Shapes: input (N, in_channels, H, W); output (N, num_classes).
    """

    def __init__(self, depth=20, num_classes=10, in_channels=3, width=16):
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"ResNet depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, "
                             f"56, 110, ...), got {depth}")
        n = (depth - 2) // 6
        self.depth = depth
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.in_planes = width
        self.layer1 = self._make_stage(width, n, stride=1)
        self.layer2 = self._make_stage(2 * width, n, stride=2)
        self.layer3 = self._make_stage(4 * width, n, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)
        self._init_weights()

    def _make_stage(self, planes, blocks, stride):
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def _init_weights(self):
        # He initialisation for convolutions, as in the paper; BN starts as identity.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = torch.flatten(self.pool(out), 1)
        return self.fc(out)


def resnet8(**kwargs):
    """ResNet-8 (one block per stage): quick to train on a laptop CPU."""
    return ResNet(8, **kwargs)


def resnet20(**kwargs):
    """ResNet-20, 0.27M parameters at width 16 (91.25% on CIFAR-10 in the paper)."""
    return ResNet(20, **kwargs)


def resnet32(**kwargs):
    return ResNet(32, **kwargs)


def resnet44(**kwargs):
    return ResNet(44, **kwargs)


def resnet56(**kwargs):
    return ResNet(56, **kwargs)


def resnet110(**kwargs):
    return ResNet(110, **kwargs)


def resnet_small(**kwargs):
    """ResNet-8 at half width (8, 16, 32 channels): about 20k parameters, for
    tests and CPU demos."""
    kwargs.setdefault("width", 8)
    return ResNet(8, **kwargs)
