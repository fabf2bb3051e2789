"""The TorchScript ONNX exporter as the default of torch.onnx.export, only where asked for."""
import io

import onnx
import torch
import torch.nn as nn

from mobileone_mm.compat.torchscript_onnx_export import torchscript_onnx_export


def test_torchscript_onnx_export_is_the_default_only_inside_the_block():
    export = torch.onnx.export
    with torchscript_onnx_export():
        assert torch.onnx.export is not export
        buffer = io.BytesIO()
        torch.onnx.export(nn.Linear(4, 2), (torch.randn(1, 4), ), buffer, opset_version=11)
    assert torch.onnx.export is export
    assert onnx.load_model_from_string(buffer.getvalue()).opset_import[0].version == 11  # TorchScript's export
