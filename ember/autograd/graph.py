"""Graph introspection helpers (torch.autograd.graph)."""
from .function import Node

__all__ = ["Node"]
