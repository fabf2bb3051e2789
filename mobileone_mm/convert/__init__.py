"""Checkpoint converters from timm's and Apple's MobileOne layouts into this project's (mmpretrain's)."""
from .converter import (Conversion, check_head, convert_file, convert_state_dict, expected_shapes, extract_state_dict,
                        infer_arch, load_checkpoint_file, save_checkpoint_file)
from .layouts import APPLE, LAYOUTS, TIMM, Layout, detect_layout

__all__ = ['APPLE', 'LAYOUTS', 'TIMM', 'Conversion', 'Layout', 'check_head', 'convert_file', 'convert_state_dict',
           'detect_layout', 'expected_shapes', 'extract_state_dict', 'infer_arch', 'load_checkpoint_file',
           'save_checkpoint_file']
