# mmdeploy 1.3.1's configs/mmdet/detection/detection_onnxruntime_static.py: the input shape is taken from the
# image the model is exported with; NMS inside the graph.
_base_ = ['./_base_/detection_static.py', './_base_/onnxruntime.py']
