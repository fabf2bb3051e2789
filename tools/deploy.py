"""Export a model with mmdeploy to ONNX Runtime or OpenVINO (or to ExecuTorch), run it there and check it.

The interface of mmdeploy's tools/deploy.py (whose wheel does not ship it), for
the ONNX Runtime and OpenVINO backends: DEPLOY_CFG is one of configs/deploy/. The exported
model is re-parameterized, written to WORK_DIR/end2end.onnx and compared with
the PyTorch model on the image; the exit status is 1 when they disagree. With
--dump-info the SDK's files go beside it and the SDK is checked too. An INT8
deploy config (*_onnxruntime-int8_*.py) also writes WORK_DIR/end2end_int8.onnx,
calibrated on images of the model config's training set (the deploy config's
quantization.calibration_split), never the ones it is evaluated on, and prints the
metric of PyTorch, ONNX Runtime fp32 and INT8 on its test set, and the latency
of both ONNX models. An OpenVINO deploy config (*_openvino_*.py) converts the
export to WORK_DIR/end2end.xml and checks it in f32; its bf16 config
(*_openvino-bf16_*.py) then prints the agreement in bf16 and the test-set
metric and latency of both, its INT8 config (*_openvino-int8_*.py) quantizes it
with NNCF into WORK_DIR/end2end_int8.xml and prints the same. An ExecuTorch deploy config (*_executorch-xnnpack_*.py)
writes WORK_DIR/end2end.pte for phones instead and checks it in ExecuTorch's
runtime (mobileone_mm/deploy/executorch_xnnpack.py); its INT8 config
(*_executorch-xnnpack-int8_*.py) also writes WORK_DIR/end2end_int8.pte and
prints the test-set metric of PyTorch and both .pte at the .pte's input size.

Example:
    python tools/deploy.py configs/deploy/detection_onnxruntime_dynamic.py configs/retinanet_mobileone_s0_coco.py \
        work_dirs/retina/epoch_12.pth demo.jpg --work-dir work_dirs/retina_onnx
"""
from stack_notices import silence_stack_notices  # first: the imports below trigger them

silence_stack_notices()

import argparse
import logging
from typing import List

import numpy as np
import torch
from mmdeploy.utils import Backend, get_root_logger
from mmengine.config import Config

from mobileone_mm.deploy.evaluate import (
    MAIN_METRIC,
    PrecisionRow,
    compare_openvino_precisions,
    compare_precisions,
    compare_pte_precisions,
)
from mobileone_mm.deploy.executorch_xnnpack import deploy_pte, executorch_threads, is_executorch_config
from mobileone_mm.deploy.export import DeployError, deploy
from mobileone_mm.deploy.quantize import calibration_inputs, quantization_settings
from mobileone_mm.deploy.task_models import build_checkpoint_model, load_model_config
from mobileone_mm.engine.cli import add_cfg_options, one_line_errors
from mobileone_mm.utils.logging import quiet_console_with_log_file
from mobileone_mm.utils.openvino_model import inference_precision

# The runtime and the exported model's kind, for the messages, of each mmdeploy backend.
RUNTIME_OF_BACKEND = {Backend.ONNXRUNTIME.value: ('ONNX Runtime', 'ONNX'),
                      Backend.OPENVINO.value: ('OpenVINO', 'OpenVINO')}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('deploy_cfg', help='deploy config path (configs/deploy/*_onnxruntime_*.py, *_openvino_*.py, '
                        '*_executorch-xnnpack_*.py)')
    parser.add_argument('model_cfg', help='model config path')
    parser.add_argument('checkpoint', help='model checkpoint path')
    parser.add_argument('img', help='image used to convert the model')
    parser.add_argument('--test-img', help='image used to test the model (default: img)')
    parser.add_argument('--work-dir', required=True, help='the dir to save logs and models')
    parser.add_argument('--dump-info', action='store_true', help='write the SDK files (deploy.json, pipeline.json, '
                        'detail.json) beside the ONNX file')
    parser.add_argument('--calib-images', type=int,
                        help='calibration images of an INT8 deploy config (default: its quantization.num_images)')
    parser.add_argument('--timing-batch', type=int, default=1,
                        help='batch of calibration inputs the INT8 and fp32 models are timed on (same shape needed)')
    parser.add_argument('--threads', type=int, default=torch.get_num_threads(),
                        help="ONNX Runtime's or OpenVINO's threads when timing the reduced-precision and fp32 models")
    parser.add_argument('--device', default='cpu', help='device used for conversion and testing')
    add_cfg_options(parser, help='override model config settings, e.g. model.backbone.deploy=True for a fused '
                    'checkpoint')
    parser.add_argument('--log-level', default='INFO', choices=list(logging._nameToLevel), help='set log level')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with quiet_console_with_log_file(args.work_dir, 'deploy.log'):
        deploy_and_check(args)


