"""The benchmark (tools/benchmark.py, mobileone_mm/benchmark/): its quick mode end to end, and its tables."""
import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mobileone_mm.benchmark import BenchmarkConfig, machine
from mobileone_mm.benchmark.backbones import LatencyRow, time_candidates
from mobileone_mm.benchmark.gemm import GemmRow
from mobileone_mm.benchmark.goals import goals
from mobileone_mm.benchmark.machine import cpu_native_bf16
from mobileone_mm.benchmark.ort_sessions import onnx_session
from mobileone_mm.benchmark.report import CONSOLE_WIDTH, format_table, gemm_table, goal_table, latency_table
from mobileone_mm.benchmark.runtimes import Candidate
from mobileone_mm.benchmark.sizes import SizeRow, published_figures
from mobileone_mm.benchmark.tasks import TaskModel, TaskNetwork, benchmark_tasks, task_models
from mobileone_mm.deploy.task_models import build_model, flatten_tensors, load_model_config
from mobileone_mm.models import reparameterize_model
from mobileone_mm.testing.weights import randomize_batch_norm_
from mobileone_mm.utils.timing import paired_ratio, time_interleaved

ROOT = Path(__file__).resolve().parents[2]
IMPLEMENTATIONS = ('mobileone_mm', 'mmpretrain', 'timm')

# One worker builds this module's fixture once (pytest-xdist's loadgroup).
pytestmark = pytest.mark.xdist_group('benchmark')


def read_csv(path: Path) -> list[dict]:
    with open(path, newline='') as file:
        return list(csv.DictReader(file))


def columns(row_type: type) -> list[str]:
    return [f.name for f in dataclasses.fields(row_type)]


@pytest.fixture(scope='session')  # a module fixture is rebuilt when xdist interleaves other modules
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp('benchmark')
    command = [sys.executable, 'tools/benchmark.py', '--quick', '--repeats', '2', '--device', 'cpu',
               '--out-dir', str(out_dir)]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert 'Compute ceiling: an fp32 GEMM timed alone' in completed.stdout
    (out_dir / 'console.txt').write_text(completed.stdout)
    return out_dir


@pytest.mark.slow  # the whole benchmark, in its own process
def test_quick_run_writes_every_output(quick_run: Path) -> None:
    for name in ('latency.csv', 'sizes.csv', 'gemm.csv', 'benchmark.json', 'latency_cpu_b1.png'):
        assert (quick_run / name).stat().st_size > 0, name
    assert (quick_run / 'latency_cpu_b1.png').read_bytes().startswith(b'\x89PNG')
    assert not (quick_run / 'tasks.csv').exists()  # only with --tasks
    assert not (quick_run / 'goals.csv').exists()  # the goals are at batch 8; --quick measures batch 1


FUSED_WAYS = {('eager', 'fp32'), ('torch.compile', 'fp32'), ('eager', 'bf16'), ('onnxruntime', 'fp32'),
              ('onnxruntime', 'int8'), ('openvino', 'fp32'), ('openvino', 'bf16'), ('openvino', 'int8'),
              ('executorch', 'fp32'), ('executorch', 'int8')}


@pytest.mark.slow  # the whole benchmark, in its own process
def test_quick_run_latency_rows(quick_run: Path) -> None:
    rows = read_csv(quick_run / 'latency.csv')
    assert list(rows[0]) == columns(LatencyRow)
    measured = {(row['implementation'], row['form'], row['runtime'], row['precision']) for row in rows}
    expected = {(name, form, 'eager', 'fp32') for name in IMPLEMENTATIONS for form in ('train', 'fused', 'train step')}
    expected |= {('mobileone_mm', 'fused', *way) for way in FUSED_WAYS}
    assert measured == expected | {('mobileone_mm, branches', 'train step', 'eager', 'fp32')}
    quick = BenchmarkConfig.quick()
    for row in rows:
        assert (row['device'], row['arch']) == ('cpu', 's0')
        train_step = row['form'] == 'train step'
        assert int(row['batch']) == (quick.train_batch_size if train_step else 1)
        if row['median_ms'] == '':  # not available here: the note says why
            assert row['note'].startswith('not timed') and row['precision'] == 'bf16', row
            continue
        assert int(row['repeats']) == (quick.slow_repeats if train_step else 2)
        assert 0 < float(row['min_ms']) <= float(row['median_ms']) <= float(row['max_ms'])
        assert (row['ceiling_pct'] == '') == train_step
        assert row['vs_mmpretrain'] != ''
        if row['implementation'] == 'mmpretrain':
            assert float(row['vs_mmpretrain']) == 1.0
    params = {(row['implementation'], row['form']): int(row['params']) for row in rows}
    # The same network in every implementation: 4.27 M parameters trained, 1.05 M fused.
    assert len({params[name, 'train'] for name in IMPLEMENTATIONS}) == 1
    assert len({params[name, 'fused'] for name in IMPLEMENTATIONS}) == 1
    assert params['mobileone_mm', 'fused'] < params['mobileone_mm', 'train']


