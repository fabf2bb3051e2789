# mmdeploy 1.3.1's configs/mmseg/segmentation_onnxruntime_dynamic.py: dynamic batch size and image size; the graph
# outputs logits and the argmax runs after ONNX Runtime (with_argmax=False).
_base_ = ['./_base_/segmentation_dynamic.py', './_base_/onnxruntime.py']
codebase_config = dict(with_argmax=False)
