"""Models exported to ONNX (TorchScript exporter) and opened in ONNX Runtime's CPU provider, for timing."""
import os.path as osp

import onnxruntime as ort
import torch
import torch.nn as nn

from ..deploy.onnxruntime_session import open_session
from ..deploy.task_models import TensorOutputs


def export_onnx(model: nn.Module, inputs: torch.Tensor, directory: str, dynamic_batch: bool = False,
                opset_version: int = 11) -> str:
    """Exports a CPU ``model`` to ``directory/model.onnx`` with the TorchScript exporter; returns the path.

    Args:
        model (nn.Module): Takes one tensor, returns a tensor or nested
            sequences of tensors.
        inputs (torch.Tensor): An input to trace the export with.
        directory (str): Where the ``.onnx`` file goes.
        dynamic_batch (bool): Whether the batch size is free. Defaults to
            False.
        opset_version (int): Defaults to 11, mmdeploy's; INT8 quantization
            with per-channel weights needs 13.
    """
    path = osp.join(directory, 'model.onnx')
    dynamic_axes = {'input': {0: 'batch'}} if dynamic_batch else None
    # the wrapper in the model's own mode: the exporter puts the module it exports back in that module's mode
    # afterwards, recursively, and a new wrapper is in training mode (BN of an eval model would then train)
    program = TensorOutputs(model, mode=None).train(model.training)
    torch.onnx.export(program, (inputs, ), path, dynamo=False, opset_version=opset_version, input_names=['input'],
                      dynamic_axes=dynamic_axes)
    return path


def onnx_session(model: nn.Module, inputs: torch.Tensor, directory: str, threads: int) -> ort.InferenceSession:
    """A CPU ``model`` exported by :func:`export_onnx` and opened by :func:`open_session`."""
    return open_session(export_onnx(model, inputs, directory), threads)
