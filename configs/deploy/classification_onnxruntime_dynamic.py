# mmdeploy 1.3.1's configs/mmpretrain/classification_onnxruntime_dynamic.py: dynamic batch size and image size.
_base_ = ['./_base_/classification_static.py', './_base_/onnxruntime.py']
onnx_config = dict(dynamic_axes={
    'input': {
        0: 'batch',
        2: 'height',
        3: 'width'
    },
    'output': {
        0: 'batch'
    }
})
