"""Cost metrics of a model on real inputs: FLOPs per image, images per second, chosen scales.

* FLOPs: fvcore's count through detectron2's ``FlopCountAnalysis`` (the model traced on each
  input, batch size 1), averaged over a sample of images. fvcore counts one fused
  multiply-add as one flop, the convention of the FLOPs reported for detectors (and in the
  paper's tables). Operators fvcore cannot count (e.g. ``grid_sample``, NMS) are left out.
* Speed: wall time of ``model(inputs)`` per image (batch size 1, ``torch.no_grad``, CUDA
  synchronised), after warm-up images that are not timed; ``fps`` = 1 / the median time
  (:func:`measure_speed`), or 1 / the mean over every image (:func:`time_every_image`, for
  models whose cost varies per image).
* Scales: models that pick their input resolution put it in ``outputs[i]["scale"]``; the
  histogram counts the images per scale.
"""
from __future__ import annotations

import contextlib
import logging
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
from detectron2.utils.analysis import FlopCountAnalysis
from torch import nn

from ..modeling.dld import DLDSpotter
from ..modeling.modes import eval_mode
from ..modeling.selector import FixedResolution

__all__ = ["count_flops", "evaluate_cost", "measure_scale_flops", "measure_selector_flops",
           "measure_speed", "module_flops", "scale_histogram", "time_every_image"]

logger = logging.getLogger(__name__)


def count_flops(model: nn.Module, inputs: Sequence[dict]) -> list[float]:
    """FLOPs of ``model`` on each input (one image per call, as the model's ``inputs[i]``)."""
    with torch.no_grad(), eval_mode(model):
        return [module_flops(model, ([inp],)) for inp in inputs]


def module_flops(module: nn.Module, args: tuple) -> float:
    """fvcore's FLOPs of one call ``module(*args)``, without its warnings about operators
    and modules it does not count."""
    analysis = FlopCountAnalysis(module, args)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return float(analysis.total())


@torch.no_grad()
def measure_selector_flops(model: DLDSpotter, inputs: Sequence[dict]) -> float:
    """Average forward FLOPs of ``model``'s selector on the thumbnails of ``inputs`` (its
    cost on top of the spotter's at the chosen scale; 0 without a selector)."""
    if isinstance(model.selector, FixedResolution) or not inputs:
        return 0.0
    flops = []
    with eval_mode(model):
        for inp in inputs:
            images = model.preprocess_image([inp])
            thumbnails = model.selector.thumbnails(images.tensor, images.image_sizes)
            flops.append(module_flops(model.selector, (thumbnails,)))
    return sum(flops) / len(flops)


def measure_scale_flops(model: DLDSpotter, inputs: Sequence[dict]) -> list[float]:
    """Average forward FLOPs of ``model`` at each of its candidate scales over the test-mode
    ``inputs``, without the selector; made non-increasing as the scale falls (a smaller scale
    that found more boxes never costs more than a larger one)."""
    flops = []
    for scale in model.scales:
        with model.forced_scale(scale):
            per_image = count_flops(model, inputs)
        flops.append(sum(per_image) / max(len(per_image), 1))
    order = sorted(range(len(flops)), key=lambda i: model.scales[i])
    for prev, i in zip(order, order[1:]):
        flops[i] = max(flops[i], flops[prev])
    return flops


def measure_speed(model: nn.Module, inputs: Sequence[dict], warmup: int = 2) -> dict[str, float]:
    """Inference speed of ``model``, one image at a time.

    Args:
        inputs: model inputs; the first ``warmup`` are run but not timed (when there are more
            than ``warmup`` inputs; otherwise all are timed).

    Returns:
        ``{"fps": 1 / median seconds per image, "sec_per_image": that median,
        "speed_images": images timed}``.
    """
    if not inputs:
        return {}
    if len(inputs) <= warmup:
        warmup = 0
    with _inference(model) as run:
        times = [run(inp)[0] for inp in inputs][warmup:]
    median = statistics.median(times)
    return {"fps": 1.0 / median, "sec_per_image": median, "speed_images": float(len(times))}


def time_every_image(model: nn.Module, data_loader: Iterable[list[dict]],
                     warmup: Sequence[dict] = ()) -> tuple[list[float], list[dict]]:
    """Seconds of ``model([x])`` and its output for every input ``x`` of ``data_loader``,
    after the ``warmup`` inputs, run untimed."""
    with _inference(model) as run:
        for inp in warmup:
            run(inp)
        timed = [run(inp) for batch in data_loader for inp in batch]
    return [t for t, _ in timed], [out for _, out in timed]


def clock(cuda: bool) -> float:
    """``time.perf_counter()``, once the CUDA queue is done when ``cuda``."""
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter()


@contextlib.contextmanager
def _inference(model: nn.Module) -> Iterator[Callable[[dict], tuple[float, dict]]]:
    """``run(input) -> (seconds, output)``: one image through ``model`` in eval mode without
    gradients, CUDA synchronised around it; the training mode is restored afterwards."""
    cuda = next(model.parameters()).device.type == "cuda"

    def run(inp: dict) -> tuple[float, dict]:
        start = clock(cuda)
        out = model([inp])[0]
        return clock(cuda) - start, out

    with torch.no_grad(), eval_mode(model):
        yield run


def scale_histogram(scales: Iterable[float]) -> dict[str, float]:
    """Images per chosen scale: ``{"scale_<s>_images": count}`` (``<s>`` as ``%g``), in
    increasing scale order."""
    counts = Counter(float(s) for s in scales)
    return {f"scale_{s:g}_images": float(counts[s]) for s in sorted(counts)}


def evaluate_cost(
    model: nn.Module,
    data_loader: Iterable[list[dict]],
    num_flops_images: int = 5,
    num_speed_images: int = 20,
    warmup: int = 2,
) -> dict[str, float]:
    """FLOPs (average over the first ``num_flops_images`` images of ``data_loader``) and speed
    (over the first ``warmup + num_speed_images``); a count of 0 skips that measurement.

    Returns:
        ``gflops`` (average GFLOPs per image) and ``flops_images`` (left out, with a warning,
        when the model cannot be traced), and the keys of :func:`measure_speed`.
    """
    needed = max(num_flops_images, num_speed_images + warmup if num_speed_images else 0)
    inputs = []
    for batch in data_loader:
        inputs.extend(batch)
        if len(inputs) >= needed:
            break
    cost = {}
    if num_flops_images > 0 and inputs:
        try:
            flops = count_flops(model, inputs[:num_flops_images])
        except (RuntimeError, TypeError, ValueError) as e:
            # FLOPs are a by-product of an evaluation: a model that cannot be traced loses them,
            # not the evaluation.
            logger.warning(
                f"FLOPs not counted: tracing {type(model).__name__} failed ({type(e).__name__}: "
                f"{e}); its forward must be traceable by torch.jit.trace (e.g. no round() of "
                "image sizes, which are tensors while tracing)"
            )
        else:
            cost["gflops"] = statistics.fmean(flops) / 1e9
            cost["flops_images"] = float(len(flops))
    if num_speed_images > 0:
        cost.update(measure_speed(model, inputs[: num_speed_images + warmup], warmup))
    logger.info(f"Cost: {cost}")
    return cost
