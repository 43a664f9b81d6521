"""Every layer class, re-exported flat (``ember.nn.Linear`` etc.), as torch.nn.modules.

Each family lives in its own file (conv, pooling, norms, losses, RNNs, ...).
"""
from .module import Module
from .container import Container, Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict
from .linear import Identity, Linear, Bilinear
from .activation import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .flatten import Flatten, Unflatten
from .sparse import Embedding, EmbeddingBag
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .batchnorm import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .upsampling import *  # noqa: F401,F403
from .pixelshuffle import *  # noqa: F401,F403
from .fold import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .padding import *  # noqa: F401,F403
from .distance import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403
from .lazy_layers import *  # noqa: F401,F403
from .adaptive import *  # noqa: F401,F403
from . import lazy  # noqa: F401

__all__ = sorted(n for n, v in globals().items()
                 if not n.startswith("_") and isinstance(v, type) and issubclass(v, Module))
