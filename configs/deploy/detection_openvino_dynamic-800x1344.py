# mmdeploy 1.3.1's configs/mmdet/detection/detection_openvino_dynamic-800x1344.py: dynamic batch size, image size and
# number of detections, computed in fp32 (_base_/openvino.py); for RetinaNet and SSDLite alike, since the model keeps
# the export's dynamic shapes.
_base_ = ['./_base_/detection_dynamic.py', './_base_/openvino.py']
onnx_config = dict(input_shape=None)
backend_config = dict(model_inputs=[dict(opt_shapes=dict(input=[1, 3, 800, 1344]))])
