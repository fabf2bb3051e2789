# mmdeploy 1.3.1's configs/mmpretrain/classification_onnxruntime_dynamic.py: dynamic batch size and image size.
_base_ = ['./_base_/classification_dynamic.py', './_base_/onnxruntime.py']
