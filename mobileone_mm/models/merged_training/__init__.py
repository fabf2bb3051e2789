"""The fast training path: a block's branches trained as one conv (or one affine map), with identical results.

Optional (``merged_training=False`` trains every block branch by branch); the
block asks :func:`merging_pays_off` and :func:`can_merge` whether to use it.
"""
from .merged_branches import MEASURED_DEVICES, can_merge, merged_branches_forward, merging_pays_off
from .scale_and_identity import scale_and_identity_forward

__all__ = ['MEASURED_DEVICES', 'can_merge', 'merged_branches_forward', 'merging_pays_off', 'scale_and_identity_forward']
