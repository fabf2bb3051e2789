# mmdeploy 1.3.1's configs/_base_/backends/onnxruntime.py.
backend_config = dict(type='onnxruntime')
