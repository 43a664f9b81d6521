"""Optimizers and learning-rate schedulers, as torch.optim.

``ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)`` and the rest
take torch's arguments and follow torch's update formulas; state dicts use
torch's format.  ``ember.optim.lr_scheduler`` holds the schedulers.
"""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam
from .adamw import AdamW
from .rmsprop import RMSprop
from .adagrad import Adagrad
from .adadelta import Adadelta
from .adamax import Adamax
from .nadam import NAdam
from .radam import RAdam
from .lbfgs import LBFGS
from .rprop import Rprop
from .asgd import ASGD
from .sparse_adam import SparseAdam
from . import lr_scheduler
from . import swa_utils

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax",
           "NAdam", "RAdam", "LBFGS", "Rprop",
           "ASGD", "SparseAdam", "lr_scheduler", "swa_utils"]
