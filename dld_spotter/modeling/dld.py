"""``DLDSpotter``: the low-resolution student of Dynamic Low-resolution Distillation (§3).

Training step (Eq. 11), for a batch at the teacher's resolution ``S``:

1. the frozen teacher, once, on the ground-truth (GT) boxes at ``S``: ``F_roi``, ``F_con``,
   per-step distributions ``y`` (teacher forcing on the GT text) and top-K beams;
2. the selector on thumbnails -> ``log p`` -> Gumbel sample ``h`` (one-hot, per image);
3. the student at every candidate scale, without a graph, in eval mode (optionally under
   autocast: ``MODEL.DLD.DRS.ACC_DTYPE``): ``y_si`` on the same GT boxes and targets, all
   scales in one recognizer batch; ``L_DRS = L_acc + gamma L_flops`` (Eq. 2–4) reaches only
   the selector;
4. the student at each image's selected scale, with a graph: detection + recognition +
   SKD losses (Eq. 7–10), which never reach the selector.

Inference: argmax of the selector (or ``MODEL.DLD.FIXED_SCALE``), resize, spot, map back to
the original image; ``outputs[i]["scale"]`` is the scale used.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from detectron2.config import configurable
from detectron2.layers import cat
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import ImageList, Instances
from detectron2.utils.events import get_event_storage
from torch import nn

from ..charset import IGNORE
from ..distill.losses import (
    ACC_MEANS,
    DRS_ESTIMATORS,
    FLOPS_UNITS,
    KL_DIRECTIONS,
    ROI_FEATURES,
    SEQ_LOSS_NORMS,
    SEQ_WORDS,
    acc_loss,
    acc_loss_per_image,
    affinity_loss,
    aligned_feature_loss,
    beam_targets,
    check_option,
    con_loss,
    expected_acc_loss,
    flops_in_unit,
    flops_loss,
    read_correctly,
    roi_loss,
    seq_loss,
    step_kl,
    step_mse,
)
from .drs import DynamicResolutionSelector, gumbel_softmax_sample
from .modes import eval_mode
from .recognizer import trim_targets
from .rescale import resize_image_list, scale_instances
from .text_spotter import TextSpotter

logger = logging.getLogger(__name__)


@META_ARCH_REGISTRY.register()
class DLDSpotter(TextSpotter):
    """A :class:`TextSpotter` that runs at a selected lower resolution (see module doc).

    The teacher is attached with :meth:`set_teacher` and is not a submodule: it is in no
    ``state_dict``, optimizer or DDP wrapper.
    """

    @configurable
    def __init__(
        self,
        *,
        scales: Sequence[float],
        fixed_scale: float = 0.0,
        selector: Optional[DynamicResolutionSelector] = None,
        tau: float = 5.0,
        flops: Sequence[float] = (),
        drs_loss_weight: float = 1.0,
        flops_weight: float = 0.1,
        skd_loss_weight: float = 1.0,
        roi_weight: float = 1.0,
        con_weight: float = 1.0,
        seq_weight: float = 1.0,
        logits_weight: float = 0.0,
        hint_weight: float = 0.0,
        attention_weight: float = 0.0,
        affinity_weight: float = 0.0,
        det_feature_weight: float = 0.0,
        kl_direction: str = "mixture_teacher",
        acc_mean: str = "step",
        estimator: str = "gumbel",
        selector_trains: bool = True,
        acc_dtype: str = "float32",
        flops_unit: str = "max",
        beam_width: int = 3,
        top_k: int = 1,
        seq_loss_per: str = "sequence",
        seq_words: str = "all",
        roi_features: str = "pooled",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not scales or not all(0.0 < s <= 1.0 for s in scales):
            raise ValueError(f"MODEL.DLD.SCALES must be scales in (0, 1], got {scales}")
        if (selector is None) == (fixed_scale <= 0):
            raise ValueError("give either a selector or a FIXED_SCALE > 0, not both or neither")
        if flops and len(flops) != len(scales):
            raise ValueError(f"MODEL.DLD.DRS.FLOPS has {len(flops)} values for {len(scales)} "
                             "SCALES: give one per scale, or none to measure them")
        self.scales = tuple(float(s) for s in scales)
        self.fixed_scale = float(fixed_scale)
        self.selector = selector
        self.selector_trains = selector is not None and selector_trains  # else frozen or none
        if selector is not None and not selector_trains:
            selector.requires_grad_(False)
        self.tau = tau
        self.register_buffer("scale_flops", torch.tensor(flops, dtype=torch.float32),
                             persistent=False)
        self.drs_loss_weight = drs_loss_weight
        self.flops_weight = flops_weight
        self.skd_weights = {"loss_roi": skd_loss_weight * roi_weight,
                            "loss_con": skd_loss_weight * con_weight,
                            "loss_seq": skd_loss_weight * seq_weight,
                            "loss_logits": skd_loss_weight * logits_weight,
                            "loss_hint": skd_loss_weight * hint_weight,
                            "loss_attention": skd_loss_weight * attention_weight,
                            "loss_affinity": skd_loss_weight * affinity_weight,
                            "loss_det_feature": skd_loss_weight * det_feature_weight}
        self.det_adapters = None
        if self.skd_weights["loss_det_feature"] > 0:
            self.det_adapters = _aligned_adapters(self.backbone, self.fixed_scale)
        if not 1 <= top_k <= beam_width:
            raise ValueError(f"MODEL.DLD.SKD.TOP_K ({top_k}) must be in [1, BEAM_WIDTH "
                             f"({beam_width})]")
        self.kl_direction = check_option("MODEL.DLD.DRS.KL_DIRECTION", kl_direction,
                                         KL_DIRECTIONS)
        self.acc_mean = check_option("MODEL.DLD.DRS.ACC_MEAN", acc_mean, ACC_MEANS)
        self.estimator = check_option("MODEL.DLD.DRS.ESTIMATOR", estimator, DRS_ESTIMATORS)
        self.flops_unit = check_option("MODEL.DLD.DRS.FLOPS_UNIT", flops_unit, FLOPS_UNITS)
        self.acc_dtype = ACC_DTYPES[check_option("MODEL.DLD.DRS.ACC_DTYPE", acc_dtype,
                                                 ACC_DTYPES)]
        self.seq_loss_per = check_option("MODEL.DLD.SKD.SEQ_LOSS_PER", seq_loss_per,
                                         SEQ_LOSS_NORMS)
        self.seq_words = check_option("MODEL.DLD.SKD.SEQ_WORDS", seq_words, SEQ_WORDS)
        self.roi_features = check_option("MODEL.DLD.SKD.ROI_FEATURES", roi_features,
                                         ROI_FEATURES)
        self.beam_width, self.top_k = beam_width, top_k
        object.__setattr__(self, "_teacher", None)

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        dld = cfg.MODEL.DLD
        selector = None
        if dld.DRS.LR_FACTOR < 0:
            raise ValueError(f"MODEL.DLD.DRS.LR_FACTOR must be >= 0 (0 freezes the selector), "
                             f"got {dld.DRS.LR_FACTOR}")
        if dld.FIXED_SCALE <= 0:
            selector = DynamicResolutionSelector(
                len(dld.SCALES), dld.DRS.THUMBNAIL_SIZE, dld.DRS.STEM_CHANNELS,
                dld.DRS.STAGE_CHANNELS, dld.DRS.NORM,
            )
        return {
            **ret,
            "scales": dld.SCALES,
            "fixed_scale": dld.FIXED_SCALE,
            "selector": selector,
            "tau": dld.DRS.TAU_INIT,
            "flops": dld.DRS.FLOPS,
            "drs_loss_weight": dld.DRS.LOSS_WEIGHT,
            "flops_weight": dld.DRS.FLOPS_WEIGHT,
            "skd_loss_weight": dld.SKD.LOSS_WEIGHT,
            "roi_weight": dld.SKD.ROI_WEIGHT,
            "con_weight": dld.SKD.CON_WEIGHT,
            "seq_weight": dld.SKD.SEQ_WEIGHT,
            "logits_weight": dld.SKD.LOGITS_WEIGHT,
            "hint_weight": dld.SKD.HINT_WEIGHT,
            "attention_weight": dld.SKD.ATTENTION_WEIGHT,
            "affinity_weight": dld.SKD.AFFINITY_WEIGHT,
            "det_feature_weight": dld.SKD.DET_FEATURE_WEIGHT,
            "kl_direction": dld.DRS.KL_DIRECTION,
            "acc_mean": dld.DRS.ACC_MEAN,
            "estimator": dld.DRS.ESTIMATOR,
            "selector_trains": dld.DRS.LR_FACTOR > 0,
            "acc_dtype": dld.DRS.ACC_DTYPE,
            "flops_unit": dld.DRS.FLOPS_UNIT,
            "beam_width": dld.SKD.BEAM_WIDTH,
            "top_k": dld.SKD.TOP_K,
            "seq_loss_per": dld.SKD.SEQ_LOSS_PER,
            "seq_words": dld.SKD.SEQ_WORDS,
            "roi_features": dld.SKD.ROI_FEATURES,
        }

    # --- the teacher, the temperature, the FLOPs table --------------------------------------

    @property
    def teacher(self) -> Optional[nn.Module]:
        return self._teacher

    @property
    def needs_teacher(self) -> bool:
        """Training needs the teacher: for the selector's L_acc (unless the selector is frozen,
        ``DRS.LR_FACTOR 0``) or for any SKD loss."""
        return self.selector_trains or any(w > 0 for w in self.skd_weights.values())

    def train(self, mode: bool = True) -> DLDSpotter:
        super().train(mode)
        if self.selector is not None and not self.selector_trains:
            self.selector.eval()  # a frozen selector's BN statistics stay its own
        return self

    def set_teacher(self, teacher: nn.Module, source: str = "the teacher") -> None:
        """Attach a frozen teacher (not registered as a submodule). ``source`` names its
        config in errors: the teacher's recognizer must have the student's shapes."""
        ours, theirs = self.roi_heads, teacher.roi_heads
        shapes = {k: v.shape for k, v in ours.recognizer.state_dict().items()}
        if (shapes != {k: v.shape for k, v in theirs.recognizer.state_dict().items()}
                or ours.rec_pooler.output_size != theirs.rec_pooler.output_size):
            raise ValueError(
                f"{source}: the teacher's recognition branch (RoI size "
                f"{theirs.rec_pooler.output_size}) differs from the student's (RoI size "
                f"{ours.rec_pooler.output_size}); distillation needs the same MODEL.REC_HEAD "
                "and MODEL.TEXT in both configs"
            )
        if list(ours.rec_in_features) != list(theirs.rec_in_features):
            raise ValueError(
                f"{source}: the teacher reads recognition RoIs from {theirs.rec_in_features}, "
                f"the student from {ours.rec_in_features}; L_roi compares features of one "
                "level: give both configs the same MODEL.REC_HEAD.IN_FEATURES (the paper: p2)")
        if len(ours.rec_in_features) > 1:
            logger.warning("MODEL.REC_HEAD.IN_FEATURES %s: teacher (at S) and student (at s S) "
                           "may pool a word from different levels; the paper reads p2 only",
                           list(ours.rec_in_features))
        object.__setattr__(self, "_teacher", teacher.eval().requires_grad_(False))

    def set_temperature(self, tau: float) -> None:
        self.tau = tau

    def set_scale_flops(self, flops: Sequence[float]) -> None:
        """The average forward FLOPs ``T_i`` of each candidate scale."""
        if len(flops) != len(self.scales):
            raise ValueError(f"{len(flops)} FLOPs values for {len(self.scales)} scales")
        self.scale_flops = torch.as_tensor(flops, dtype=torch.float32, device=self.device)

    @contextlib.contextmanager
    def forced_scale(self, scale: float) -> Iterator[None]:
        """Run at ``scale``, without the selector, inside the ``with`` block."""
        saved, self.fixed_scale = self.fixed_scale, scale
        try:
            yield
        finally:
            self.fixed_scale = saved

    # --- forward ---------------------------------------------------------------------------

    def forward(self, batched_inputs: List[Dict]):
        if not self.training:
            return self.inference(batched_inputs)
        images, gts, rois, targets = self._with_gt_rois(batched_inputs)
        teacher_out = self._teacher_outputs(batched_inputs, rois, targets)

        losses = {}
        if self.selector is None:
            chosen = [self.fixed_scale] * len(gts)
        elif not self.selector_trains:  # frozen: its most probable scale, as at test
            with torch.no_grad():
                chosen = self.select_scales(images)
        else:
            log_p = self.selector(self.selector.thumbnails(images.tensor, images.image_sizes))
            h = gumbel_softmax_sample(log_p, self.tau)
            chosen = [self.scales[i] for i in h.argmax(dim=1).tolist()]
            losses.update(self._drs_losses(h, log_p, images, rois, targets, teacher_out))
        if self.selector is not None:
            storage = get_event_storage()
            storage.put_scalar("dld/scale", sum(chosen) / len(chosen))
            storage.put_scalar("dld/tau", self.tau)

        small, factors = self.resize_images(images, chosen)
        gts = [scale_instances(g, size, f) for g, size, f in zip(gts, small.image_sizes, factors)]
        features = self.backbone(small.tensor)
        proposals, proposal_losses = self.proposal_generator(small, features, gts)
        _, detector_losses = self.roi_heads(small, features, proposals, gts)
        losses.update(proposal_losses)
        losses.update(detector_losses)
        if teacher_out is not None:
            rois = [scale_instances(r, size, f) for r, size, f in
                    zip(rois, small.image_sizes, factors)]
            losses.update(self._skd_losses(features, rois, targets, teacher_out))
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
        small, factors = self.resize_images(images, scales)
        features = self.backbone(small.tensor)
        if detected_instances is None:
            proposals, _ = self.proposal_generator(small, features, None)
            results, _ = self.roi_heads(small, features, proposals, None)
        else:
            given = [scale_instances(x.to(self.device), size, f)
                     for x, size, f in zip(detected_instances, small.image_sizes, factors)]
            results = self.roi_heads.forward_with_given_boxes(features, given)
        if not do_postprocess:
            return results
        outputs = []
        for result, x, (h, w), scale in zip(results, batched_inputs, images.image_sizes, scales):
            result = detector_postprocess(result, x.get("height", h), x.get("width", w))
            outputs.append({"instances": result, "scale": scale})
        return outputs

    def select_scales(self, images: ImageList) -> List[float]:
        """The scale of each image: ``FIXED_SCALE``, else the selector's most probable."""
        if self.fixed_scale > 0:
            return [self.fixed_scale] * len(images)
        log_p = self.selector(self.selector.thumbnails(images.tensor, images.image_sizes))
        return [self.scales[i] for i in log_p.argmax(dim=1).tolist()]

    @torch.no_grad()
    def scale_costs(self, batched_inputs: List[Dict]) -> torch.Tensor:
        """Eq. 4 of each one-hot decision, per training image: ``(B, k)``,
        :meth:`acc_costs` plus ``gamma T_i``. Its argmin is the scale that ``L_DRS`` asks of
        the selector for that image (``tools/train_selector.py --labels drs``)."""
        return self.acc_costs(batched_inputs) + self.flops_costs().to(self.device)

    def flops_costs(self) -> torch.Tensor:
        """Eq. 4's ``gamma T_i`` of each candidate scale ``(k,)``, in ``FLOPS_UNIT``."""
        self._require_scale_flops()
        return self.flops_weight * flops_in_unit(self.scale_flops, self.flops_unit)

    @torch.no_grad()
    def acc_costs(self, batched_inputs: List[Dict]) -> torch.Tensor:
        """Eq. 2 of each one-hot decision, per training image: ``(B, k)``, ``L_acc`` at scale
        ``s_i`` over the image's scored steps, teacher-forced on its ground-truth words (0 for
        an image with none)."""
        images, _, rois, targets = self._with_gt_rois(batched_inputs)
        if len(targets) == 0:
            return torch.zeros(len(rois), len(self.scales), device=self.device)
        teacher_probs = self._teacher_outputs(batched_inputs, rois, targets)["probs"]
        return acc_loss_per_image(self._probs_at_every_scale(images, rois, targets),
                                  teacher_probs, targets, self._image_of_roi(rois), len(rois),
                                  self.kl_direction)

    def resize_images(self, images: ImageList, scales: Sequence[float]
                      ) -> Tuple[ImageList, List[Tuple[float, float]]]:
        """:func:`resize_image_list` for this model's backbone."""
        return resize_image_list(images, scales, self.backbone)

    # --- losses ----------------------------------------------------------------------------

    def _with_gt_rois(self, batched_inputs: List[Dict]
                      ) -> Tuple[ImageList, List[Instances], List[Instances], torch.Tensor]:
        """The batch's images, ground truth, recognition RoIs (its legible words) and their
        trimmed targets ``(N, T)``."""
        images = self.preprocess_image(batched_inputs)
        gts = [x["instances"].to(self.device) for x in batched_inputs]
        rois = self.roi_heads.gt_recognition_rois(gts)
        return images, gts, rois, trim_targets(cat([r.gt_texts for r in rois]))

    def _require_scale_flops(self) -> None:
        if self.scale_flops.numel() != len(self.scales):
            raise RuntimeError("DLDSpotter: the FLOPs per scale are not set: give "
                               "MODEL.DLD.DRS.FLOPS or train with TextSpotterTrainer, which "
                               "measures them (ScaleFlopsHook)")

    def _image_of_roi(self, rois: List[Instances]) -> torch.Tensor:
        """``(N,)`` the image index of each RoI of ``rois`` (one ``Instances`` per image)."""
        counts = torch.tensor([len(r) for r in rois], device=self.device)
        return torch.arange(len(rois), device=self.device).repeat_interleave(counts)

    @torch.no_grad()
    def _teacher_outputs(self, batched_inputs: List[Dict], rois: List[Instances],
                         targets: torch.Tensor) -> Optional[Dict[str, torch.Tensor]]:
        """What the student learns from, at the teacher's resolution on the GT boxes:
        ``roi`` (N, C, Hr, Wr), ``con`` (N, L, E), ``probs`` (N, T, K), ``beams`` (N, B, T')."""
        if not self.needs_teacher:
            return None
        teacher = self.teacher
        if teacher is None:
            raise RuntimeError("DLDSpotter: no teacher attached; the trainer's TeacherHook "
                               "loads MODEL.DLD.TEACHER.CONFIG / .WEIGHTS (or call set_teacher)")
        if len(targets) == 0:
            return {}
        images = teacher.preprocess_image(batched_inputs)
        features = teacher.backbone(images.tensor)
        recognizer = teacher.roi_heads.recognizer
        out = {"roi": teacher.roi_heads.masked_roi_features(features, rois)}
        out["con"] = recognizer.encode(out["roi"])
        if self.selector is not None or self._decoder_kd:
            logits, out["attention"], out["glimpses"] = recognizer.decoder.teacher_forced(
                out["con"], targets)
            out["probs"] = logits.softmax(dim=-1)
        if self.det_adapters is not None:
            out["features"] = features
        if self.skd_weights["loss_seq"] > 0:
            beams = recognizer.decoder.beam_search(out["con"], self.beam_width)[1]
            beams = beam_targets(beams[:, : self.top_k])
            if self.seq_words == "read":  # the misread words' beams are not scored
                beams = beams.masked_fill(~read_correctly(beams[:, 0], targets)[:, None, None],
                                          IGNORE)
            out["beams"] = beams
        return out

    def _drs_losses(self, h: torch.Tensor, log_p: torch.Tensor, images: ImageList,
                    rois: List[Instances], targets: torch.Tensor,
                    teacher_out: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Eq. 4 (times lambda_2): ``loss_acc`` and ``loss_flops`` of the Gumbel sample ``h``
        ``(B, k)``, or (``ESTIMATOR "expectation"``) their expectations under the selector's
        ``log_p`` ``(B, k)``; gradient to the selector only."""
        self._require_scale_flops()
        decision, acc = (log_p.exp(), expected_acc_loss) if self.estimator == "expectation" \
            else (h, acc_loss)
        if len(targets) == 0:
            loss_acc = decision.sum() * 0.0
        else:
            student_probs = self._probs_at_every_scale(images, rois, targets)
            image_of_roi = self._image_of_roi(rois)
            loss_acc = acc(decision[image_of_roi], student_probs, teacher_out["probs"], targets,
                           self.kl_direction, image_of_roi if self.acc_mean == "image" else None)
        return {"loss_acc": loss_acc * self.drs_loss_weight,
                "loss_flops": flops_loss(decision, self.scale_flops, self.flops_unit)
                * self.flops_weight
                * self.drs_loss_weight}

    @torch.no_grad()
    def _probs_at_every_scale(self, images: ImageList, rois: List[Instances],
                              targets: torch.Tensor) -> torch.Tensor:
        """The student's per-step distributions ``(k, N, T, K)`` (float32) at every candidate
        scale, in eval mode (as at test time); one recognizer batch for all scales. Under
        autocast to ``acc_dtype`` unless float32; the backbone reads channels-last images
        (the layout that bf16 kernels want) and hands on only the recognition levels,
        contiguous in float32 (what ``roi_align`` reads)."""
        roi_features = []
        levels = self.roi_heads.rec_in_features
        with eval_mode(self.backbone, self.roi_heads), torch.autocast(
                self.device.type, dtype=self.acc_dtype, enabled=self.acc_dtype != torch.float32):
            for s in self.scales:
                small, factors = self.resize_images(images, [s] * len(images))
                scaled = [scale_instances(r, size, f) for r, size, f in
                          zip(rois, small.image_sizes, factors)]
                features = self.backbone(small.tensor.contiguous(
                    memory_format=torch.channels_last))
                features = {f: features[f].contiguous().float() for f in levels}
                roi_features.append(self.roi_heads.masked_roi_features(features, scaled))
            logits = self.roi_heads.recognizer.logits(cat(roi_features),
                                                      targets.repeat(len(self.scales), 1))
        return logits.float().softmax(dim=-1).view(len(self.scales), *targets.shape, -1)

    def _skd_losses(self, features: Dict[str, torch.Tensor], rois: List[Instances],
                    targets: torch.Tensor, teacher_out: Dict[str, torch.Tensor]
                    ) -> Dict[str, torch.Tensor]:
        """Eq. 10 (times lambda_3), on the selected scale's features; ``rois`` in its
        coordinates. The logits baseline of Table 3 is ``loss_logits``."""
        weights = {k: w for k, w in self.skd_weights.items() if w > 0}
        if not teacher_out:  # no readable word in the batch
            return {k: features[self.roi_heads.rec_in_features[0]].sum() * 0.0 for k in weights}
        recognizer = self.roi_heads.recognizer
        roi = self.roi_heads.masked_roi_features(features, rois)
        con = recognizer.encode(roi)
        losses = {}
        if "loss_roi" in weights:
            losses["loss_roi"] = roi_loss(roi, teacher_out["roi"], self.roi_features)
        if "loss_con" in weights:
            losses["loss_con"] = con_loss(con, teacher_out["con"])
        if "loss_seq" in weights:
            beams = teacher_out["beams"]
            n, b, t = beams.shape
            logits = recognizer.decoder(con.repeat_interleave(b, dim=0), beams.view(n * b, t))
            losses["loss_seq"] = seq_loss(logits.view(n, b, t, -1), beams, self.seq_loss_per)
        if self._decoder_kd:
            logits, attention, glimpses = recognizer.decoder.teacher_forced(con, targets)
            kd = {"loss_logits": lambda: step_kl(logits.log_softmax(dim=-1),
                                                 teacher_out["probs"], targets),
                  "loss_hint": lambda: step_mse(glimpses, teacher_out["glimpses"], targets),
                  "loss_attention": lambda: step_mse(attention, teacher_out["attention"],
                                                     targets),
                  "loss_affinity": lambda: affinity_loss(glimpses, teacher_out["glimpses"],
                                                         targets)}
            losses.update({k: f() for k, f in kd.items() if k in weights})
        if "loss_det_feature" in weights:
            pairs = self.det_adapters.pairs
            losses["loss_det_feature"] = aligned_feature_loss(
                [self.det_adapters[s](features[s]) for s, _ in pairs],
                [teacher_out["features"][t] for _, t in pairs])
        return {k: v * weights[k] for k, v in losses.items()}

    @property
    def _decoder_kd(self) -> bool:
        """Whether a decoder-level distillation loss (Table 3's baselines) is on."""
        return any(self.skd_weights[k] > 0 for k in DECODER_KD_LOSSES)


# MODEL.DLD.DRS.ACC_DTYPE: the precision of the student's pass at every scale (L_acc's y_si).
ACC_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DECODER_KD_LOSSES = ("loss_logits", "loss_hint", "loss_attention", "loss_affinity")


class AlignedAdapters(nn.ModuleDict):
    """Qi et al.'s adapters: a 1x1 conv per student FPN level, mapping it onto the teacher
    level of the same size (``pairs``: (student level, teacher level))."""

    def __init__(self, pairs: List[Tuple[str, str]], channels: int):
        super().__init__({s: nn.Conv2d(channels, channels, 1) for s, _ in pairs})
        self.pairs = pairs


def _aligned_adapters(backbone: nn.Module, scale: float) -> AlignedAdapters:
    """The adapters of a student at half the teacher's resolution: its level p_k meets the
    teacher's p_(k+1) (the same stride in the teacher's image)."""
    if scale != 0.5:
        raise ValueError(f"MODEL.DLD.SKD.DET_FEATURE_WEIGHT (Qi et al.'s aligned distillation) "
                         f"needs MODEL.DLD.FIXED_SCALE 0.5, got {scale}: a student at half "
                         "the teacher's resolution, whose levels align with the next ones")
    shapes = backbone.output_shape()
    levels = sorted(shapes, key=lambda k: shapes[k].stride)
    pairs = list(zip(levels, levels[1:]))
    return AlignedAdapters(pairs, shapes[levels[0]].channels)
