"""``DLDSpotter``: Dynamic Low-resolution Distillation (§3) around any spotter.

Composed, like detectron2's ``GeneralizedRCNN``, of config-built parts:

- ``spotter``: the student, ``MODEL.DLD.BASE_ARCHITECTURE`` (a ``META_ARCH_REGISTRY`` entry
  with the distillation interface of :class:`~.text_spotter.TextSpotter`);
- ``selector``: which scale each image runs at, and ``L_DRS`` (``modeling/selector.py``);
- ``distillers``: ``MODEL.DLD.DISTILLERS`` (``distill/distillers.py``), SKD and Table 3's
  baselines;
- a frozen teacher at the input resolution ``S``, attached with :meth:`set_teacher` (not a
  submodule: in no ``state_dict``, optimizer or DDP wrapper).

Training step (Eq. 11): the selector's Gumbel sample ``h`` per image; ``L_DRS = L_acc +
gamma L_flops`` (Eq. 2-4) from the student at every candidate scale, without a graph, in eval
mode, on the ground-truth words, which reaches only the selector; then the student at each
image's scale, with a graph: its own losses plus the distillers' (Eq. 7-10), which never
reach the selector. Inference: the selector's most probable scale (or ``FIXED_SCALE``),
resize, spot, map back; ``outputs[i]["scale"]`` is the scale used.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Dict, Iterator, List, Optional, Tuple

import torch
from detectron2.config import configurable
from detectron2.layers import cat
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import ImageList, Instances
from detectron2.utils.events import get_event_storage
from torch import nn

from ..distill.distillers import RecognitionView, build_distillers
from ..distill.losses import acc_loss_per_image
from .modes import eval_mode
from .recognizer import trim_targets
from .rescale import scale_instances
from .selector import FixedResolution, build_resolution_selector

logger = logging.getLogger(__name__)

# What DLD calls on the spotter it wraps (TextSpotter's distillation interface).
SPOTTER_INTERFACE = ("preprocess_image", "rescale", "extract_features", "detection_losses",
                     "detect", "gt_recognition_rois", "recognition_features",
                     "recognition_levels", "text_recognizer", "feature_shapes",
                     "check_distillable_from")


def build_base_spotter(cfg) -> nn.Module:
    """The spotter named by ``MODEL.DLD.BASE_ARCHITECTURE``, built from ``cfg``."""
    name = cfg.MODEL.DLD.BASE_ARCHITECTURE
    if name == "DLDSpotter":
        raise ValueError("MODEL.DLD.BASE_ARCHITECTURE names the spotter DLD wraps, e.g. "
                         "'TextSpotter', not 'DLDSpotter'")
    base = cfg.clone()
    base.defrost()
    base.MODEL.META_ARCHITECTURE = name
    spotter = META_ARCH_REGISTRY.get(name)(base)
    missing = [m for m in SPOTTER_INTERFACE if not hasattr(spotter, m)]
    if missing:
        raise ValueError(f"MODEL.DLD.BASE_ARCHITECTURE {name!r} lacks {missing} of the "
                         "distillation interface (see TextSpotter)")
    return spotter


def image_of_roi(rois: List[Instances], device: torch.device) -> torch.Tensor:
    """``(N,)`` the image index of each RoI of ``rois`` (one ``Instances`` per image)."""
    counts = torch.tensor([len(r) for r in rois], device=device)
    return torch.arange(len(rois), device=device).repeat_interleave(counts)


def _spotter_checkpoint_keys(module: nn.Module, state_dict: Dict, prefix: str, *args) -> None:
    """A spotter's checkpoint (the teacher's, as ``MODEL.WEIGHTS``) loads into a
    ``DLDSpotter``'s ``spotter``: its keys get the ``spotter.`` prefix."""
    own = tuple(f"{prefix}{name}." for name, _ in module.named_children())
    for key in [k for k in state_dict if k.startswith(prefix) and not k.startswith(own)]:
        state_dict[f"{prefix}spotter.{key[len(prefix):]}"] = state_dict.pop(key)


