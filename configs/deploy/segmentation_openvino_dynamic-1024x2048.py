# mmdeploy 1.3.1's configs/mmseg/segmentation_openvino_dynamic-1024x2048.py: dynamic batch size and image size; the
# graph ends in the argmax; computed in fp32 (_base_/openvino.py).
_base_ = ['./_base_/segmentation_dynamic.py', './_base_/openvino.py']
backend_config = dict(model_inputs=[dict(opt_shapes=dict(input=[1, 3, 1024, 2048]))])
