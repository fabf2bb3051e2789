# mmdeploy 1.3.1's configs/mmseg/segmentation_onnxruntime_dynamic.py: dynamic batch size and image size; the graph
# outputs logits and the argmax runs after ONNX Runtime (with_argmax=False).
_base_ = ['./_base_/segmentation_static.py', './_base_/onnxruntime.py']
onnx_config = dict(
    dynamic_axes={
        'input': {
            0: 'batch',
            2: 'height',
            3: 'width'
        },
        'output': {
            0: 'batch',
            2: 'height',
            3: 'width'
        },
    })
codebase_config = dict(with_argmax=False)
