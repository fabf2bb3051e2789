# mmdeploy 1.3.1's configs/mmseg/segmentation_openvino_static-512x512.py: input fixed at 512x512 (the test pipeline
# resizes to it); the graph ends in the argmax; computed in fp32 (_base_/openvino.py).
_base_ = ['./_base_/segmentation_static.py', './_base_/openvino.py']
onnx_config = dict(input_shape=[512, 512])
backend_config = dict(model_inputs=[dict(opt_shapes=dict(input=[1, 3, 512, 512]))])
