# mmdeploy 1.3.1's configs/mmseg/segmentation_static.py.
_base_ = ['./onnx_config.py']
codebase_config = dict(type='mmseg', task='Segmentation')
