"""Deployment: fused checkpoints, the mmdeploy export to ONNX Runtime and OpenVINO, and the checks of both.

:mod:`.task_models` builds task models from their configs and loads
checkpoints strictly, :mod:`.fuse_checkpoint` re-parameterizes a checkpoint,
:mod:`.export` exports with mmdeploy and compares the result with PyTorch
(:mod:`.prediction`), judged by :mod:`.agreement`; :mod:`.sdk` runs
mmdeploy's SDK on an export, :mod:`.quantize` makes its INT8 model (ONNX
Runtime's or NNCF's quantization) and
:mod:`.evaluate` measures its metric. The submodules are imported where they
are used: mmdeploy is imported only when exporting.
"""
