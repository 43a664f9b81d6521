"""torch.utils.data._utils paths (``collate``, ``worker``) for code that imports them."""
from . import collate, worker  # noqa: F401
