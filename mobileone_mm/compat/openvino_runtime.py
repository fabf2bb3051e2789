"""mmdeploy runs OpenVINO models with ``openvino.Core``; its ``IECore`` is gone.

mmdeploy 1.3.1's ``OpenVINOWrapper`` (``mmdeploy/backend/openvino/wrapper.py``)
imports ``openvino.inference_engine.IECore``, removed in OpenVINO 2024.0, and
asserts a batch of 1. When mmdeploy's OpenVINO backend manager is imported
(never importing mmdeploy here), its ``build_wrapper`` is replaced so that
mmdeploy's backend models (its ``tools/test.py``, ``tools/deploy.py``'s
visualization, this project's checks) run :class:`OpenVINOCoreWrapper`:
API 2.0's ``openvino.Core``, any batch the model takes, on OpenVINO's CPU
device (a static model is reshaped to an input of another shape, as
mmdeploy's wrapper reshaped it), in the deploy config's ``backend_config.inference_precision``
(:mod:`mobileone_mm.utils.openvino_model`; OpenVINO's own default, as
mmdeploy's wrapper had it, when the config says none).
Delete this module once mmdeploy's wrapper uses ``openvino.Core``.
"""
from types import ModuleType
from typing import Dict, List, Optional, Sequence

import torch

from ..utils.openvino_model import compile_openvino_model, computed_precision, inference_precision
from .patch_on_import import patch_on_import

MANAGER_MODULE = 'mmdeploy.backend.openvino.backend_manager'


class OpenVINOCoreWrapper(torch.nn.Module):
    """Runs an OpenVINO model on the CPU for mmdeploy's backend models: a dict of tensors in, one out.

    The interface of mmdeploy's ``BaseWrapper`` (``forward``, ``output_names``,
    ``output_to_list``), without importing mmdeploy to subclass it.

    Args:
        ir_model_file (str): The ``.xml`` file.
        output_names (Sequence[str], optional): The outputs to return, in
            order; the model's when None.
        precision (str): OpenVINO's inference precision
            (:data:`~mobileone_mm.utils.openvino_model.INFERENCE_PRECISIONS`).
    """

    def __init__(self, ir_model_file: str, output_names: Optional[Sequence[str]] = None,
                 precision: str = 'default') -> None:
        import openvino

        super().__init__()
        self.model = openvino.Core().read_model(ir_model_file)
        self.precision_hint = precision
        self.compile()
        self.output_names = list(output_names or [port.get_any_name() for port in self.compiled.outputs])

    def compile(self) -> None:
        self.compiled = compile_openvino_model(self.model, self.precision_hint)
        self.request = self.compiled.create_infer_request()

    def reshape_for(self, inputs: Dict[str, torch.Tensor]) -> None:
        """Reshapes and recompiles the model where a static input's shape is not the tensor's."""
        import openvino

        shapes = {name: openvino.PartialShape(list(tensor.shape)) for name, tensor in inputs.items()}
        if all(self.model.input(name).get_partial_shape().compatible(shape) for name, shape in shapes.items()):
            return
        try:
            self.model.reshape(shapes)
        except RuntimeError as error:  # e.g. a static segmentor, whose export fixed its resizes
            expected = {port.get_any_name(): port.get_partial_shape().to_string() for port in self.model.inputs}
            given = {name: shape.to_string() for name, shape in shapes.items()}
            raise ValueError(f'the OpenVINO model takes inputs of {expected}, not {given}, and cannot be reshaped to '
                             'them: use a dynamic deploy config') from error
        self.compile()

    @property
    def precision(self) -> str:
        """The precision it computes in, e.g. ``'f32'`` or ``'bf16'``."""
        return computed_precision(self.compiled)

    def forward(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        self.reshape_for(inputs)
        results = self.request.infer({name: tensor.detach().cpu().contiguous().numpy()
                                      for name, tensor in inputs.items()})
        # copies: the request reuses its output buffers
        return {name: torch.from_numpy(results[self.compiled.output(name)].copy()) for name in self.output_names}

    def output_to_list(self, outputs: Dict[str, torch.Tensor]) -> List[torch.Tensor]:
        return [outputs[name] for name in self.output_names]


def build_core_wrapper(cls, backend_files: Sequence[str], device: str = 'cpu',
                       input_names: Optional[Sequence[str]] = None, output_names: Optional[Sequence[str]] = None,
                       deploy_cfg: Optional[dict] = None, **kwargs) -> OpenVINOCoreWrapper:
    """``OpenVINOManager.build_wrapper``: :class:`OpenVINOCoreWrapper` in the deploy config's precision."""
    if torch.device(device).type != 'cpu':
        raise ValueError(f'device {device!r}: the OpenVINO backend runs on the CPU here; use --device cpu')
    return OpenVINOCoreWrapper(backend_files[0], output_names, inference_precision(deploy_cfg))


def run_with_openvino_core(manager_module: ModuleType) -> None:
    manager_module.OpenVINOManager.build_wrapper = classmethod(build_core_wrapper)


def install_openvino_runtime() -> None:
    """Replaces mmdeploy's OpenVINO wrapper now if its backend manager is imported, else when it is; idempotent."""
    patch_on_import(MANAGER_MODULE, run_with_openvino_core)
