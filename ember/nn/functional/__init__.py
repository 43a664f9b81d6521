"""ember.nn.functional: the stateless ops behind the layers (torch.nn.functional).

Each family lives in its own file; this package re-exports them flat
(``F.relu``, ``F.linear``, ``F.conv2d``...), each family's ``__all__``.
"""
from .activation import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .pooling3d import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .vision import *  # noqa: F401,F403
from .sampling import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .distance import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403


# ---- torch.<name> / Tensor.<name> aliases of functional ops ---------------------------

def _top_dropout(input, p, train):
    return dropout(input, p, train)  # noqa: F821


def _top_alpha_dropout(input, p, train):
    return alpha_dropout(input, p, train)  # noqa: F821


def _top_feature_alpha_dropout(input, p, train):
    return feature_alpha_dropout(input, p, train)  # noqa: F821


def _top_feature_dropout(input, p, train):
    return dropout2d(input, p, train) if input.dim() != 3 else dropout1d(input, p, train)  # noqa: F821


def _top_embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    return embedding(indices, weight, None if padding_idx < 0 else padding_idx,  # noqa: F821
                     scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def _export_toplevel(namespace):
    """Add torch's top-level spellings of functional ops (``torch.dropout(x, p,
    train)``, ``torch.conv2d``...) to ``namespace``, where not already defined.
    (``torch.softmax`` and the other activations that are also Tensor methods
    are ops: see ember/ops/activation.py.)"""
    g = globals()
    names = {"dropout": _top_dropout,
             "alpha_dropout": _top_alpha_dropout, "feature_dropout": _top_feature_dropout,
             "feature_alpha_dropout": _top_feature_alpha_dropout, "embedding": _top_embedding}
    for n in ("selu", "selu_", "celu", "celu_", "threshold", "threshold_", "rrelu",
              "rrelu_", "bilinear", "relu", "relu_", "sigmoid", "tanh",
              "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "max_pool1d",
              "max_pool2d", "avg_pool1d", "adaptive_avg_pool1d", "max_pool1d_with_indices",
              "layer_norm", "group_norm", "rms_norm", "pixel_shuffle", "pixel_unshuffle",
              "channel_shuffle"):
        if n in g:
            names[n] = g[n]
    for n, f in names.items():
        namespace.setdefault(n, f)