@pytest.mark.slow  # the whole benchmark, in its own process
def test_quick_run_checks_every_inference_way_against_the_training_form(quick_run: Path) -> None:
    rows = read_csv(quick_run / 'latency.csv')
    for row in rows:
        way = (row['runtime'], row['precision'])
        if row['form'] != 'fused' or row['median_ms'] == '':
            assert row['max_rel_error'] == row['cosine'] == '', row
        elif row['precision'] == 'fp32':  # re-parameterization, compilation, export: float rounding only
            assert float(row['max_rel_error']) < 1e-4 and float(row['cosine']) > 0.999999, row
        else:  # INT8 on random weights (bf16 where the CPU has it): close, not equal
            assert 1e-4 < float(row['max_rel_error']) < 0.5 and 0.99 < float(row['cosine']) < 1, row
        if way == ('eager', 'bf16') and row['median_ms'] != '':
            assert cpu_native_bf16() is not None
    bf16 = next(row for row in rows if row['precision'] == 'bf16')
    assert (bf16['median_ms'] == '') == (cpu_native_bf16() is None)


@pytest.mark.slow  # the whole benchmark, in its own process
def test_quick_run_sizes_match_mmpretrain(quick_run: Path) -> None:
    (row, ) = read_csv(quick_run / 'sizes.csv')
    assert list(row) == columns(SizeRow)
    assert int(row['classifier_params_fused']) == int(row['published_params'])
    assert int(row['features_macs']) == int(row['published_macs'])
    assert int(row['backbone_macs']) < int(row['features_macs']) < int(row['classifier_macs'])


@pytest.mark.slow  # the whole benchmark, in its own process
def test_quick_run_json(quick_run: Path) -> None:
    result = json.loads((quick_run / 'benchmark.json').read_text())
    assert set(result) == {'environment', 'config', 'gemm', 'sizes', 'latency', 'tasks', 'goals', 'choice', 'verdicts'}
    assert result['choice'] == result['verdicts'] == []  # only with --choice
    assert result['environment']['threads'] >= 1
    assert [gemm['when'] for gemm in result['gemm']] == ['start', 'end']  # timed alone, before and after the models
    for gemm in result['gemm']:
        assert list(gemm) == columns(GemmRow) and gemm['gflops_per_s'] > 0
    latency = result['latency']
    assert len(latency) == len(read_csv(quick_run / 'latency.csv'))
    for row in latency:
        assert {'implementation', 'form', 'precision', 'arch', 'batch', 'median_ms'} <= set(row)
    ceiling = max(gemm['gflops_per_s'] for gemm in result['gemm'])
    for row in latency:
        if row['gflops_per_s'] is not None:
            assert row['ceiling_pct'] == pytest.approx(100 * row['gflops_per_s'] / ceiling)


def latency(arch: str, runtime: str, precision: str, median_ms: float, ceiling_pct: float = 50.0,
            batch: int = 8) -> LatencyRow:
    return LatencyRow('cpu', 2, arch, batch, 'mobileone_mm', 'fused', runtime, precision, 1, median_ms, median_ms,
                      median_ms, median_ms, median_ms, 3, 1.0, 1.0, ceiling_pct, 1.0, 0.0, 0.999, '', 71.0)


def test_goals_take_the_fastest_way_of_each_precision() -> None:
    rows = [latency('s4', 'eager', 'fp32', 30.0, 60.0), latency('s4', 'onnxruntime', 'fp32', 20.0, 90.0),
            latency('s4', 'onnxruntime', 'int8', 10.0), latency('s4', 'eager', 'bf16', 12.0),
            latency('s0', 'onnxruntime', 'fp32', 5.0), latency('s0', 'onnxruntime', 'int8', 4.0),
            latency('s0', 'eager', 'bf16', None), latency('s4', 'onnxruntime', 'int8', 1.0, batch=1)]
    (fp32, s0, s4) = sorted(goals(rows), key=lambda goal: (-goal.target, goal.arch))
    assert (fp32.arch, fp32.best, fp32.measured, fp32.met) == ('s4', 'onnxruntime fp32', 90.0, True)
    assert (s0.best, s0.measured, s0.met) == ('onnxruntime int8', 1.25, False)
    assert (s4.best, s4.measured, s4.met) == ('onnxruntime int8', 2.0, False)
    assert goals([row for row in rows if row.batch == 1]) == []


