# classification_executorch-xnnpack_static.py, then INT8 for XNNPACK (phones run INT8): tools/deploy.py also writes
# end2end_int8.pte, quantized with PT2E and ExecuTorch's XNNPACKQuantizer (symmetric INT8, weights per output channel
# when per_channel, activation ranges from histograms) on num_images images spread over a split of the model config's
# data, each resized to the .pte's input size: 'train' (never the images the INT8 model is evaluated on) or 'val'.
_base_ = ['./classification_executorch-xnnpack_static.py']
# fp32_modules: children of the task model left in fp32 (e.g. ['decode_head']).
backend_config = dict(precision='int8', quantization=dict(
    num_images=64, per_channel=True, calibration_split='train', fp32_modules=[]))
