"""The tables, CSV and JSON files and plots of a benchmark run (:func:`mobileone_mm.benchmark.run_benchmark`)."""
import csv
import dataclasses
import json
import os
import os.path as osp
import textwrap
from typing import Dict, List, Optional, Sequence, Tuple, Union

from .backbones import LatencyRow
from .choice import WAYS, ChoiceRow, Verdict, choice_plots
from .gemm import GemmRow
from .goals import GoalRow
from .run import BenchmarkResult
from .sizes import SizeRow
from .tasks import TaskRow

CONSOLE_WIDTH = 120  # what a terminal shows; the full rows are in the CSV and JSON files


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
    """Aligned plain text (first column left, the rest right), or a markdown table."""
    if markdown:
        lines = [header, ['---'] * len(header), *rows]
        return '\n'.join('| ' + ' | '.join(line) + ' |' for line in lines)
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]

    def align(line: Sequence[str]) -> str:
        return '  '.join(cell.ljust(width) if i == 0 else cell.rjust(width)
                         for i, (cell, width) in enumerate(zip(line, widths))).rstrip()

    return '\n'.join([align(header), '-' * len(align(header)), *map(align, rows)])


def optional(value: Optional[float], spec: str) -> str:
    return '' if value is None else format(value, spec)


def spread(row: Union[LatencyRow, TaskRow]) -> Tuple[str, str]:
    return f'{row.p25_ms:.2f}..{row.p75_ms:.2f}', f'{row.min_ms:.2f}..{row.max_ms:.2f}'


def relative_difference(counted: int, published: int) -> str:
    return f'{100 * (counted / published - 1):+.2f}%'


def latency_table(rows: Sequence[LatencyRow], markdown: bool) -> str:
    """Every field as a markdown table; on the console the columns that fit, each row's note as a numbered footnote.

    On the console: median in ms, "vs mmpre" the ratio to mmpretrain, "% ceil" of the GEMM ceiling, "rel err" the
    maximum relative error.
    """
    if markdown:
        header = ['arch', 'batch', 'implementation', 'form', 'runtime', 'precision', 'params (M)', 'median ms',
                  'p25..p75 ms', 'min..max ms', 'vs mmpretrain', 'img/s', 'GFLOP/s', '% ceiling', 'max rel err',
                  'cosine', 'note']
    else:
        header = ['arch', 'batch', 'implementation', 'form', 'runtime', 'prec', 'median', 'vs mmpre', '% ceil',
                  'rel err', 'cosine', 'note']
    notes: Dict[str, int] = {}
    cells = []
    for row in rows:
        timing = [f'{row.median_ms:.2f}', *spread(row)] if row.median_ms is not None else ['', '', '']
        errors = [optional(row.max_rel_error, '.1e'), optional(row.cosine, '.6f')]
        if markdown:
            cells.append([row.arch, str(row.batch), row.implementation, row.form, row.runtime, row.precision,
                          f'{row.params / 1e6:.2f}', *timing, optional(row.vs_mmpretrain, '.2f'),
                          optional(row.images_per_s, '.1f'), optional(row.gflops_per_s, '.1f'),
                          optional(row.ceiling_pct, '.1f'), *errors, row.note])
        else:
            note = f'[{notes.setdefault(row.note, len(notes) + 1)}]' if row.note else ''
            cells.append([row.arch, str(row.batch), row.implementation, row.form, row.runtime, row.precision,
                          timing[0], optional(row.vs_mmpretrain, '.2f'), optional(row.ceiling_pct, '.1f'),
                          *errors, note])
    footnotes = [wrap(f'[{number}] {note}', '    ') for note, number in notes.items()]
    return '\n'.join([format_table(header, cells, markdown), *footnotes])


