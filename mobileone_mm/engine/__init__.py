"""Training and testing: mmengine's runner as the tools build it, and the hooks."""
from .hooks import PreciseBNHook

__all__ = ['PreciseBNHook']
