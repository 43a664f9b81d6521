"""ember.amp: automatic mixed precision, as torch.amp (autocast and GradScaler)."""
from .autocast_mode import (autocast, is_autocast_available, is_autocast_enabled,  # noqa: F401
                            get_autocast_dtype, set_autocast_enabled, set_autocast_dtype)
from .grad_scaler import GradScaler  # noqa: F401

__all__ = ["autocast", "GradScaler", "is_autocast_available"]
