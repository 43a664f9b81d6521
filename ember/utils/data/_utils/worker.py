"""Alias of ``ember.utils.data._worker`` at torch's import path."""
from .._worker import WorkerInfo, get_worker_info  # noqa: F401
