# ExecuTorch with the XNNPACK delegate (phones' CPU path), in mmdeploy's config layout: the input shape is taken
# from the image the model is exported with (onnx_config.input_shape None), as in detection_onnxruntime_static.py.
# mmdeploy has no ExecuTorch backend: tools/deploy.py exports it (mobileone_mm/deploy/executorch_xnnpack.py).
_base_ = ['./_base_/detection_static.py']
backend_config = dict(type='executorch', partitioner='xnnpack')
onnx_config = dict(save_file='end2end.pte')
