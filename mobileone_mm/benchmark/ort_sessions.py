"""Models exported to ONNX (TorchScript exporter) and opened in ONNX Runtime's CPU provider, for timing."""
import os.path as osp
from typing import Tuple

import onnxruntime as ort
import torch
import torch.nn as nn

from ..deploy.task_models import flatten_tensors


class TensorOutputs(nn.Module):
    """A model's outputs, nested sequences of tensors, as one flat tuple: what the ONNX exporter takes."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(flatten_tensors(self.model(x)))


def onnx_session(model: nn.Module, inputs: torch.Tensor, directory: str, threads: int,
                 dynamic_batch: bool = False) -> ort.InferenceSession:
    """Exports a CPU ``model`` to ONNX and opens it in ONNX Runtime's CPU provider.

    Args:
        model (nn.Module): Takes one tensor, returns a tensor or nested
            sequences of tensors.
        inputs (torch.Tensor): An input to trace the export with.
        directory (str): Where the ``.onnx`` file goes.
        threads (int): ONNX Runtime's intra-op threads.
        dynamic_batch (bool): Whether the batch size is free. Defaults to
            False.
    """
    path = osp.join(directory, 'model.onnx')
    dynamic_axes = {'input': {0: 'batch'}} if dynamic_batch else None
    torch.onnx.export(TensorOutputs(model), (inputs, ), path, dynamo=False, opset_version=11, input_names=['input'],
                      dynamic_axes=dynamic_axes)
    return open_session(path, threads)


def open_session(path: str, threads: int, spinning: bool = True) -> ort.InferenceSession:
    """An ONNX file in ONNX Runtime's CPU provider with ``threads`` intra-op threads.

    Args:
        path (str): The ``.onnx`` file.
        threads (int): ONNX Runtime's intra-op threads.
        spinning (bool): Whether its threads spin after each run, ONNX
            Runtime's default; spinning slows whatever is timed next in the
            process (docs/performance.md). Defaults to True.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
