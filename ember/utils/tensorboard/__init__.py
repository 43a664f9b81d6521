"""torch.utils.tensorboard: ``SummaryWriter`` writes TensorBoard event files.

Needs the ``tensorboard`` package (``pip install ember[interop]``); as torch's
module, importing this one without it raises ImportError.  ``import ember``
never imports it.
"""
try:
    import tensorboard  # noqa: F401
except ImportError as e:   # (torch's message, word for word in spirit)
    raise ImportError("TensorBoard logging requires TensorBoard version 1.15 or above") from e

from .writer import FileWriter, SummaryWriter  # noqa: E402

__all__ = ["FileWriter", "SummaryWriter"]
