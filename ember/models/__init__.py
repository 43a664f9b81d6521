"""Reference models, each one readable file (see the file's docstring)."""
from .gpt import GPT, GPTConfig  # noqa: F401
from .mlp import MLP  # noqa: F401
from .lenet import LeNet5  # noqa: F401
from .resnet import (ResNet, BasicBlock, resnet8, resnet20, resnet32, resnet44,  # noqa: F401
                     resnet56, resnet110, resnet_small)
from .lstm_lm import CharLSTM  # noqa: F401
