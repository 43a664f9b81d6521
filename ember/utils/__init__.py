"""torch.utils counterparts: ``ember.utils.data`` (datasets, samplers, DataLoader) and
``ember.utils.checkpoint`` (activation checkpointing)."""
from . import data, checkpoint  # noqa: F401