@META_ARCH_REGISTRY.register()
class DLDSpotter(nn.Module):
    """A spotter run at a selected lower resolution and distilled from a teacher (see above)."""

    @configurable
    def __init__(self, *, spotter: nn.Module, selector: nn.Module, distillers: nn.ModuleDict):
        super().__init__()
        self.spotter, self.selector, self.distillers = spotter, selector, distillers
        self._forced_scale: Optional[float] = None
        object.__setattr__(self, "_teacher", None)
        self.register_load_state_dict_pre_hook(_spotter_checkpoint_keys)

    @classmethod
    def from_config(cls, cfg):
        spotter = build_base_spotter(cfg)
        return {"spotter": spotter, "selector": build_resolution_selector(cfg),
                "distillers": build_distillers(cfg, spotter.feature_shapes)}

    @property
    def device(self) -> torch.device:
        return self.spotter.device

    @property
    def scales(self) -> Tuple[float, ...]:
        return self.selector.scales

    @property
    def teacher(self) -> Optional[nn.Module]:
        return self._teacher

    @property
    def needs_teacher(self) -> bool:
        """Training needs the teacher: for a training selector's L_acc or any distiller."""
        return self.selector.trains or len(self.distillers) > 0

    def set_teacher(self, teacher: nn.Module, source: str = "the teacher") -> None:
        """Attach a frozen teacher; ``source`` names its config in errors."""
        self.spotter.check_distillable_from(teacher, source)
        if len(self.spotter.recognition_levels) > 1:
            logger.warning("MODEL.REC_HEAD.IN_FEATURES %s: teacher (at S) and student (at s S) "
                           "may pool a word from different levels; the paper reads p2 only",
                           self.spotter.recognition_levels)
        object.__setattr__(self, "_teacher", teacher.eval().requires_grad_(False))

    @contextlib.contextmanager
    def forced_scale(self, scale: float) -> Iterator[None]:
        """Run at ``scale``, without the selector, inside the ``with`` block."""
        saved, self._forced_scale = self._forced_scale, scale
        try:
            yield
        finally:
            self._forced_scale = saved

    def preprocess_image(self, batched_inputs: List[Dict]) -> ImageList:
        return self.spotter.preprocess_image(batched_inputs)

    def select_scales(self, images: ImageList) -> List[float]:
        """The scale of each image: a forced one, else the selector's decision."""
        if self._forced_scale is not None:
            return [self._forced_scale] * len(images)
        return self.selector.choose(images)

    def forward(self, batched_inputs: List[Dict]):
        if not self.training:
            return self.inference(batched_inputs)
        images, gts, rois, targets = self._with_gt_rois(batched_inputs)
        teacher = self._teacher_view(batched_inputs, rois, targets)
        losses = {}
        if self.selector.trains:
            h, log_p, chosen = self.selector.sample(images)
            student_probs = self._probs_at_every_scale(images, rois, targets) if len(targets) \
                else None
            losses.update(self.selector.losses(
                h, log_p, student_probs, teacher and teacher.probs, targets,
                image_of_roi(rois, self.device)))
        else:
            with torch.no_grad():
                chosen = self.select_scales(images)
        if not isinstance(self.selector, FixedResolution):
            storage = get_event_storage()
            storage.put_scalar("dld/scale", sum(chosen) / len(chosen))
            storage.put_scalar("dld/tau", self.selector.tau)

        small, factors = self.spotter.rescale(images, chosen)
        gts = [scale_instances(g, size, f) for g, size, f in zip(gts, small.image_sizes, factors)]
        features = self.spotter.extract_features(small.tensor)
        losses.update(self.spotter.detection_losses(small, features, gts))
        if self.distillers:
            rois = [scale_instances(r, size, f) for r, size, f in
                    zip(rois, small.image_sizes, factors)]
            losses.update(self._distillation_losses(features, rois, targets, teacher))
        return losses

    def inference(self, batched_inputs: List[Dict],
                  detected_instances: Optional[List[Instances]] = None,
                  do_postprocess: bool = True):
        """Per image: ``{"instances": ... in original coordinates, "scale": float}``.

        ``detected_instances`` (boxes in the input's coordinates) skip detection: masks and
        texts are predicted for those boxes at the chosen scale (recognition accuracy on
        ground-truth boxes)."""
        images = self.preprocess_image(batched_inputs)
        scales = self.select_scales(images)
        small, factors = self.spotter.rescale(images, scales)
        features = self.spotter.extract_features(small.tensor)
        given = None if detected_instances is None else [
            scale_instances(x.to(self.device), size, f)
            for x, size, f in zip(detected_instances, small.image_sizes, factors)]
        results = self.spotter.detect(small, features, given)
        if not do_postprocess:
            return results
        return [{"instances": detector_postprocess(r, x.get("height", h), x.get("width", w)),
                 "scale": s}
                for r, x, (h, w), s in zip(results, batched_inputs, images.image_sizes, scales)]

    @torch.no_grad()
    def scale_costs(self, batched_inputs: List[Dict]) -> torch.Tensor:
        """Eq. 4 of each one-hot decision, per training image: ``(B, k)``,
        :meth:`acc_costs` plus ``gamma T_i``. Its argmin is the scale that ``L_DRS`` asks of
        the selector for that image (``tools/train_selector.py --labels drs``)."""
        return self.acc_costs(batched_inputs) + self.selector.flops_costs().to(self.device)

    @torch.no_grad()
    def acc_costs(self, batched_inputs: List[Dict]) -> torch.Tensor:
        """Eq. 2 of each one-hot decision, per training image: ``(B, k)``, ``L_acc`` at scale
        ``s_i`` over the image's scored steps, teacher-forced on its ground-truth words (0 for
        an image with none)."""
        images, _, rois, targets = self._with_gt_rois(batched_inputs)
        if len(targets) == 0:
            return torch.zeros(len(rois), len(self.scales), device=self.device)
        teacher_probs = self._teacher_view(batched_inputs, rois, targets).probs
        return acc_loss_per_image(self._probs_at_every_scale(images, rois, targets),
                                  teacher_probs, targets, image_of_roi(rois, self.device),
                                  len(rois), self.selector.kl_direction)

    def _with_gt_rois(self, batched_inputs: List[Dict]
                      ) -> Tuple[ImageList, List[Instances], List[Instances], torch.Tensor]:
        """The batch's images, ground truth, recognition RoIs (its legible words) and their
        trimmed targets ``(N, T)``."""
        images = self.preprocess_image(batched_inputs)
        gts = [x["instances"].to(self.device) for x in batched_inputs]
        rois = self.spotter.gt_recognition_rois(gts)
        return images, gts, rois, trim_targets(cat([r.gt_texts for r in rois]))

    def _teacher_view(self, batched_inputs: List[Dict], rois: List[Instances],
                      targets: torch.Tensor) -> Optional[RecognitionView]:
        """The teacher's reading of the ground-truth words at ``S`` (computed on use); None
        when training needs no teacher or the batch has no readable word."""
        if not self.needs_teacher:
            return None
        if self.teacher is None:
            raise RuntimeError("DLDSpotter: no teacher attached; the trainer's TeacherHook "
                               "loads MODEL.DLD.TEACHER.CONFIG / .WEIGHTS (or call set_teacher)")
        if len(targets) == 0:
            return None
        with torch.no_grad():
            features = self.teacher.extract_features(
                self.teacher.preprocess_image(batched_inputs).tensor)
        return RecognitionView(self.teacher, features, rois, targets, grad=False)

    @torch.no_grad()
    def _probs_at_every_scale(self, images: ImageList, rois: List[Instances],
                              targets: torch.Tensor) -> torch.Tensor:
        """The student's per-step distributions ``(k, N, T, K)`` (float32) at every candidate
        scale, in eval mode (as at test time); one recognizer batch for all scales. Under
        autocast to the selector's ``acc_dtype`` unless float32; the backbone reads
        channels-last images (the layout that bf16 kernels want) and hands on only the
        recognition levels, contiguous in float32 (what ``roi_align`` reads)."""
        dtype, levels = self.selector.acc_dtype, self.spotter.recognition_levels
        roi_features = []
        with eval_mode(self.spotter), torch.autocast(
                self.device.type, dtype=dtype, enabled=dtype != torch.float32):
            for s in self.scales:
                small, factors = self.spotter.rescale(images, [s] * len(images))
                scaled = [scale_instances(r, size, f) for r, size, f in
                          zip(rois, small.image_sizes, factors)]
                features = self.spotter.extract_features(small.tensor.contiguous(
                    memory_format=torch.channels_last))
                features = {f: features[f].contiguous().float() for f in levels}
                roi_features.append(self.spotter.recognition_features(features, scaled))
            logits = self.spotter.text_recognizer.logits(cat(roi_features),
                                                         targets.repeat(len(self.scales), 1))
        return logits.float().softmax(dim=-1).view(len(self.scales), *targets.shape, -1)

    def _distillation_losses(self, features: Dict[str, torch.Tensor], rois: List[Instances],
                             targets: torch.Tensor, teacher: RecognitionView
                             ) -> Dict[str, torch.Tensor]:
        """Every distiller's losses on the selected scale's features; ``rois`` in its
        coordinates. Zeros (in the graph) for a batch without a readable word."""
        if len(targets) == 0:
            zero = features[self.spotter.recognition_levels[0]].sum() * 0.0
            return {k: zero for d in self.distillers.values() for k in d.weights}
        student = RecognitionView(self.spotter, features, rois, targets)
        losses = {}
        for distiller in self.distillers.values():
            losses.update(distiller.losses(student, teacher))
        return losses
