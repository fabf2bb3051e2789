"""Reading a task config of mmpretrain, mmdet or mmseg: the one place that checks its framework."""
import copy
import os.path as osp
from typing import Optional, Union

from mmengine.config import Config

FRAMEWORKS = ('mmpretrain', 'mmdet', 'mmseg')


def read_config(config: Union[str, Config], cfg_options: Optional[dict] = None) -> Config:
    """Reads a config (or copies a loaded one), applies ``--cfg-options`` and checks its framework.

    The config's ``default_scope``, set by the framework's base runtime config,
    names the framework.

    Args:
        config (str | Config): Config file or loaded config; a loaded config
            is copied, not changed.
        cfg_options (dict, optional): Overrides, as ``--cfg-options`` gives
            them. Defaults to None.

    Raises:
        IsADirectoryError: If ``config`` is a folder.
        ValueError: If it has a syntax error.
        ValueError: If the config's ``default_scope`` is not one of
            mmpretrain, mmdet or mmseg.
    """
    if isinstance(config, str) and osp.isdir(config):
        raise IsADirectoryError(f'config {config} is a folder; give a config file (.py)')
    try:
        cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    except SyntaxError as error:  # mmengine's message names neither the file nor, for a base config, which one
        raise ValueError(f'config {error.filename if error.filename not in (None, "<unknown>") else config} has a '
                         f'syntax error: {error.msg} (line {error.lineno})') from error
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope')
    if scope not in FRAMEWORKS:
        raise ValueError(f'{config_name(cfg)}: default_scope {scope!r} is not one of {FRAMEWORKS}; inherit the '
                         "framework's base runtime config (e.g. 'mmdet::_base_/default_runtime.py')")
    return cfg


def config_name(cfg: Config) -> str:
    """The file a config was read from, for messages."""
    return cfg.filename or 'the config'
