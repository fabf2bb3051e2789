# mmdeploy 1.3.1's configs/mmpretrain/classification_onnxruntime_static.py: the input shape is taken from the
# image the model is exported with. mmdeploy's wheel ships no configs; _base_/ holds the ones these inherit.
_base_ = ['./_base_/classification_static.py', './_base_/onnxruntime.py']
