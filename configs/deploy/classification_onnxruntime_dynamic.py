# mmdeploy 1.3.1's configs/mmpretrain/classification_onnxruntime_dynamic.py, with its _base_ files inlined
# (_base_/onnx_config.py, mmpretrain/classification_static.py and classification_dynamic.py,
# _base_/backends/onnxruntime.py): mmdeploy's wheel ships no configs. Dynamic batch size and image size.
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=None,
    optimize=True,
    dynamic_axes={
        'input': {
            0: 'batch',
            2: 'height',
            3: 'width'
        },
        'output': {
            0: 'batch'
        }
    })
codebase_config = dict(type='mmpretrain', task='Classification')
backend_config = dict(type='onnxruntime')
