"""mmdeploy's export gets the TorchScript exporter; torch.onnx.export stays as it is everywhere else."""
import subprocess
import sys

import onnx
import torch
import torch.nn as nn
from mmdeploy.apis.onnx import export
from mmengine.config import Config

import mobileone_mm  # noqa: F401  (registers the rewriter)


def test_mmdeploy_export_uses_the_torchscript_exporter_and_leaves_torch_onnx_export_alone(tmp_path):
    original = torch.onnx.export
    deploy_cfg = Config(dict(onnx_config=dict(type='onnx', opset_version=11), backend_config=dict(type='onnxruntime'),
                             codebase_config=dict(type='mmpretrain', task='Classification')))
    export(nn.Linear(4, 2), torch.randn(1, 4), str(tmp_path / 'linear'), context_info=dict(deploy_cfg=deploy_cfg))
    assert torch.onnx.export is original
    assert onnx.load(tmp_path / 'linear.onnx').opset_import[0].version == 11  # TorchScript's, as asked


def test_the_rewriter_is_registered_when_mmdeploy_is_imported_after_mobileone_mm():
    script = ('import mobileone_mm, sys; assert "mmdeploy" not in sys.modules; '
              'from mmdeploy.core import FUNCTION_REWRITER; '
              'assert "torch.onnx.export" in FUNCTION_REWRITER._registry._rewrite_records')
    completed = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
