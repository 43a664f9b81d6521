"""A multilayer perceptron classifier: the first model to read.

    x (N, *) --flatten--> (N, in_features) --[Linear, ReLU, Dropout] x len(hidden)
      --> Linear --> logits (N, num_classes)

Written against torch's API (``import ember as torch``): the tests run this
same file under real torch and check both give the same outputs.
"""
import ember as torch
from ember import nn

__all__ = ["MLP"]


class MLP(nn.Module):
    """Fully connected classifier.

    Args:
        in_features: size of one flattened input (784 for 28x28 MNIST).
        hidden: widths of the hidden layers, in order; ``()`` gives a linear model.
        num_classes: number of output logits.
        dropout: dropout probability after each hidden activation (0 turns it off).

    Shapes: input (N, *) with ``prod(*) == in_features``; output (N, num_classes).
    """

    def __init__(self, in_features=784, hidden=(128, 64), num_classes=10, dropout=0.0):
        super().__init__()
        if isinstance(hidden, int):
            hidden = (hidden,)
        layers = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
