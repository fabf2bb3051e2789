# mmdeploy 1.3.1's configs/mmseg/segmentation_onnxruntime_static-512x512.py, with its _base_ files inlined
# (_base_/onnx_config.py, mmseg/segmentation_static.py, _base_/backends/onnxruntime.py): mmdeploy's wheel ships
# no configs. Input fixed at 512x512 (the test pipeline resizes to it); the graph ends in the argmax.
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=[512, 512],
    optimize=True)
codebase_config = dict(type='mmseg', task='Segmentation')
backend_config = dict(type='onnxruntime')
