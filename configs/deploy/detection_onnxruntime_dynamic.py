# mmdeploy 1.3.1's configs/mmdet/detection/detection_onnxruntime_dynamic.py: dynamic batch size, image size and
# number of detections.
_base_ = ['./_base_/detection_dynamic.py', './_base_/onnxruntime.py']
