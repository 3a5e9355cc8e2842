"""Time breakdowns of models side by side (``tools/inference_breakdown.py``,
``tools/train_step_breakdown.py``): their ``--model`` option, the stage timers, the table."""
from __future__ import annotations

import argparse
import functools
import operator
import os
from collections.abc import Callable, Sequence

from torch import nn

from .cost import clock


def parse_model_specs(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                      fields: Sequence[str]) -> argparse.Namespace:
    """Add ``--model`` to ``parser`` (repeatable: ``fields``, e.g. ``NAME CONFIG``, then
    config options ``KEY VALUE ...``), parse ``argv``, and refuse a spec of the wrong length."""
    usage = " ".join(fields) + " [KEY VALUE ...]"
    parser.add_argument("--model", nargs="+", action="append", required=True, metavar=usage,
                        help="a model (repeat for several)")
    a = parser.parse_args(argv)
    for spec in a.model:
        if len(spec) < len(fields) or (len(spec) - len(fields)) % 2:
            parser.error(f"--model {' '.join(spec)}: give {usage}")
    return a


def time_stages(model: nn.Module, seconds: dict[str, float],
                stages: Sequence[tuple[str, str, str]]) -> None:
    """Wrap each ``(stage, path, attribute)`` of ``stages`` whose object ``model`` has
    (``path``: dotted attribute names from ``model``, ``""`` for ``model`` itself) so that its
    calls add their wall time, CUDA synchronised, to ``seconds[stage]``."""
    cuda = next(model.parameters()).device.type == "cuda"
    for stage, path, attr in stages:
        try:
            owner = operator.attrgetter(path)(model) if path else model
        except AttributeError:
            owner = None
        if owner is None or not hasattr(owner, attr):
            continue
        inner: Callable = getattr(owner, attr)

        @functools.wraps(inner)
        def timed(*args, _inner=inner, _stage=stage, **kwargs):
            start = clock(cuda)
            try:
                return _inner(*args, **kwargs)
            finally:
                seconds[_stage] += clock(cuda) - start

        setattr(owner, attr, timed)


def stage_table(results: dict[str, dict[str, float]], stages: Sequence[str], corner: str,
                digits: int) -> list[str]:
    """Markdown lines: a column per model of ``results``, a row per stage of ``stages`` ("–"
    where a model has none), then a bold ``total`` row; ``corner`` heads the first column."""
    names = list(results)
    lines = [f"| {corner} | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for stage in [*stages, "total"]:
        cells = [f"{results[n][stage]:.{digits}f}" if stage in results[n] else "–"
                 for n in names]
        label = f"**{stage}**" if stage == "total" else stage
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def report(heading: str, device: str, table: str) -> str:
    """Print and return ``heading``, the device it ran on (``MODEL.DEVICE``) and ``table``."""
    where = device if device != "cpu" else f"CPU ({os.cpu_count()} cores)"
    text = f"{heading}, {where}\n\n{table}"
    print(text)
    return text
