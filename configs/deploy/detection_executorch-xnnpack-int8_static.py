# detection_executorch-xnnpack_static.py, then INT8 for XNNPACK (phones run INT8): tools/deploy.py also writes
# end2end_int8.pte, quantized with PT2E and ExecuTorch's XNNPACKQuantizer (symmetric INT8, weights per output channel
# when per_channel, activation ranges from histograms) on num_images images spread over a split of the model config's
# data, each resized to the .pte's input size: 'train' (never the images the INT8 model is evaluated on) or 'val'.
# The detection head stays fp32 (fp32_modules): mmdet's dense heads run the same convs on every pyramid level, which
# the quantizer leaves unquantized but for their inputs, and XNNPACK then refuses a convolution of the RetinaNet head
# when the .pte loads (xnn_status_invalid_parameter).
_base_ = ['./detection_executorch-xnnpack_static.py']
backend_config = dict(precision='int8', quantization=dict(
    num_images=64, per_channel=True, calibration_split='train', fp32_modules=['bbox_head']))