def gemm_table(rows: Sequence[GemmRow], markdown: bool) -> str:
    """The ceilings beside the fp32 peak; on the console its formula follows the table."""
    header = ['device', 'threads', 'timed alone', 'GEMM', 'median ms', 'GFLOP/s', 'fp32 peak GFLOP/s', '% of peak']
    cells = [[row.device, str(row.threads), row.when, f'{row.size}^3 fp32', f'{row.median_ms:.1f}',
              f'{row.gflops_per_s:.1f}', optional(row.peak_gflops_per_s, '.1f'),
              '' if row.peak_gflops_per_s is None else f'{100 * row.gflops_per_s / row.peak_gflops_per_s:.1f}']
             for row in rows]
    if markdown:
        return format_table([*header, 'peak'], [[*line, row.peak_formula] for line, row in zip(cells, rows)], True)
    formulas = dict.fromkeys(f'{row.device} peak: {row.peak_formula}' for row in rows)
    return '\n'.join([format_table(header, cells), *(wrap(formula, '    ') for formula in formulas)])


def goal_table(rows: Sequence[GoalRow], markdown: bool) -> str:
    header = ['device', 'goal', 'arch', 'batch', 'best way', 'measured', 'target', 'met', 'cosine']
    cells = [[row.device, row.goal, row.arch, str(row.batch), row.best, f'{row.measured:.2f}', f'{row.target:.2f}',
              'yes' if row.met else 'NO', optional(row.cosine, '.6f')] for row in rows]
    return format_table(header, cells, markdown)


def size_table(rows: Sequence[SizeRow], markdown: bool) -> str:
    header = ['arch', 'params (M)', 'fused (M)', 'published (M)', 'diff', 'MACs (G)', '+GAP (G)', 'published (G)',
              'diff', '+head (G)', 'top-1 (%)']
    cells = [[row.arch, f'{row.classifier_params_train / 1e6:.2f}', f'{row.classifier_params_fused / 1e6:.3f}',
              f'{row.published_params / 1e6:.3f}', relative_difference(row.classifier_params_fused,
                                                                       row.published_params),
              f'{row.backbone_macs / 1e9:.4f}', f'{row.features_macs / 1e9:.4f}', f'{row.published_macs / 1e9:.4f}',
              relative_difference(row.features_macs, row.published_macs), f'{row.classifier_macs / 1e9:.4f}',
              f'{row.published_top1:.2f}'] for row in rows]
    return format_table(header, cells, markdown)


def task_table(rows: Sequence[TaskRow], markdown: bool) -> str:
    header = ['task', 'backbone', 'form', 'input', 'params (M)', 'median ms', 'p25..p75 ms', 'min..max ms']
    cells = [[row.task, row.backbone, row.form, row.input_hw, f'{row.params / 1e6:.2f}', f'{row.median_ms:.1f}',
              *spread(row)] for row in rows]
    return format_table(header, cells, markdown)


# Console column of each way of the backbone choice.
WAY_COLUMNS = {('eager', 'fp32'): 'eager', ('onnxruntime', 'fp32'): 'ORT', ('onnxruntime', 'int8'): 'ORT i8',
               ('openvino', 'fp32'): 'OV', ('openvino', 'bf16'): 'OV bf16', ('openvino', 'int8'): 'OV i8',
               ('executorch', 'fp32'): 'ET', ('executorch', 'int8'): 'ET i8'}
assert set(WAY_COLUMNS) == {(runtime, precision) for runtime, precisions in WAYS.items() for precision in precisions}


def choice_table(rows: Sequence[ChoiceRow], batch: int, markdown: bool) -> str:
    """One line per network: published top-1, size, and its median ms each way (``*``: on that way's Pareto front).

    A way that did not run a network shows ``-``, its reason a numbered footnote.
    """
    by_network: Dict[str, Dict[Tuple[str, str], ChoiceRow]] = {}
    for row in rows:
        if row.batch == batch:
            by_network.setdefault(row.network, {})[row.runtime, row.precision] = row
    notes: Dict[str, int] = {}
    cells = []
    for network, ways in by_network.items():
        first = next(iter(ways.values()))
        times = []
        for way in WAY_COLUMNS:
            row = ways.get(way)
            if row is None or row.median_ms is None:
                times.append('-' if row is None else f'-[{notes.setdefault(row.note, len(notes) + 1)}]')
            else:
                times.append(f'{row.median_ms:.2f}' + ('*' if row.on_front else ''))
        cells.append([network, f'{first.published_top1:.1f}', f'{first.params / 1e6:.2f}', f'{first.macs / 1e9:.2f}',
                      *times])
    header = ['network', 'top-1', 'params M', 'GMACs', *WAY_COLUMNS.values()]
    footnotes = [wrap(f'[{number}] {note}', '    ') for note, number in notes.items()]
    return '\n'.join([format_table(header, cells, markdown), *footnotes])


