"""Train and test any config of mmpretrain, mmdet or mmseg with one set of flags.

The config's ``default_scope`` (set by the framework's base runtime config)
decides the framework; everything else is mmengine's ``Runner``, so single-GPU,
CPU, ``torchrun`` and SLURM launches behave as in the frameworks' own tools.
"""
import contextlib
import glob
import logging
import os.path as osp
import re
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import CheckpointLoader, Runner

from ..compat.atomic_checkpoint_saving import is_checkpoint_file
from ..compat.weights_only_checkpoint import CheckpointFileError
from ..utils.config import read_config
from ..utils.files import remove_stale_temporaries
from ..utils.logging import quiet_console


def load_config(config: str, cfg_options: Optional[dict] = None, launcher: str = 'none',
                work_dir: Optional[str] = None) -> Config:
    """Reads a config (:func:`~mobileone_mm.utils.config.read_config`), then sets the launcher and the work dir.

    Raises:
        ValueError: If the config's ``default_scope`` is not one of mmpretrain,
            mmdet or mmseg.
    """
    cfg = read_config(config, cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        if osp.isfile(work_dir):
            raise ValueError(f'--work-dir {work_dir} is a file; give a folder (it is made if it does not exist)')
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg


def configure_training(cfg: Config, amp: bool = False, resume: Optional[str] = None) -> Config:
    """Switches on mixed precision and resuming as the frameworks' ``--amp``/``--resume`` do.

    Args:
        cfg (Config): The loaded config.
        amp (bool): Train with automatic mixed precision.
        resume (str, optional): ``'auto'`` resumes from the latest checkpoint
            in the work dir that loads (:func:`checkpoint_to_resume`); a path
            resumes from that checkpoint. Either removes the temporary files
            that killed saves left in the work dir.

    Raises:
        CheckpointFileError: If the work dir holds checkpoints and none loads.
    """
    if amp:
        optim_wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper_type not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(f'--amp needs an OptimWrapper, the config uses {optim_wrapper_type}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    check_training_settings(cfg)
    if resume is not None and osp.isdir(cfg.work_dir):  # what saves killed in this work dir left
        remove_stale_temporaries(cfg.work_dir, is_checkpoint_file)
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, checkpoint_to_resume(cfg.work_dir)
    elif resume is not None:
        cfg.resume, cfg.load_from = True, resume
    return cfg


def check_training_settings(cfg: Config) -> None:
    """Checks the numbers a user sets with ``--cfg-options`` most, before anything is built.

    mmengine would take ``train_cfg.max_epochs=abc`` or ``optim_wrapper.optimizer.lr=abc`` and fail deep
    inside ``runner.train()``.

    Raises:
        ValueError: Naming the setting, its value and what is allowed.
    """
    positive_ints = ['train_cfg.max_epochs', 'train_cfg.max_iters', 'train_cfg.val_interval',
                     'train_dataloader.batch_size']
    for key in positive_ints:
        value = config_value(cfg, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f'{key}={value!r} must be a positive int')
    workers = config_value(cfg, 'train_dataloader.num_workers')
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise ValueError(f'train_dataloader.num_workers={workers!r} must be an int >= 0')
    for key in ('optim_wrapper.optimizer.lr', 'optim_wrapper.optimizer.weight_decay',
                'optim_wrapper.optimizer.momentum'):
        value = config_value(cfg, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
                                  or (key.endswith('.lr') and value == 0)):
            allowed = 'a number > 0' if key.endswith('.lr') else 'a number >= 0'
            raise ValueError(f'{key}={value!r} must be {allowed}')


def config_value(cfg: Config, key: str) -> Any:
    """The value at a dotted key of the config, None where a part of it is missing."""
    value = cfg
    for part in key.split('.'):
        if not isinstance(value, (Config, dict)):
            return None
        value = value.get(part)
    return value


def prepare_training(runner: Runner) -> None:
    """Builds what ``runner.train()`` would build first (the loops with their datasets, the optimizer), now.

    So that an empty or missing dataset or a bad optimizer setting fails
    before training starts, where the tools report it in one line;
    ``train()`` then uses these. The parameter schedulers stay to ``train()``,
    which builds them after scaling the learning rate.
    """
    runner._train_loop = with_dataset_named(runner.build_train_loop, runner._train_loop, runner.cfg, 'train')
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    if runner._val_loop is not None:
        runner._val_loop = with_dataset_named(runner.build_val_loop, runner._val_loop, runner.cfg, 'val')


def prepare_testing(runner: Runner) -> None:
    """Builds the test loop (its dataset and evaluator) now, as :func:`prepare_training` the training's."""
    runner._test_loop = with_dataset_named(runner.build_test_loop, runner._test_loop, runner.cfg, 'test')


# What mmengine's BaseDataset raises when it serializes a dataset without samples (an empty annotation file or folder).
NO_SAMPLES = 'need at least one array to concatenate'


def with_dataset_named(build_loop: Callable[[Any], Any], loop: Any, cfg: Config, split: str) -> Any:
    """``build_loop(loop)``, naming the dataset where the frameworks' messages would not.

    An empty dataset fails in mmengine with ``need at least one array to
    concatenate``, and an image folder without images in mmpretrain with a
    ``RuntimeError``: both become a ``ValueError`` that names the dataset.
    """
    try:
        return build_loop(loop)
    except (ValueError, RuntimeError) as error:
        if isinstance(error, ValueError) and NO_SAMPLES not in str(error):
            raise
        dataset = config_value(cfg, f'{split}_dataloader.dataset') or {}
        described = (f'the {split} dataset ({dataset.get("type")}, data_root={dataset.get("data_root")!r}, '
                     f'ann_file={dataset.get("ann_file")!r})')
        if NO_SAMPLES in str(error):
            raise ValueError(f'{described} has no samples: check its paths and annotations') from error
        raise ValueError(f'{described} cannot be read: {error}') from error


def checkpoint_to_resume(work_dir: str) -> Optional[str]:
    """The checkpoint of ``work_dir`` to resume from: the latest that loads, None when it holds none.

    The latest is the one ``last_checkpoint`` names, looked up inside
    ``work_dir`` when it names a file elsewhere (a copied or moved work dir),
    then the others newest first. One that does not load (empty, truncated:
    a save killed before saves were atomic) is skipped with a warning naming
    it, so that resuming never silently starts again from scratch.

    Raises:
        CheckpointFileError: If checkpoints exist and none of them loads.
    """
    candidates = sorted((path for path in glob.glob(osp.join(work_dir, '*.pth')) if checkpoint_step(path) >= 0),
                        key=checkpoint_step, reverse=True)
    recorded = osp.join(work_dir, 'last_checkpoint')
    last = Path(recorded).read_text().strip() if osp.isfile(recorded) else ''
    if last:  # first, whatever its name (CheckpointHook's filename_tmpl may differ from epoch_N.pth)
        inside = osp.join(work_dir, osp.basename(last))
        if osp.abspath(osp.dirname(last)) != osp.abspath(work_dir) and osp.isfile(inside):
            print_log(f'last_checkpoint names {last}, outside the work dir {work_dir}: resuming from {inside}',
                      logger='current', level=logging.WARNING)
            last = inside
        candidates = [last] + [path for path in candidates if osp.abspath(path) != osp.abspath(last)]
    unloadable = []
    for path in candidates:
        try:
            CheckpointLoader.load_checkpoint(path, map_location='cpu', logger='silent')
        except (CheckpointFileError, FileNotFoundError) as error:
            unloadable.append(str(error))
            continue
        if unloadable:
            print_log(f'resuming from {path}, the latest checkpoint that loads; skipped: {"; ".join(unloadable)}',
                      logger='current', level=logging.WARNING)
        return path
    if unloadable:
        raise CheckpointFileError(f'no checkpoint in {work_dir} loads, so there is nothing to resume from: '
                                  f'{"; ".join(unloadable)}')
    return None


def checkpoint_step(path: str) -> int:
    """The epoch or iteration of a runner checkpoint's file name (``epoch_12.pth``: 12); -1 for other files."""
    match = re.fullmatch(r'(?:epoch|iter)_(\d+)\.pth', osp.basename(path))
    return int(match[1]) if match else -1


def configure_testing(cfg: Config, checkpoint: str, out: Optional[str] = None,
                      show_dir: Optional[str] = None) -> Config:
    """Points the config at a checkpoint, and optionally dumps and draws predictions.

    Args:
        cfg (Config): The loaded config.
        checkpoint (str): The checkpoint to evaluate.
        out (str, optional): A ``.pkl`` file to dump the raw predictions to.
        show_dir (str, optional): Folder to draw predictions into (for mmdet,
            relative to the run's folder in the work dir, as in mmdet).
    """
    cfg.load_from = checkpoint
    if out is not None:
        if not out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl or .pickle file, got {out!r}')
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
        cfg.test_evaluator = [*evaluators, dict(type='DumpResults', out_file_path=out)]
    if show_dir is not None:
        visualization = cfg.default_hooks.visualization
        if cfg.default_scope == 'mmpretrain':
            visualization.update(enable=True, out_dir=show_dir)
        else:  # mmdet's DetVisualizationHook, mmseg's SegVisualizationHook
            visualization.update(draw=True, interval=1)
            if cfg.default_scope == 'mmdet':
                visualization.test_out_dir = show_dir
            else:
                cfg.visualizer.save_dir = show_dir
    return cfg


def build_runner(cfg: Config) -> Runner:
    """Builds the runner the config asks for (``runner_type``) or mmengine's ``Runner``.

    Its console leaves out mmengine's environment, config and hook dumps and
    other known-harmless messages (:data:`~mobileone_mm.utils.logging.CONSOLE_NOISE`);
    its log file in the work dir keeps them.
    """
    prepare_cpu_distributed(cfg)
    with runner_loggers_with_quiet_console():
        if 'runner_type' in cfg:
            from mmengine.registry import RUNNERS
            return RUNNERS.build(cfg)
        return Runner.from_cfg(cfg)


@contextlib.contextmanager
def runner_loggers_with_quiet_console() -> Iterator[None]:
    """Runners built within the block get a quiet console from the start.

    A runner logs its dumps in ``__init__``, right after building its logger,
    so the filter goes on in ``Runner.build_logger`` (also that of subclasses
    that do not override it).
    """
    build_logger = Runner.build_logger

    def build_quiet_logger(runner: Runner, *args, **kwargs):
        return quiet_console(build_logger(runner, *args, **kwargs))

    Runner.build_logger = build_quiet_logger
    try:
        yield
    finally:
        Runner.build_logger = build_logger


def prepare_cpu_distributed(cfg: Config) -> None:
    """Lets ``torchrun`` processes without CUDA train on CPU, with the gloo backend.

    mmengine's ``pytorch`` launcher assumes one GPU per process: it calls
    ``torch.cuda.set_device`` and gives DDP ``device_ids=[LOCAL_RANK]``. Without
    CUDA this starts the process group itself (mmengine then skips its own) and
    wraps the model in DDP without device ids. Nothing changes where CUDA is.
    """
    if cfg.get('launcher') != 'pytorch' or torch.cuda.is_available():
        return
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend='gloo')
    wrapper = dict(type='MMDistributedDataParallel', broadcast_buffers=False, **(cfg.get('model_wrapper_cfg') or {}))
    cfg.model_wrapper_cfg = dict(wrapper, device_ids=None)
