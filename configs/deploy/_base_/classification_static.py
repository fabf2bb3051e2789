# mmdeploy 1.3.1's configs/mmpretrain/classification_static.py.
_base_ = ['./onnx_config.py']
codebase_config = dict(type='mmpretrain', task='Classification')
