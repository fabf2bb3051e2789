"""mmdeploy converts ONNX to OpenVINO with ``openvino.convert_model``; its Model Optimizer command is gone.

mmdeploy 1.3.1's OpenVINO converter (``from_onnx`` in
``mmdeploy/backend/openvino/onnx2openvino.py``) shells out to ``mo``, the
Model Optimizer of ``openvino-dev``, which current OpenVINO releases no longer
ship, so its ``to_backend`` fails with "OpenVINO Model Optimizer is not found".
This module replaces that ``from_onnx`` (when mmdeploy's module is imported,
never importing mmdeploy here) with :func:`convert_onnx`: API 2.0's
``openvino.convert_model`` and ``openvino.save_model``, writing the same
``<work_dir>/<onnx name>.xml`` and ``.bin`` that mmdeploy's backend manager
returns. Two things differ from ``mo``, on purpose:

- the IR keeps the ONNX model's shapes, dynamic axes included, instead of
  being fixed at the deploy config's ``opt_shapes``: a dynamic deploy config
  gives a model of dynamic batch and size, a static one a static model;
- weights stay fp32 (:func:`~mobileone_mm.utils.openvino_model.save_openvino_model`).

``mo_options`` (Model Optimizer flags) have no counterpart and are refused.
Delete this module once mmdeploy converts with ``openvino.convert_model``.
"""
import os.path as osp
import tempfile
from types import ModuleType
from typing import Dict, Optional, Sequence, Union

from ..utils.openvino_model import save_openvino_model
from .patch_on_import import patch_on_import

CONVERTER_MODULE = 'mmdeploy.backend.openvino.onnx2openvino'


def convert_onnx(onnx_model: Union[str, 'onnx.ModelProto'],  # noqa: F821  (onnx is imported when it is used)
                 output_file_prefix: str,
                 input_info: Dict[str, Sequence[int]],
                 output_names: Sequence[str],
                 mo_options: Optional[object] = None) -> str:
    """Converts an ONNX model to an OpenVINO IR in ``output_file_prefix``, as mmdeploy's ``from_onnx`` is called.

    Args:
        onnx_model (str | onnx.ModelProto): The ONNX model or its path.
        output_file_prefix (str): The folder of the IR (mmdeploy's work dir).
        input_info (dict[str, Sequence[int]]): The deploy config's input names
            and ``opt_shapes``; the names must be the model's inputs.
        output_names (Sequence[str]): The outputs the IR must have.
        mo_options (ModelOptimizerOptions, optional): Must hold no option.

    Returns:
        str: The ``.xml`` file; it and its ``.bin`` are written only when the
        conversion succeeds.

    Raises:
        ValueError: For Model Optimizer options, or inputs or outputs that the
            model does not have.
    """
    import openvino

    if mo_options is not None and mo_options.get_options().strip():
        raise ValueError(f'backend_config.mo_options {mo_options.get_options().strip()!r} are options of the Model '
                         "Optimizer ('mo'), which OpenVINO no longer ships; openvino.convert_model takes none here")
    if not isinstance(onnx_model, str):  # openvino.convert_model reads ONNX files only
        import onnx
        with tempfile.TemporaryDirectory() as folder:
            onnx.save(onnx_model, osp.join(folder, 'end2end.onnx'))
            return convert_onnx(osp.join(folder, 'end2end.onnx'), output_file_prefix, input_info, output_names,
                                mo_options)
    model = openvino.convert_model(onnx_model)
    check_names('input', input_info, [port.get_names() for port in model.inputs])
    check_names('output', output_names, [port.get_names() for port in model.outputs])
    return save_openvino_model(model, osp.join(output_file_prefix, osp.splitext(osp.basename(onnx_model))[0] + '.xml'))


def check_names(kind: str, wanted: Sequence[str], ports: Sequence[set]) -> None:
    """Refuses names of the deploy config that no port of the model has."""
    found = set().union(*ports)
    missing = [name for name in wanted if name not in found]
    if missing:
        raise ValueError(f'the deploy config names the {kind} {missing[0]!r}, but the ONNX model has the {kind}s '
                         f'{sorted(found)}')


def convert_with_openvino_api(converter: ModuleType) -> None:
    converter.from_onnx = convert_onnx


def install_openvino_conversion() -> None:
    """Replaces mmdeploy's OpenVINO converter now if it is imported, else when it is; idempotent."""
    patch_on_import(CONVERTER_MODULE, convert_with_openvino_api)