def deploy_and_check(args: argparse.Namespace) -> None:
    if args.timing_batch < 1:  # before exporting; the upper bound is the number of calibration inputs
        raise SystemExit(f'error: --timing-batch {args.timing_batch} must be at least 1')
    torch.set_flush_denormal(True)
    get_root_logger().setLevel(args.log_level)
    with one_line_errors(DeployError):
        deploy_cfg = Config.fromfile(args.deploy_cfg)
        if args.calib_images is not None:
            deploy_cfg.merge_from_dict({'backend_config.quantization.num_images': args.calib_images})
        if is_executorch_config(deploy_cfg):
            if args.dump_info or args.device != 'cpu' or args.timing_batch != 1:
                raise ValueError('--dump-info, --device and --timing-batch are for ONNX Runtime; an ExecuTorch deploy '
                                 'config exports a .pte of batch 1 for the CPU (XNNPACK), without SDK files')
            result = deploy_pte(deploy_cfg, args.model_cfg, args.checkpoint, args.img, args.work_dir, args.test_img,
                                args.cfg_options)
            runtime, exported = 'ExecuTorch (XNNPACK)', 'ExecuTorch'
        else:
            result = deploy(deploy_cfg, args.model_cfg, args.checkpoint, args.img, args.work_dir, args.device,
                            args.test_img, args.cfg_options, args.dump_info)
            runtime, exported = RUNTIME_OF_BACKEND[deploy_cfg.backend_config.type]
    delegated = '' if result.delegate_calls is None else \
        f'; {result.delegate_calls} XNNPACK delegate calls, no convolution left to the portable kernels'
    print(f'exported {result.backend_files[0]} ({result.num_fused_blocks} MobileOne blocks fused{delegated})')
    checked_in = '' if result.inference_precision is None else ' in f32'
    print(f'{runtime}{checked_in} vs PyTorch on {args.test_img or args.img}: {result.agreement.summary}')
    if result.precision_agreement is not None:
        print(f'{runtime} in {result.inference_precision} (the deploy config\'s inference_precision '
              f'{inference_precision(deploy_cfg)!r}) vs PyTorch: {result.precision_agreement.summary}')
    elif result.inference_precision is not None and inference_precision(deploy_cfg) not in ('f32', 'default'):
        print(f'{runtime} computes in {result.inference_precision} on this CPU, not in the deploy config\'s '
              f'{inference_precision(deploy_cfg)!r} (no {inference_precision(deploy_cfg)} in hardware)')
    if result.sdk_agreement is not None:
        print(f'wrote the SDK files beside it; mmdeploy SDK vs PyTorch at the original size: '
              f'{result.sdk_agreement.summary}')
    if not result.agreement.passed:
        raise SystemExit(f'FAILED: the {exported} model does not reproduce the PyTorch model')
    if result.sdk_agreement is not None and not result.sdk_agreement.passed:
        raise SystemExit('FAILED: the SDK does not reproduce the PyTorch model')
    if result.int8_file is None and result.precision_agreement is None:
        return
    model_cfg = load_model_config(args.model_cfg, args.cfg_options)
    if result.int8_file is None:  # OpenVINO in bf16, timed on copies of the export image
        print(f'evaluating OpenVINO in {result.inference_precision} on the test set:')
        inputs = calibration_inputs(deploy_cfg, model_cfg, build_checkpoint_model(model_cfg, args.checkpoint),
                                    [args.img] * args.timing_batch)
    else:
        split = quantization_settings(deploy_cfg)['calibration_split']
        print(f'quantized {result.int8_file} (calibrated on {len(result.calibration_images)} images of the {split} '
              'split); evaluating on the test set:')
        inputs = result.calibration_inputs
    timing_input = timing_batch(inputs, args.timing_batch)
    if is_executorch_config(deploy_cfg):
        print(f"(PyTorch and both .pte on the test images resized to the .pte's input, "
              f'{tuple(timing_input.shape[-2:])})')
        rows = compare_pte_precisions(model_cfg, args.checkpoint, result.backend_files[0], result.int8_file,
                                      torch.from_numpy(timing_input))
        threads = executorch_threads()
    elif deploy_cfg.backend_config.type == Backend.OPENVINO.value:
        rows = compare_openvino_precisions(deploy_cfg, model_cfg, args.checkpoint, result.backend_files[0],
                                           result.int8_file, timing_input, args.work_dir, args.threads)
        threads = args.threads
    else:
        rows = compare_precisions(deploy_cfg, model_cfg, args.checkpoint, result.backend_files[0],
                                  result.int8_file, timing_input, args.work_dir, args.threads, args.device,
                                  with_sdk=args.dump_info)
        threads = args.threads
    print_precision_table(rows, MAIN_METRIC[model_cfg.default_scope], timing_input.shape, threads)


def timing_batch(inputs: List[np.ndarray], batch: int) -> np.ndarray:
    """The first ``batch`` calibration inputs as one batch."""
    shapes = {array.shape for array in inputs[:batch]}
    if batch > len(inputs) or len(shapes) > 1:
        raise SystemExit(f'error: --timing-batch {batch} needs as many calibration inputs of one shape; there are '
                         f'{len(inputs)} of shapes {sorted(shapes)}')
    return np.concatenate(inputs[:batch])


def print_precision_table(rows: List[PrecisionRow], metric: str, input_shape: tuple, threads: int) -> None:
    fp32_ms = rows[1].latency.median_ms
    print(f'| model | {metric} | drop vs PyTorch | latency (input {tuple(input_shape)}, {threads} threads) | vs fp32 |')
    print('|---|---|---|---|---|')
    for row in rows:
        value, reference = row.metrics.get(metric), rows[0].metrics.get(metric)
        if value is None:  # e.g. mmdet's COCO metric of no detection at all
            score = 'none (no predictions to score) | -'
        else:
            score = f'{value:.4g} | ' + (f'{reference - value:+.4g}' if reference is not None else '-')
        latency = f'{row.latency.median_ms:.2f} ms | {row.latency.median_ms / fp32_ms:.2f}x' if row.latency else '- | -'
        print(f'| {row.name} | {score} | {latency} |')


if __name__ == '__main__':
    main()
