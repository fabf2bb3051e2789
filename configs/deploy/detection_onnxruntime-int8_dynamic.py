# detection_onnxruntime_dynamic.py, then ONNX Runtime INT8 (this project's; mmdeploy 1.3.1 ships none for ONNX
# Runtime): this project's tools/deploy.py quantizes the fp32 export statically (mobileone_mm/deploy/quantize.py):
# QDQ nodes, INT8 weights per output channel, unsigned INT8 activations whose ranges (method: 'minmax', 'entropy' or
# 'percentile') are measured on num_images images spread over a split of the model config's data: 'train' (never the
# images the INT8 model is evaluated on) or 'val' (mmdeploy's choice). mmdeploy's own tools/deploy.py exports the
# fp32 model from this config and ignores the precision. Opset 13: per-channel DequantizeLinear needs it.
_base_ = ['./detection_onnxruntime_dynamic.py']
onnx_config = dict(opset_version=13)
backend_config = dict(precision='int8', quantization=dict(
    num_images=64, per_channel=True, method='minmax', calibration_split='train'))
