"""How far an exported model's outputs are from the PyTorch model's, image by image."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from detectron2.structures import pairwise_iou


@dataclass
class Agreement:
    """Counts over the images added: each PyTorch detection is paired with the exported
    detection whose box overlaps it most (IoU > ``min_iou``)."""

    images: int = 0
    detections: int = 0  # the PyTorch model's
    exported_detections: int = 0
    same_text: int = 0  # paired, with the same text
    max_box_diff: float = 0.0  # px, the largest coordinate difference of a pair
    same_scale: int = 0  # images read at the same scale (or both without one)
    min_iou: float = 0.5

    def add(self, reference: dict, exported: dict) -> None:
        """One image's outputs (``{"instances": ..., "scale": ...}``) of both models."""
        ours, theirs = reference["instances"].to("cpu"), exported["instances"].to("cpu")
        self.images += 1
        self.same_scale += reference.get("scale") == exported.get("scale")
        self.detections += len(ours)
        self.exported_detections += len(theirs)
        if not len(ours) or not len(theirs):
            return
        iou, pair = pairwise_iou(ours.pred_boxes, theirs.pred_boxes).max(dim=1)
        for i, (j, overlap) in enumerate(zip(pair.tolist(), iou.tolist())):
            if overlap <= self.min_iou:
                continue
            self.same_text += ours.pred_texts[i] == theirs.pred_texts[j]
            diff = (ours.pred_boxes.tensor[i] - theirs.pred_boxes.tensor[j]).abs().max()
            self.max_box_diff = max(self.max_box_diff, float(diff))

    @property
    def text_rate(self) -> float:
        """The share of the PyTorch model's detections read the same (1 with none)."""
        return self.same_text / self.detections if self.detections else 1.0

    def as_dict(self) -> dict:
        return {**asdict(self), "text_rate": self.text_rate}
