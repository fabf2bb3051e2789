# mmdeploy 1.3.1's configs/_base_/backends/openvino.py, with the inference precision said: OpenVINO's CPU default is
# bf16 where the CPU computes bf16 (AMX, AVX512-BF16), f32 elsewhere; 'f32' keeps the fp32 model's outputs
# (mobileone_mm/utils/openvino_model.py). mmdeploy converts with openvino.convert_model and runs with openvino.Core
# once mobileone_mm is imported (mobileone_mm/compat/openvino_*.py); the model keeps the ONNX export's shapes, so a
# dynamic config gives a model of any batch and size, and model_inputs' opt_shapes only name the input.
backend_config = dict(type='openvino', inference_precision='f32')
