"""Workarounds for the pinned stack, one deletable module each.

- :mod:`.weights_only_checkpoint`: mmengine 0.10.7 loads checkpoints with
  ``torch.load``'s weights-only default of torch >= 2.6 and fails on its own
  runner checkpoints; it gets an explicit allow-list.
- :mod:`.torchscript_onnx_export`: torch >= 2.9 exports ONNX with the dynamo
  exporter by default, which ignores mmdeploy's rewriters; mmdeploy's export
  gets the TorchScript exporter.
- :mod:`.atomic_checkpoint_saving`: mmengine writes checkpoints in place, so
  a kill while it writes truncates them.
- :mod:`.checkpoint_retention`: mmengine removes old checkpoints before it
  saves the new one, so a kill in between loses them.
- :mod:`.mmdeploy_candidate_selection`: mmdeploy's dense head rewrite picks
  NMS candidates by prior, mmdet by (prior, class) pair.
- :mod:`.mmdeploy_frame_lookup`: mmdeploy's rewriters find their caller
  with ``inspect.stack()``, seconds per export.
- :mod:`.ssd_head_loss_cls`: mmdet 3.3.0's ``SSDHead`` fails to predict for
  want of a ``loss_cls``.
- :mod:`.openvino_conversion`: mmdeploy converts ONNX to OpenVINO with the
  Model Optimizer command ``mo``, which OpenVINO no longer ships; it gets
  ``openvino.convert_model``.
- :mod:`.openvino_runtime`: mmdeploy runs OpenVINO models with ``IECore``,
  removed in OpenVINO 2024.0, at batch 1 only; it gets ``openvino.Core``.
- :mod:`.config_package_lookup`: mmengine's ``Config.fromfile`` looks a
  package and all its metafiles up again for each ``package::`` base config.

:mod:`.patch_on_import` patches a module of the stack when it is imported.
Importing ``mobileone_mm`` installs them all (:func:`install_compat_patches`);
``MOBILEONE_MM_COMPAT_OFF`` switches some or all of them off.
"""
import os
from typing import Callable, Dict, List, Mapping, Set

from .atomic_checkpoint_saving import install_atomic_checkpoint_saving
from .checkpoint_retention import install_checkpoint_retention
from .config_package_lookup import install_config_package_lookup
from .mmdeploy_candidate_selection import install_mmdet_candidate_selection
from .mmdeploy_frame_lookup import install_fast_frame_lookup
from .openvino_conversion import install_openvino_conversion
from .openvino_runtime import install_openvino_runtime
from .ssd_head_loss_cls import install_ssd_head_loss_cls
from .torchscript_onnx_export import install_torchscript_onnx_export
from .weights_only_checkpoint import UnsafeCheckpointError, install_safe_checkpoint_loading

# Every patch by its module's name, in the order they are installed.
PATCHES: Dict[str, Callable[[], None]] = {
    'weights_only_checkpoint': install_safe_checkpoint_loading,
    'atomic_checkpoint_saving': install_atomic_checkpoint_saving,
    'checkpoint_retention': install_checkpoint_retention,
    'ssd_head_loss_cls': install_ssd_head_loss_cls,
    'torchscript_onnx_export': install_torchscript_onnx_export,
    'mmdeploy_candidate_selection': install_mmdet_candidate_selection,
    'mmdeploy_frame_lookup': install_fast_frame_lookup,
    'openvino_conversion': install_openvino_conversion,
    'openvino_runtime': install_openvino_runtime,
    'config_package_lookup': install_config_package_lookup,
}
SWITCH_OFF_VARIABLE = 'MOBILEONE_MM_COMPAT_OFF'


def patches_switched_off(value: str) -> Set[str]:
    """The patches a value of ``MOBILEONE_MM_COMPAT_OFF`` names: ``'all'`` or comma-separated names of :data:`PATCHES`.

    Raises:
        ValueError: For a name that is not a patch's.
    """
    names = {name.strip() for name in value.split(',') if name.strip()}
    if 'all' in names:
        return set(PATCHES)
    unknown = sorted(names - set(PATCHES))
    if unknown:
        raise ValueError(f'{SWITCH_OFF_VARIABLE}={value!r} names no patch {unknown}; allowed: all, or a '
                         f'comma-separated list of {", ".join(PATCHES)}')
    return names


def install_compat_patches(environ: Mapping[str, str] = os.environ) -> List[str]:
    """Installs every patch that ``MOBILEONE_MM_COMPAT_OFF`` does not switch off.

    Returns:
        list[str]: The names of the patches installed.
    """
    switched_off = patches_switched_off(environ.get(SWITCH_OFF_VARIABLE, ''))
    installed = [name for name in PATCHES if name not in switched_off]
    for name in installed:
        PATCHES[name]()
    return installed


__all__ = ['PATCHES', 'SWITCH_OFF_VARIABLE', 'UnsafeCheckpointError', 'install_atomic_checkpoint_saving',
           'install_checkpoint_retention', 'install_compat_patches', 'install_fast_frame_lookup',
           'install_config_package_lookup', 'install_mmdet_candidate_selection', 'install_openvino_conversion',
           'install_openvino_runtime',
           'install_safe_checkpoint_loading', 'install_ssd_head_loss_cls', 'install_torchscript_onnx_export']
