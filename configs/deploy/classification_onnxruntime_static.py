# mmdeploy 1.3.1's configs/mmpretrain/classification_onnxruntime_static.py, with its _base_ files inlined
# (_base_/onnx_config.py, mmpretrain/classification_static.py, _base_/backends/onnxruntime.py): mmdeploy's
# wheel ships no configs. Fixed input shape, taken from the image the model is exported with.
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=None,
    optimize=True)
codebase_config = dict(type='mmpretrain', task='Classification')
backend_config = dict(type='onnxruntime')
