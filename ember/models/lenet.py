"""LeNet-5, the classic small CNN, sized for 28x28 digits (MNIST).

    (N, 1, 28, 28) --conv 5x5 pad 2, ReLU, maxpool 2--> (N, 6, 14, 14)
                   --conv 5x5,       ReLU, maxpool 2--> (N, 16, 5, 5)
                   --flatten, Linear 400->120, ReLU, Linear 120->84, ReLU--> (N, 84)
                   --Linear 84->num_classes--> logits

LeCun et al. (1998) used tanh and trainable subsampling; this is the usual
modern reading (ReLU, max-pooling).  Written against torch's API
(``import ember as torch``): the tests run this same file under real torch.
"""
import ember as torch
from ember import nn

__all__ = ["LeNet5"]


class LeNet5(nn.Module):
    """Two 5x5 convolutions with max-pooling, then a three-layer linear head.

    Args:
        num_classes: number of output logits.
        in_channels: image channels (1 for MNIST).

    Shapes: input (N, in_channels, 28, 28); output (N, num_classes).
    """

    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2),  # keep 28x28
            nn.ReLU(),
            nn.MaxPool2d(2),                                      # -> 14x14
            nn.Conv2d(6, 16, kernel_size=5),                      # -> 10x10
            nn.ReLU(),
            nn.MaxPool2d(2),                                      # -> 5x5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
