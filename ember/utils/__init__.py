"""torch.utils counterparts: ``ember.utils.data`` (datasets, samplers, DataLoader),
``ember.utils.checkpoint`` (activation checkpointing) and ``ember.utils.dlpack``
(zero-copy exchange with NumPy, torch, JAX)."""
from . import data, checkpoint, dlpack  # noqa: F401
