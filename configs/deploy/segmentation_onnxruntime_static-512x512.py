# mmdeploy 1.3.1's configs/mmseg/segmentation_onnxruntime_static-512x512.py: input fixed at 512x512 (the test
# pipeline resizes to it); the graph ends in the argmax.
_base_ = ['./_base_/segmentation_static.py', './_base_/onnxruntime.py']
onnx_config = dict(input_shape=[512, 512])
