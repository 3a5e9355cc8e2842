"""``LightNet``: a small residual backbone (+ FPN) so that CPU configs train in minutes."""
from __future__ import annotations

from typing import Dict, List, Sequence

import torch
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from detectron2.modeling.backbone.fpn import FPN, LastLevelMaxPool
from detectron2.modeling.backbone.resnet import BasicBlock
from torch import nn


class LightNet(Backbone):
    """Two stride-2 3×3 stem convs, then four stages of ResNet basic blocks.

    ``(N, 3, H, W)`` -> ``res2..res5`` at strides 4, 8, 16, 32 with ``stage_channels``.
    """

    def __init__(self, stem_channels: int, stage_channels: Sequence[int],
                 blocks_per_stage: Sequence[int], norm: str, out_features: List[str]):
        super().__init__()
        if len(stage_channels) != 4 or len(blocks_per_stage) != 4:
            raise ValueError("LightNet has four stages: set 4 STAGE_CHANNELS and BLOCKS_PER_STAGE")
        half = max(stem_channels // 2, 1)
        self.stem = nn.Sequential(
            Conv2d(3, half, 3, stride=2, padding=1, bias=not norm, norm=get_norm(norm, half),
                   activation=nn.ReLU(inplace=True)),
            Conv2d(half, stem_channels, 3, stride=2, padding=1, bias=not norm,
                   norm=get_norm(norm, stem_channels), activation=nn.ReLU(inplace=True)),
        )
        self.stage_names = ["res2", "res3", "res4", "res5"]
        self._out_features = list(out_features)
        self._out_feature_channels: Dict[str, int] = {}
        self._out_feature_strides: Dict[str, int] = {}
        in_ch = stem_channels
        for i, (name, ch, n) in enumerate(zip(self.stage_names, stage_channels, blocks_per_stage)):
            blocks = [
                BasicBlock(in_ch if j == 0 else ch, ch, stride=2 if (i > 0 and j == 0) else 1,
                           norm=norm)
                for j in range(n)
            ]
            self.add_module(name, nn.Sequential(*blocks))
            self._out_feature_channels[name] = ch
            self._out_feature_strides[name] = 4 * 2**i
            in_ch = ch
        for m in self.stem:
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = self.stem(x)
        outputs = {}
        for name in self.stage_names:
            x = getattr(self, name)(x)
            if name in self._out_features:
                outputs[name] = x
        return outputs

    def output_shape(self) -> Dict[str, ShapeSpec]:
        return {
            name: ShapeSpec(channels=self._out_feature_channels[name],
                            stride=self._out_feature_strides[name])
            for name in self._out_features
        }


@BACKBONE_REGISTRY.register()
def build_light_fpn_backbone(cfg, input_shape: ShapeSpec) -> Backbone:
    """LightNet + FPN (P2–P6), configured by ``MODEL.LIGHT_NET`` and ``MODEL.FPN``."""
    c = cfg.MODEL.LIGHT_NET
    if input_shape.channels != 3:
        raise ValueError(f"LightNet takes 3-channel images, got {input_shape.channels}")
    bottom_up = LightNet(c.STEM_CHANNELS, c.STAGE_CHANNELS, c.BLOCKS_PER_STAGE, c.NORM,
                         c.OUT_FEATURES)
    return FPN(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelMaxPool(),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
