# mmdeploy 1.3.1's configs/mmpretrain/classification_openvino_dynamic-224x224.py: dynamic batch size and image size,
# computed in fp32 (_base_/openvino.py).
_base_ = ['./_base_/classification_dynamic.py', './_base_/openvino.py']
onnx_config = dict(input_shape=None)
backend_config = dict(model_inputs=[dict(opt_shapes=dict(input=[1, 3, 224, 224]))])