def verdict_table(rows: Sequence[Verdict], markdown: bool) -> str:
    header = ['runtime', 'prec', 'batch', 'networks', 'MobileOne / them', 'range', 'verdict']
    cells = [[row.runtime, row.precision, str(row.batch), str(row.compared), optional(row.geometric_mean, '.2f'),
              '' if row.fastest_ratio is None else f'{row.fastest_ratio:.2f}..{row.slowest_ratio:.2f}', row.verdict]
             for row in rows]
    return format_table(header, cells, markdown)


def wrap(text: str, indent: str = '') -> str:
    """``text`` in lines of at most :data:`CONSOLE_WIDTH` characters, the later ones indented."""
    blank_lines = text[:len(text) - len(text.lstrip('\n'))]  # a title's leading blank line stays
    return blank_lines + textwrap.fill(text.lstrip('\n'), CONSOLE_WIDTH, subsequent_indent=indent,
                                       break_on_hyphens=False)


def format_report(result: BenchmarkResult, markdown: bool = False) -> str:
    """The tables of a run, with titles that say what was measured and on what.

    The console form (``markdown=False``) keeps every line within
    :data:`CONSOLE_WIDTH` columns; the markdown form has every field.
    """
    env = result.environment
    sections = [f'torch {env["torch"]}, {env["processor"]}, CPU threads (torch.get_num_threads()): '
                f'{env["threads"]}; fp32, denormals flushed',
                '\nImageNet classifier (backbone + GAP + linear 1000), counted here vs mmpretrain\'s metafile: '
                'parameters of the training and fused forms, MACs per 224x224 image of the fused form '
                '(mmpretrain publishes backbone + GAP, without the head)',
                size_table(result.sizes, markdown)]
    sections += ['\nCompute ceiling: an fp32 GEMM timed alone (nothing else running, no ONNX Runtime session), '
                 'before and after each device\'s models; the faster is the ceiling. fp32 peak: see its formula',
                 gemm_table(result.gemm, markdown)]
    for device in dict.fromkeys(row.device for row in result.gemm):
        rows = [row for row in result.latency if row.device == device]
        ceiling = max(row.gflops_per_s for row in result.gemm if row.device == device)
        sections += [f'\nLatency on {device} (threads: {rows[0].threads}): backbone only (MobileOne stem + 4 stages, '
                     f'no head), 224x224, eval + inference_mode; "train step" = fwd+bwd in train mode; median in ms. '
                     f'GFLOP/s from fused MACs; "% ceil(ing)" of the GEMM alone ({ceiling:.1f} GFLOP/s); '
                     f'"vs mmpre(train)": median of the ratios to mmpretrain (eager fp32, same form) timed in the same '
                     f'rounds; "(max) rel err" and cosine: outputs against the same implementation\'s training form '
                     f'in fp32 eager, same inputs; every field of every row is in latency.csv',
                     latency_table(rows, markdown)]
    if result.goals:
        sections += ['\nGoals of the fused backbone (batch 8): ratios of this run\'s medians; the metric of bf16 and '
                     'INT8 on the demo checkpoints: tools/deploy.py with a *-int8_* or *-bf16_* deploy config',
                     goal_table(result.goals, markdown)]
    if result.tasks:
        sections += ['\nTask models, batch 1, network forward (mode="tensor", no post-processing)',
                     task_table(result.tasks, markdown)]
    for batch in sorted({row.batch for row in result.choice}):
        sections += [wrap(f'\nBackbone choice, batch {batch}: whole ImageNet classifiers, 224x224, CPU, median ms '
                          'in interleaved rounds per way ("*": on that way\'s Pareto front of latency and top-1; ORT: '
                          'ONNX Runtime, OV: OpenVINO, ET: ExecuTorch XNNPACK, i8: INT8); MobileOne fused, timm\'s '
                          're-parameterized where timm offers it; published top-1: MobileOne from the paper, the '
                          'others from timm\'s results table (sources in choice.csv)'),
                     choice_table(result.choice, batch, markdown)]
    if result.verdicts:
        sections += [wrap('\nWhere MobileOne stands, per way: the geometric mean over the other networks within its '
                          'top-1 range of MobileOne\'s latency at their top-1 (interpolated between its archs) over '
                          'theirs; below 1 MobileOne is faster at equal accuracy (ahead below 0.9, behind above 1.1)'),
                     verdict_table(result.verdicts, markdown)]
    if markdown:
        return '\n'.join(sections)
    return '\n'.join(section if '\n' in section.strip('\n') else wrap(section) for section in sections)


