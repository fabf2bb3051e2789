"""The backbone choice: every network of the table builds and runs each way; fronts and verdicts as defined."""
import dataclasses

import pytest
import torch

from mobileone_mm.benchmark.backbones import as_tensors
from mobileone_mm.benchmark.choice import (
    MOBILEONE,
    NETWORKS,
    WAYS,
    ChoiceRow,
    build_network,
    mark_pareto_fronts,
    network_candidates,
    time_way,
    verdicts,
)
from mobileone_mm.benchmark.config import BenchmarkConfig
from mobileone_mm.benchmark.ort_sessions import export_onnx
from mobileone_mm.benchmark.report import CONSOLE_WIDTH, choice_table, verdict_table
from mobileone_mm.benchmark.runtimes import Candidate
from mobileone_mm.benchmark.sizes import count_flops

SMALL = 64  # every network of the table takes it; the benchmark runs 224


def row(network: str, top1: float, median_ms, runtime: str = 'onnxruntime', note: str = '') -> ChoiceRow:
    family = MOBILEONE if network.startswith('mobileone_') else 'other'
    return ChoiceRow('cpu', 2, runtime, 'fp32', 1, network, family, top1, 'source', 10**6, 10**8, median_ms,
                     median_ms, median_ms, 3 if median_ms else None, 1e-6, 1.0, False, note)


# ExecuTorch's PT2E quantization and XNNPACK lowering take about 40 s a network here: the test lowers one.
LOWERED = 'mobilenetv2_100'


@pytest.mark.slow  # exports twelve classifiers
def test_every_network_of_the_table_builds_and_runs_each_way_at_a_small_size(tmp_path):
    inputs = torch.randn(1, 3, SMALL, SMALL)
    for network in NETWORKS:
        model = build_network(network.name)
        assert count_flops(model, SMALL)[''] > 0
        runtimes = tuple(WAYS) if network.name == LOWERED else ('eager', 'onnxruntime', 'openvino')
        candidates = network_candidates(network.name, model, SMALL, str(tmp_path / network.name), 1, 2, runtimes)
        assert [(way.runtime, way.precision) for way in candidates] == [
            (runtime, precision) for runtime in runtimes for precision in WAYS[runtime]]
        for way in candidates:
            assert way.implementation == network.name
            if way.run is None:  # a runtime that cannot run it says why
                assert way.note.startswith(('failed: ', 'not timed: ')), (network.name, way)
                continue
            [logits] = as_tensors(way.run(inputs))
            assert logits.shape == (1, 1000), (network.name, way.runtime, way.precision)


def test_a_network_is_on_the_front_unless_another_is_both_faster_and_more_accurate():
    rows = [row('mobileone_s0', 71.4, 1.0), row('mobileone_s1', 75.9, 2.0), row('mobilenetv2_100', 72.9, 1.5),
            row('efficientnet_b0', 77.7, 1.8), row('fastvit_t8', 76.2, None, note='failed: RuntimeError: x')]
    mark_pareto_fronts(rows)
    assert [r.on_front for r in rows] == [True, False, True, True, False]


def test_verdict_interpolates_mobileone_at_the_others_top1_in_log_latency():
    rows = [row('mobileone_s0', 70.0, 1.0), row('mobileone_s1', 80.0, 4.0), row('mobilenetv2_100', 75.0, 4.0),
            row('repvit_m1_0', 81.0, 1.0)]  # outside MobileOne's range: not compared
    [verdict] = verdicts(rows)
    assert verdict.compared == 1 and verdict.geometric_mean == pytest.approx(0.5)  # exp(mean(log 1, log 4)) = 2
    assert verdict.verdict == 'ahead'
    slower = [dataclasses.replace(r, median_ms=r.median_ms * (8 if r.family == MOBILEONE else 1)) for r in rows]
    assert verdicts(slower)[0].verdict == 'behind'


def test_the_console_tables_fit_a_terminal_and_say_why_a_way_did_not_run():
    rows = [row(network.name, network.published_top1, 1.0 + index, runtime)
            for index, network in enumerate(NETWORKS) for runtime in ('eager', 'onnxruntime')]
    rows.append(row('fastvit_t8', 76.2, None, 'executorch', note='failed: RuntimeError: cannot lower'))
    mark_pareto_fronts(rows)
    table = choice_table(rows, 1, markdown=False)
    assert max(len(line) for line in table.splitlines()) <= CONSOLE_WIDTH
    assert '-[1]' in table and '[1] failed: RuntimeError: cannot lower' in table
    assert max(len(line) for line in verdict_table(verdicts(rows), False).splitlines()) <= CONSOLE_WIDTH


def test_a_way_that_runs_no_network_at_this_batch_is_noted_not_timed():
    pte = Candidate('mobilenetv2_100', 'fused', 'executorch', 'fp32', lambda inputs: inputs, batch=1)
    failing = Candidate('fastvit_t8', 'fused', 'executorch', 'fp32', None, 'failed: RuntimeError: cannot lower')
    candidates, outputs, seconds = time_way({'mobilenetv2_100': pte, 'fastvit_t8': failing}, torch.zeros(8, 3, 4, 4),
                                            torch.device('cpu'), BenchmarkConfig(repeats=1, warmup=0))
    assert outputs == {} and seconds == {}
    assert candidates['mobilenetv2_100'].note == 'not timed: it takes batch 1 only'
    assert candidates['fastvit_t8'].note == 'failed: RuntimeError: cannot lower'


def test_the_onnx_export_leaves_the_model_in_its_own_mode(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).eval()
    export_onnx(model, torch.zeros(1, 3, 8, 8), str(tmp_path))
    assert not any(module.training for module in model.modules())
