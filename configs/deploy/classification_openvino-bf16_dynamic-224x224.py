# classification_openvino_dynamic-224x224.py computed in bf16 (OpenVINO's inference precision; the weights
# stay fp32), faster than f32 where the CPU computes bf16 (AMX, AVX512-BF16). This project's tools/deploy.py checks
# the model in f32 against PyTorch, then prints the precision OpenVINO ran, its agreement and the test-set metric of
# both; mmdeploy's own tools run it in bf16.
_base_ = ['./classification_openvino_dynamic-224x224.py']
backend_config = dict(inference_precision='bf16')