def write_csv(path: str, rows: Sequence[object]) -> None:
    with open(path, 'w', newline='') as file:
        writer = csv.DictWriter(file, fieldnames=[f.name for f in dataclasses.fields(rows[0])])
        writer.writeheader()
        writer.writerows(dataclasses.asdict(row) for row in rows)


def plot_latency(result: BenchmarkResult, device: str, batch: int, path: str) -> None:
    """Latency against ImageNet top-1 and against parameters, one line per implementation, form and runtime.

    As in the MobileOne paper's accuracy-latency figure; the top-1 is
    mmpretrain's published one for every implementation (the same network),
    so only the fp32 ways are put against it.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    rows = [row for row in result.latency if row.device == device and row.batch == batch
            and row.form != 'train step' and row.median_ms is not None]
    lines: Dict[str, List[LatencyRow]] = {}
    for row in rows:
        name = f'{row.implementation} {row.form}' if row.runtime == 'eager' and row.precision == 'fp32' else \
            f'{row.implementation} {row.form}, {row.runtime} {row.precision}'
        lines.setdefault(name, []).append(row)
    figure, (top1_axes, params_axes) = plt.subplots(1, 2, figsize=(13, 5))
    for name, line in lines.items():
        line.sort(key=lambda row: row.arch)
        latency = [row.median_ms for row in line]
        params_axes.plot([row.params / 1e6 for row in line], latency, marker='o', label=name)
        if line[0].precision != 'fp32':
            continue  # mmpretrain's top-1 is that of fp32: a reduced precision's is not measured here
        top1_axes.plot(latency, [row.published_top1 for row in line], marker='o', label=name)
        for row in line:
            top1_axes.annotate(row.arch, (row.median_ms, row.published_top1), textcoords='offset points',
                               xytext=(3, 3), fontsize=7)
    threads = f', threads: {rows[0].threads}' if device == 'cpu' else ''
    top1_axes.set(xlabel='latency (ms)', ylabel='ImageNet top-1 (%, mmpretrain)', xscale='log')
    params_axes.set(xlabel='parameters (M, of the measured form)', ylabel='latency (ms)', yscale='log')
    for axes in (top1_axes, params_axes):
        axes.grid(True, which='both', alpha=0.3)
    params_axes.legend(fontsize=8)
    figure.suptitle(f'MobileOne backbone, 224x224, batch {batch}, {device}{threads}')
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_results(result: BenchmarkResult, out_dir: str) -> List[str]:
    """Writes the CSVs, ``benchmark.json`` and one PNG per device and batch size; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    tables = dict(gemm=result.gemm, sizes=result.sizes, latency=result.latency, tasks=result.tasks, goals=result.goals,
                  choice=result.choice, verdicts=result.verdicts)
    paths = []
    for name, rows in tables.items():
        if rows:
            paths.append(osp.join(out_dir, f'{name}.csv'))
            write_csv(paths[-1], rows)
    paths.append(osp.join(out_dir, 'benchmark.json'))
    with open(paths[-1], 'w') as file:
        json.dump(dataclasses.asdict(result), file, indent=2)
    for device, batch in sorted({(row.device, row.batch) for row in result.latency if row.form != 'train step'}):
        paths.append(osp.join(out_dir, f'latency_{device}_b{batch}.png'))
        plot_latency(result, device, batch, paths[-1])
    return paths + choice_plots(result.choice, out_dir)
