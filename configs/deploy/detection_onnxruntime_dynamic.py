# mmdeploy 1.3.1's configs/mmdet/detection/detection_onnxruntime_dynamic.py: dynamic batch size, image size and
# number of detections.
_base_ = ['./_base_/detection_static.py', './_base_/onnxruntime.py']
onnx_config = dict(
    dynamic_axes={
        'input': {
            0: 'batch',
            2: 'height',
            3: 'width'
        },
        'dets': {
            0: 'batch',
            1: 'num_dets',
        },
        'labels': {
            0: 'batch',
            1: 'num_dets',
        },
    })