@pytest.mark.slow  # the quick run's console
def test_the_console_report_fits_a_terminal(quick_run: Path) -> None:
    lines = (quick_run / 'console.txt').read_text().splitlines()
    assert max(map(len, lines)) <= CONSOLE_WIDTH
    assert any(line.startswith('[1] ') for line in lines)  # the rows' notes, as footnotes


def test_tables_fit_the_console_with_long_notes_as_footnotes_and_markdown_keeps_every_field() -> None:
    note = 'not timed: no bf16 in hardware (cpuinfo lacks amx_bf16 and avx512_bf16; oneDNN would emulate it) ' * 2
    rows = [dataclasses.replace(latency('s4', way, precision, 1234.5678), implementation='mobileone_mm, branches',
                                form='train step', note=note if precision == 'bf16' else '')
            for way, precision in (('torch.compile', 'fp32'), ('onnxruntime', 'int8'), ('eager', 'bf16'))]
    gemm = [GemmRow('cpu', 2, when, 2048, 77.7, 221.0, 358.4, 'x' * 150, False) for when in ('start', 'end')]
    for table in (latency_table(rows, False), goal_table(goals(rows), False), gemm_table(gemm, False)):
        assert max(map(len, table.splitlines())) <= CONSOLE_WIDTH, table
    assert latency_table(rows, False).count('[1]') == 2  # the row's mark and its footnote
    assert note in latency_table(rows, True) and 'x' * 150 in gemm_table(gemm, True)


