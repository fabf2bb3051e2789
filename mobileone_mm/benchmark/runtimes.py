"""The ways to run a backbone that the benchmark times: eager, compiled, bf16, ONNX Runtime, OpenVINO, ExecuTorch.

Each is a :class:`Candidate`: what it is (implementation, form, runtime,
precision, a note on its options) and a function from an input batch to
the outputs, or no function and a note saying why it is not available on
this machine. How a user gets each one (README, "Performance"):

- ``torch.compile(model, options={'freezing': True})``: inductor, the
  weights folded into the graph as constants (inference only);
- ``torch.autocast(device, dtype=torch.bfloat16)`` around the eager model,
  timed only where the processor computes bf16 in hardware;
- ONNX Runtime fp32 and INT8: ``tools/deploy.py`` with
  ``configs/deploy/*_onnxruntime_dynamic.py`` or
  ``*_onnxruntime-int8_dynamic.py`` (the same static QDQ quantization,
  :func:`mobileone_mm.deploy.quantize.quantize_onnx`);
- OpenVINO f32, bf16 (where the processor computes bf16 in hardware) and
  INT8: ``tools/deploy.py`` with ``configs/deploy/*_openvino_*.py``,
  ``*_openvino-bf16_*.py`` or ``*_openvino-int8_*.py`` (the same conversion
  of the same ONNX export, and NNCF's quantization,
  :func:`mobileone_mm.deploy.quantize.quantize_openvino`);
- ExecuTorch XNNPACK fp32 and INT8, batch 1 (what phones run; a ``.pte``
  takes one input shape): ``tools/deploy.py`` with
  ``configs/deploy/*_executorch-xnnpack_static.py`` or
  ``*_executorch-xnnpack-int8_static.py`` (the same export and PT2E
  quantization, :mod:`mobileone_mm.deploy.executorch_xnnpack`).
"""
import os.path as osp
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..deploy.executorch_xnnpack import PteModel, executorch_threads, export_pte, quantize_for_xnnpack
from ..deploy.onnxruntime_session import open_session
from ..deploy.quantize import DEFAULT_QUANTIZATION, DEFAULT_QUANTIZATION_OF_BACKEND, quantize_onnx, quantize_openvino
from ..deploy.task_models import TensorOutputs
from ..utils.openvino_model import compile_openvino_model, save_openvino_model
from .machine import cpu_native_bf16
from .ort_sessions import export_onnx

Run = Callable[[torch.Tensor], object]
INT8_OPSET = 13  # per-channel DequantizeLinear needs it; the INT8 deploy configs say the same


@dataclass(frozen=True)
class Candidate:
    """One way to run one model, as a latency row names it.

    Args:
        implementation (str): Whose MobileOne: ``mobileone_mm``, ``mmpretrain`` or ``timm``.
        form (str): ``train`` (the training form, in eval mode) or ``fused``.
        runtime (str): ``eager``, ``torch.compile``, ``onnxruntime`` or ``executorch``.
        precision (str): ``fp32``, ``bf16`` or ``int8``.
        run (Callable, optional): Input batch -> outputs; None where the way
            is not available here. Defaults to None.
        note (str): Its options, or why it is not available. Defaults to ''.
        batch (int, optional): The one batch size it takes (an export of a
            static input shape), or None for any. Defaults to None.
    """

    implementation: str
    form: str
    runtime: str
    precision: str
    run: Optional[Run] = None
    note: str = ''
    batch: Optional[int] = None


def eager(model: nn.Module) -> Run:
    def run(inputs: torch.Tensor) -> object:
        with torch.inference_mode():
            return model(inputs)
    return run


def compiled(model: nn.Module) -> Candidate:
    """``torch.compile`` with inductor and frozen weights; it compiles on its first call of each batch size.

    ``fullgraph=True`` makes a graph break or dynamo's recompile limit an
    error (a row that says so) instead of a silent fall-back to eager.
    """
    return Candidate('mobileone_mm', 'fused', 'torch.compile', 'fp32', eager(torch.compile(
        model, fullgraph=True, options=dict(freezing=True))), 'inductor, freezing=True')


def bf16_autocast(model: nn.Module, device: torch.device) -> Candidate:
    """Eager under ``torch.autocast`` to bf16, where the device computes bf16 in hardware."""
    if device.type == 'cuda':
        native = 'CUDA bf16' if torch.cuda.is_bf16_supported() else None
    else:
        native = cpu_native_bf16()
    if native is None:
        why = 'this GPU has no bf16' if device.type == 'cuda' else \
            'no bf16 in hardware (cpuinfo lacks amx_bf16 and avx512_bf16; oneDNN would emulate it)'
        return Candidate('mobileone_mm', 'fused', 'eager', 'bf16', None, f'not timed: {why}')

    def run(inputs: torch.Tensor) -> object:
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
            return model(inputs)

    return Candidate('mobileone_mm', 'fused', 'eager', 'bf16', run, f'torch.autocast, {native}')


def random_images(image_size: int, count: int) -> List[np.ndarray]:
    """``count`` batches of one random image (standard normal, as normalized images are), the same in every call."""
    generator = np.random.default_rng(1)
    return [generator.standard_normal((1, 3, image_size, image_size), np.float32) for _ in range(count)]


def onnxruntime_run(path: str, threads: int) -> Run:
    session = open_session(path, threads)

    def run(inputs: torch.Tensor) -> List[np.ndarray]:
        return session.run(None, {'input': inputs.numpy()})

    return run


