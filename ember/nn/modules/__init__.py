"""Every layer class, re-exported flat (``ember.nn.Linear`` etc.), as torch.nn.modules.

Each family lives in its own file; files still being written by other work
(conv, pooling, norms, losses, RNNs, ...) are imported when present, so the
package always imports.  A new family file is one entry in ``_OPTIONAL``.
"""
from .._optional import import_optional as _import_optional
from .module import Module
from .container import Container, Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict
from .linear import Identity, Linear, Bilinear
from .activation import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .flatten import Flatten, Unflatten
from .sparse import Embedding, EmbeddingBag

_OPTIONAL = ("conv", "pooling", "batchnorm", "normalization", "instancenorm", "upsampling",
             "fold", "loss", "rnn", "padding", "pixelshuffle", "channelshuffle", "distance",
             "transformer", "adaptive")


_import_optional(__name__, _OPTIONAL, globals())

__all__ = sorted(n for n, v in globals().items()
                 if not n.startswith("_") and isinstance(v, type) and issubclass(v, Module))