def test_fp32_peak_is_cores_fma_units_lanes_and_clock_and_a_bound_only_at_the_maximum_clock(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cpuinfo = {'model name': 'Some CPU @ 3.00GHz', 'flags': 'fma avx2', 'cpu MHz': '2600.000'}
    monkeypatch.setattr(machine, 'cpuinfo_field', cpuinfo.get)
    monkeypatch.setattr(machine, 'MAX_CLOCK_FILE', str(tmp_path / 'no_cpufreq'))
    assert machine.cpu_fp32_peak(4) == (4 * 2 * 8 * 2 * 3.0, '4 cores x 2 FMA units x 8 fp32 lanes (avx2) x 2 x '
                                        '3.00 GHz (nominal clock): not an upper bound, turbo runs faster', False)
    (tmp_path / 'cpuinfo_max_freq').write_text('3500000\n')  # kHz
    monkeypatch.setattr(machine, 'MAX_CLOCK_FILE', str(tmp_path / 'cpuinfo_max_freq'))
    cpuinfo['flags'] += ' avx512f'
    peak = machine.cpu_fp32_peak(1)
    assert (peak.gflops_per_s, peak.is_upper_bound) == (1 * 2 * 16 * 2 * 3.5, True)
    assert peak.formula.endswith('3.50 GHz (cpufreq maximum clock)')
    assert machine.cpu_native_bf16() is None
    cpuinfo['flags'] += ' amx_bf16'
    assert machine.cpu_native_bf16() == 'amx_bf16'
    monkeypatch.setattr(machine, 'MAX_CLOCK_FILE', str(tmp_path / 'no_cpufreq'))
    del cpuinfo['model name']
    assert 'x 2.60 GHz (cpuinfo\'s current clock): not an upper bound' in machine.cpu_fp32_peak(1).formula
    del cpuinfo['cpu MHz']
    assert machine.cpu_fp32_peak(1).gflops_per_s is None


def test_a_way_that_fails_becomes_a_row_that_says_so() -> None:
    def broken(inputs: torch.Tensor) -> None:
        raise RuntimeError('no C++ compiler\nmore lines')

    size = SizeRow('s0', 1, 1, 1, 1, 1, 1, 1, 71.0)
    candidates = {'mmpretrain': Candidate('mmpretrain', 'fused', 'eager', 'fp32', lambda inputs: inputs * 2),
                  'broken': Candidate('mobileone_mm', 'fused', 'torch.compile', 'fp32', broken)}
    rows = time_candidates(torch.device('cpu'), 's0', 1, candidates, {'mmpretrain': 1, 'broken': 1},
                           torch.ones(1, 3), {'mmpretrain': torch.ones(1, 3) * 2}, size, BenchmarkConfig.quick())
    assert rows[0].median_ms > 0 and rows[0].max_rel_error == 0 and rows[0].cosine == pytest.approx(1)
    assert rows[1].median_ms is None and rows[1].note == 'failed: RuntimeError: no C++ compiler'


def test_a_way_of_another_static_batch_becomes_a_row_that_says_so() -> None:
    calls = []
    size = SizeRow('s0', 1, 1, 1, 1, 1, 1, 1, 71.0)
    candidates = {'mmpretrain': Candidate('mmpretrain', 'fused', 'eager', 'fp32', lambda inputs: inputs * 2),
                  'pte': Candidate('mobileone_mm', 'fused', 'executorch', 'fp32', calls.append, batch=1)}
    rows = time_candidates(torch.device('cpu'), 's0', 2, candidates, {'mmpretrain': 1, 'pte': 1},
                           torch.ones(2, 3), {'mmpretrain': torch.ones(2, 3) * 2}, size, BenchmarkConfig.quick())
    assert rows[1].median_ms is None and rows[1].note == 'not timed: it takes batch 1 only' and not calls


def test_published_figures_are_mmpretrains_metafile() -> None:
    published = published_figures()
    assert sorted(published) == ['s0', 's1', 's2', 's3', 's4']
    assert (published['s0'].flops, published['s0'].params, published['s0'].top1) == (274_136_576, 2_078_504, 71.34)
    assert [published[arch].top1 for arch in sorted(published)] == [71.34, 75.72, 77.37, 78.06, 79.69]


def test_paired_ratio_outvotes_a_slow_spell() -> None:
    # A spell slows ours in rounds 2-3 and the reference in round 3 only: two rounds of three say 0.5, while the
    # ratio of the medians says 1.5.
    ours, reference = [1.0, 3.0, 3.0], [2.0, 2.0, 6.0]
    assert paired_ratio(ours, reference) == pytest.approx(0.5)
    assert sorted(ours)[1] / sorted(reference)[1] == pytest.approx(1.5)


def test_interleaved_rounds_rotate_the_order() -> None:
    calls = []
    functions = {name: (lambda name=name: calls.append(name)) for name in 'abc'}
    seconds = time_interleaved(functions, torch.device('cpu'), warmup=1, repeats=3)
    assert calls == list('abc') + list('abcbcacab')
    assert all(len(times) == 3 and min(times) >= 0 for times in seconds.values())


def test_interleaved_rounds_settle_each_function_before_timing_it() -> None:
    calls = []
    functions = {name: (lambda name=name: calls.append(name)) for name in 'ab'}
    time_interleaved(functions, torch.device('cpu'), warmup=0, repeats=2, settle=1)
    assert calls == list('aabbbbaa')


def test_format_table() -> None:
    assert format_table(['arch', 'ms'], [['s0', '1.5'], ['s10', '12.25']]).splitlines() == [
        'arch     ms', '-----------', 's0      1.5', 's10   12.25']
    assert format_table(['arch', 'ms'], [['s0', '1.5']], markdown=True).splitlines() == [
        '| arch | ms |', '| --- | --- |', '| s0 | 1.5 |']


def small_task(backbone: str, input_hw: tuple[int, int] = (96, 128)) -> TaskModel:
    """The RetinaNet with ``backbone`` among the task models, at a small input size."""
    (task, ) = [task for task in task_models(['s0'], str(ROOT / 'configs'))
                if (task.task, task.backbone) == ('RetinaNet', backbone)]
    return task._replace(input_hw=input_hw)


def test_task_rows_time_every_form_and_onnxruntime() -> None:
    rows = benchmark_tasks(torch.device('cpu'), [small_task('MobileOne-s0'), small_task('ResNet-18')], repeats=1)
    forms = [(row.backbone, row.form) for row in rows]
    assert forms == [('MobileOne-s0', 'train'), ('MobileOne-s0', 'fused'), ('MobileOne-s0', 'onnxruntime'),
                     ('ResNet-18', 'eval'), ('ResNet-18', 'onnxruntime')]
    params = {form: row.params for form, row in zip(forms, rows)}
    assert params['MobileOne-s0', 'onnxruntime'] == params['MobileOne-s0', 'fused']
    assert params['MobileOne-s0', 'fused'] < params['MobileOne-s0', 'train']
    assert all(row.input_hw == '96x128' and row.median_ms > 0 for row in rows)


def test_onnxruntime_task_model_computes_what_pytorch_does(tmp_path: Path) -> None:
    task = small_task('MobileOne-s0')
    model = reparameterize_model(build_model(load_model_config(task.config)))
    randomize_batch_norm_(model)
    inputs = torch.randn(1, 3, *task.input_hw)
    session = onnx_session(TaskNetwork(model), inputs, str(tmp_path), threads=1)
    with torch.inference_mode():
        expected = flatten_tensors(model(inputs, mode='tensor'))
    outputs = session.run(None, {'input': inputs.numpy()})
    assert len(outputs) == len(expected) == 10  # RetinaNet: scores and boxes of 5 levels
    for output, reference in zip(outputs, expected):
        torch.testing.assert_close(torch.from_numpy(output), reference, rtol=1e-4, atol=1e-4 * reference.abs().max())
