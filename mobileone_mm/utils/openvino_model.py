"""OpenVINO models on the CPU, compiled and saved one way for every check, timing and conversion of the project.

OpenVINO computes in its ``INFERENCE_PRECISION_HINT``, whose CPU default is
bf16 where the CPU computes bf16 (AMX, AVX512-BF16) and f32 elsewhere, so the
precision is always chosen, by the deploy config's
``backend_config.inference_precision`` (:func:`inference_precision`), and
what ran is read back from the compiled model (:func:`computed_precision`).
"""
import copy
import os
import os.path as osp
import tempfile
from typing import Optional, Union

from mmengine.config import Config

# backend_config.inference_precision: OpenVINO's INFERENCE_PRECISION_HINT, or 'default' for the device's own.
INFERENCE_PRECISIONS = ('f32', 'bf16', 'f16', 'default')


def inference_precision(deploy_cfg: Optional[dict]) -> str:
    """The deploy config's ``backend_config.inference_precision``; ``'default'`` when it says none (mmdeploy's configs).

    Raises:
        ValueError: For a value not in :data:`INFERENCE_PRECISIONS`.
    """
    precision = ((deploy_cfg or {}).get('backend_config') or {}).get('inference_precision', 'default')
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(f'backend_config.inference_precision {precision!r} is not one of '
                         f'{list(INFERENCE_PRECISIONS)}')
    return precision


def with_inference_precision(deploy_cfg: Config, precision: str) -> Config:
    """A copy of the deploy config whose models run in ``precision`` (one of :data:`INFERENCE_PRECISIONS`)."""
    deploy_cfg = copy.deepcopy(deploy_cfg)
    deploy_cfg.backend_config.inference_precision = precision
    return deploy_cfg


def compile_openvino_model(model: Union[str, 'openvino.Model'], precision: str = 'default',  # noqa: F821
                           threads: Optional[int] = None):
    """An OpenVINO model (an ``openvino.Model``, or its ``.xml`` or ``.onnx`` file) compiled for the CPU, for latency.

    Args:
        model (str | openvino.Model): The model or its file.
        precision (str): One of :data:`INFERENCE_PRECISIONS`.
        threads (int, optional): ``INFERENCE_NUM_THREADS``; OpenVINO's choice when None.

    Returns:
        openvino.CompiledModel: :func:`computed_precision` says what it computes in.
    """
    import openvino

    config = {'PERFORMANCE_HINT': 'LATENCY'}
    if precision != 'default':
        config['INFERENCE_PRECISION_HINT'] = precision
    if threads is not None:
        config['INFERENCE_NUM_THREADS'] = threads
    core = openvino.Core()
    return core.compile_model(core.read_model(model) if isinstance(model, str) else model, 'CPU', config)


def computed_precision(compiled) -> str:
    """The precision a compiled model computes in, as OpenVINO names it: ``'f32'``, ``'bf16'`` or ``'f16'``."""
    return compiled.get_property('INFERENCE_PRECISION_HINT').to_string()


def save_openvino_model(model, xml_file: str) -> str:
    """Saves an ``openvino.Model`` as ``xml_file`` and its ``.bin``, weights in fp32, all or nothing.

    ``openvino.save_model`` stores weights in fp16 unless told not to, which
    would change an fp32 model's outputs. Both files are written in a
    temporary folder beside ``xml_file`` and moved in place, the ``.xml`` last:
    an interrupted save leaves the previous model (or none).

    Returns:
        str: ``xml_file``.
    """
    import openvino

    folder, name = osp.split(osp.abspath(xml_file))
    stem = osp.splitext(name)[0]
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=f'.{stem}.') as partial:
        openvino.save_model(model, osp.join(partial, f'{stem}.xml'), compress_to_fp16=False)
        for extension in ('.bin', '.xml'):
            os.replace(osp.join(partial, stem + extension), osp.join(folder, stem + extension))
    return xml_file
