# segmentation_openvino_dynamic-1024x2048.py, then INT8: this project's tools/deploy.py quantizes the
# OpenVINO model with NNCF's post-training quantization (nncf.quantize) into end2end_int8.xml: preset 'mixed'
# (asymmetric INT8 activations, weights symmetric per output channel) or 'performance' (symmetric activations);
# activation ranges the 'minmax' of the calibration images or NNCF's default 'mean_minmax'; bias correction 'none',
# 'fast' (NNCF's default) or 'full'. The defaults here agreed best with fp32 on the demo classifier
# (mobileone_mm/deploy/quantize.py). It is calibrated on num_images images spread over a split of the model config's
# data: 'train' (never the images the INT8 model is evaluated on) or 'val'. What stays in floating point runs in
# f32. mmdeploy's own tools/deploy.py converts the fp32 model from this config and ignores the precision.
_base_ = ['./segmentation_openvino_dynamic-1024x2048.py']
backend_config = dict(precision='int8', quantization=dict(
    num_images=64, calibration_split='train', preset='mixed', activation_range='minmax', bias_correction='none'))