def onnxruntime_candidates(fp32: str, image_size: int, threads: int, calibration_images: int) -> List[Candidate]:
    """An ONNX export of a model (batch free) in ONNX Runtime's CPU provider, in fp32 and quantized to INT8.

    The INT8 model is calibrated on ``calibration_images`` random images
    (standard normal, as normalized images are), other than the timed ones,
    with the INT8 deploy configs' default settings (MinMax, per-channel
    weights): its error on the timed inputs is measured, not assumed.
    """
    int8 = quantize_onnx(fp32, random_images(image_size, calibration_images), DEFAULT_QUANTIZATION)
    method = f'static QDQ, {DEFAULT_QUANTIZATION["method"]}, per-channel weights, {calibration_images} random images'
    return [Candidate('mobileone_mm', 'fused', 'onnxruntime', 'fp32', onnxruntime_run(fp32, threads),
                      'CPU provider, spinning off'),
            Candidate('mobileone_mm', 'fused', 'onnxruntime', 'int8', onnxruntime_run(int8, threads), method)]


def openvino_run(model, precision: str, threads: int) -> Run:
    request = compile_openvino_model(model, precision, threads).create_infer_request()

    def run(inputs: torch.Tensor) -> List[np.ndarray]:
        return list(request.infer({0: inputs.numpy()}).values())

    return run


def openvino_candidates(onnx_file: str, image_size: int, threads: int, calibration_images: int) -> List[Candidate]:
    """An ONNX export of a model (batch free) converted to OpenVINO, run in f32, bf16 and quantized to INT8 by NNCF.

    The bf16 row is timed only where the processor computes bf16 in hardware
    (where OpenVINO's CPU default is bf16). The INT8
    model is quantized with the OpenVINO INT8 deploy configs' default
    settings, calibrated on the ONNX Runtime INT8 model's random images; what
    it leaves in floating point computes in f32.
    """
    import openvino

    xml_file = save_openvino_model(openvino.convert_model(onnx_file), f'{osp.splitext(onnx_file)[0]}.xml')
    settings = DEFAULT_QUANTIZATION_OF_BACKEND['openvino']
    int8 = quantize_openvino(xml_file, random_images(image_size, calibration_images), settings)
    native = cpu_native_bf16()
    if native:
        bf16 = Candidate('mobileone_mm', 'fused', 'openvino', 'bf16', openvino_run(xml_file, 'bf16', threads),
                         f'CPU, {native}')
    else:
        bf16 = Candidate('mobileone_mm', 'fused', 'openvino', 'bf16', None,
                         'not timed: no bf16 in hardware (cpuinfo lacks amx_bf16 and avx512_bf16)')
    method = (f'NNCF, preset {settings["preset"]}, {settings["activation_range"]} ranges, bias correction '
              f'{settings["bias_correction"]}, {calibration_images} random images')
    return [Candidate('mobileone_mm', 'fused', 'openvino', 'fp32', openvino_run(xml_file, 'f32', threads),
                      f'CPU, f32, {threads} threads'),
            bf16,
            Candidate('mobileone_mm', 'fused', 'openvino', 'int8', openvino_run(int8, 'f32', threads), method)]


def executorch_candidates(model: nn.Module, image_size: int, directory: str,
                          calibration_images: int) -> List[Candidate]:
    """``model`` lowered to XNNPACK ``.pte`` files of batch 1 in ExecuTorch's runtime, in fp32 and quantized to INT8.

    The INT8 graph is quantized by PT2E with ExecuTorch's ``XNNPACKQuantizer``
    (per-channel symmetric weights, the INT8 deploy configs' default),
    calibrated on the ONNX Runtime INT8 model's random images.
    """
    program = TensorOutputs(model, mode=None).eval()
    inputs = torch.zeros(1, 3, image_size, image_size)
    calibration = [torch.from_numpy(image) for image in random_images(image_size, calibration_images)]
    files = {'fp32': osp.join(directory, 'model.pte'), 'int8': osp.join(directory, 'model_int8.pte')}
    export_pte(program, inputs, files['fp32'])
    export_pte(quantize_for_xnnpack(program, inputs, calibration), inputs, files['int8'])
    notes = {'fp32': f'XNNPACK, {executorch_threads()} threads',
             'int8': f'PT2E XNNPACKQuantizer, per-channel weights, {calibration_images} random images'}
    return [Candidate('mobileone_mm', 'fused', 'executorch', precision, PteModel(path), notes[precision], batch=1)
            for precision, path in files.items()]


def fused_candidates(model: nn.Module, device: torch.device, image_size: int, directory: str,
                     calibration_images: int) -> Sequence[Candidate]:
    """This package's fused ``model`` beyond eager fp32: compiled, bf16; on the CPU ONNX Runtime, OpenVINO, ExecuTorch.

    It resets dynamo first: dynamo keeps the compiled graphs of every
    MobileOne under the one forward it shares, at most 8 (recompile_limit),
    which 5 archs at 2 batch sizes exceed.
    """
    torch._dynamo.reset()
    candidates = [compiled(model), bf16_autocast(model, device)]
    if device.type == 'cpu':
        onnx_file = export_onnx(model, torch.zeros(1, 3, image_size, image_size), directory, dynamic_batch=True,
                                opset_version=INT8_OPSET)
        candidates += onnxruntime_candidates(onnx_file, image_size, torch.get_num_threads(), calibration_images)
        candidates += openvino_candidates(onnx_file, image_size, torch.get_num_threads(), calibration_images)
        candidates += executorch_candidates(model, image_size, directory, calibration_images)
    return candidates

