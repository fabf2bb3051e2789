"""The flat module paths of version 0.1's first layout, still importable from the modules that hold their code now.

``import mobileone_mm.mobileone`` (or ``from mobileone_mm.verify import
relative_error``) gives a module with the public names of the new modules and
a ``FutureWarning`` naming them; a module whose code left the package fails
with an ImportError that says where it went.
"""
import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Dict, Optional, Sequence, Tuple

PACKAGE = 'mobileone_mm'
MOVED: Dict[str, Tuple[str, ...]] = {
    'analysis': ('benchmark.sizes', ),
    'benchmark_report': ('benchmark.report', ),
    'channel_branches': ('models.merged_training.scale_and_identity', ),
    'checkpoint': ('compat.weights_only_checkpoint', ),
    'demo_data': ('testing.demo_data', ),
    'depthwise_moments': ('models.merged_training.depthwise_moments', ),
    'fuse_checkpoint': ('deploy.fuse_checkpoint', 'utils.files'),
    'fusion': ('models.fusion', ),
    'merged_training': ('models.merged_training.merged_branches', ),
    'mobileone': ('models.mobileone', 'models.block', 'models.archs'),
    'onnx_compat': ('compat.torchscript_onnx_export', ),
    'precise_bn': ('engine.hooks.precise_bn_hook', ),
    'prediction_agreement': ('deploy.agreement', ),
    'reparameterize': ('models.reparameterize', ),
    'runner': ('engine.runner', 'utils.config'),
    'se_layer': ('models.se_layer', ),
    'task_model': ('deploy.task_models', 'utils.config', 'utils.state_dict'),
    'verify': ('testing.equivalence', 'testing.weights', 'utils.numerics'),
}
LEFT_THE_PACKAGE = {'task_demo': 'tools/demo.py (run_task_demo), a tool driver'}


class MovedModuleLoader(importlib.abc.Loader):
    """Fills an old module with the public names of the modules its code moved to."""

    def __init__(self, targets: Sequence[str]) -> None:
        self.targets = [f'{PACKAGE}.{target}' for target in targets]

    def create_module(self, spec) -> Optional[ModuleType]:
        return None  # the default module

    def exec_module(self, module: ModuleType) -> None:
        warnings.warn(f'{module.__name__} moved to {", ".join(self.targets)}; import it from there',
                      FutureWarning, stacklevel=2)
        for target in reversed(self.targets):  # the first target's names win
            new = importlib.import_module(target)
            module.__dict__.update({name: value for name, value in vars(new).items() if not name.startswith('__')})


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old flat modules of :data:`MOVED` and refuses those of :data:`LEFT_THE_PACKAGE` with a message."""

    def find_spec(self, fullname: str, path=None, target=None):
        package, _, name = fullname.partition('.')
        if package != PACKAGE:
            return None
        if name in LEFT_THE_PACKAGE:
            raise ImportError(f'{fullname} is gone: its code is in {LEFT_THE_PACKAGE[name]}', name=fullname)
        if name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, MovedModuleLoader(MOVED[name]))


def install_moved_module_finder() -> None:
    """Puts :class:`MovedModuleFinder` on ``sys.meta_path``, behind the regular finders; idempotent."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
