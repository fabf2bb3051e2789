"""mmdeploy's rewriters find their caller through ``sys._getframe``: the function ``inspect.stack()`` found."""
import mmdeploy.core.rewriters.function_rewriter as function_rewriter
import mmdeploy.core.rewriters.symbolic_rewriter as symbolic_rewriter
import pytest
from mmdeploy.core.rewriters.rewriter_utils import get_frame_func as get_frame_func_by_inspect

from mobileone_mm.compat.mmdeploy_frame_lookup import get_frame_func


def both_lookups(top: int) -> tuple:
    return get_frame_func(top), get_frame_func_by_inspect(top)


def test_the_rewriters_use_the_fast_lookup():
    assert function_rewriter.get_frame_func is get_frame_func
    assert symbolic_rewriter.get_frame_func is get_frame_func


@pytest.mark.parametrize('top, expected', [(1, 'both_lookups'), (2, 'test_the_lookup_finds_what_inspect_stack_finds')])
def test_the_lookup_finds_what_inspect_stack_finds(top, expected):
    fast, by_inspect = both_lookups(top)
    assert fast is by_inspect
    assert fast.__name__ == expected
