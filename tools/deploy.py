"""Export a model to ONNX with mmdeploy, run it in ONNX Runtime and check it against PyTorch.

The interface of mmdeploy's tools/deploy.py (whose wheel does not ship it), for
the ONNX Runtime backend: DEPLOY_CFG is one of configs/deploy/. The exported
model is re-parameterized, written to WORK_DIR/end2end.onnx and compared with
the PyTorch model on the image; the exit status is 1 when they disagree.

Example:
    python tools/deploy.py configs/deploy/detection_onnxruntime_dynamic.py configs/retinanet_mobileone_s0_coco.py \
        work_dirs/retina/epoch_12.pth demo.jpg --work-dir work_dirs/retina_onnx
"""
import argparse
import logging

import torch
from mmdeploy.utils import get_root_logger
from mmengine.config import DictAction

from mobileone_mm.deploy.export import DeployError, deploy


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('deploy_cfg', help='deploy config path (configs/deploy/*_onnxruntime_*.py)')
    parser.add_argument('model_cfg', help='model config path')
    parser.add_argument('checkpoint', help='model checkpoint path')
    parser.add_argument('img', help='image used to convert the model')
    parser.add_argument('--test-img', help='image used to test the model (default: img)')
    parser.add_argument('--work-dir', required=True, help='the dir to save logs and models')
    parser.add_argument('--dump-info', action='store_true', help='write the SDK files (deploy.json, pipeline.json, '
                        'detail.json) beside the ONNX file')
    parser.add_argument('--device', default='cpu', help='device used for conversion and testing')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override model config settings, e.g. model.backbone.deploy=True for a fused checkpoint')
    parser.add_argument('--log-level', default='INFO', choices=list(logging._nameToLevel), help='set log level')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_flush_denormal(True)
    get_root_logger().setLevel(args.log_level)
    try:
        result = deploy(args.deploy_cfg, args.model_cfg, args.checkpoint, args.img, args.work_dir, args.device,
                        args.test_img, args.cfg_options, args.dump_info)
    except (ValueError, FileNotFoundError, DeployError) as error:
        raise SystemExit(f'error: {error}')
    print(f'exported {result.backend_files[0]} ({result.num_fused_blocks} MobileOne blocks fused)')
    print(f'ONNX Runtime vs PyTorch on {args.test_img or args.img}: {result.agreement.summary}')
    if result.sdk_agreement is not None:
        print(f'wrote the SDK files beside it; mmdeploy SDK vs PyTorch at the original size: '
              f'{result.sdk_agreement.summary}')
    if not result.agreement.passed:
        raise SystemExit('FAILED: the ONNX model does not reproduce the PyTorch model')
    if result.sdk_agreement is not None and not result.sdk_agreement.passed:
        raise SystemExit('FAILED: the SDK does not reproduce the PyTorch model')


if __name__ == '__main__':
    main()
