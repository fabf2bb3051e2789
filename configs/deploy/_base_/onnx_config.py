# mmdeploy 1.3.1's configs/_base_/onnx_config.py (mmdeploy's wheel ships no configs): the TorchScript ONNX export.
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
