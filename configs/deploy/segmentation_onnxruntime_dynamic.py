# mmdeploy 1.3.1's configs/mmseg/segmentation_onnxruntime_dynamic.py, with its _base_ files inlined
# (_base_/onnx_config.py, mmseg/segmentation_static.py and segmentation_dynamic.py, _base_/backends/onnxruntime.py):
# mmdeploy's wheel ships no configs. Dynamic batch size and image size; the graph outputs logits and the argmax
# runs after ONNX Runtime (with_argmax=False).
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
            0: 'batch',
            2: 'height',
            3: 'width'
        },
    })
codebase_config = dict(type='mmseg', task='Segmentation', with_argmax=False)
backend_config = dict(type='onnxruntime')
