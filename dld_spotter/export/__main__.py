"""Export a trained spotter to ONNX::

    python -m dld_spotter.export --config-file configs/synth/teacher_tiny.yaml \\
        MODEL.WEIGHTS dld_spotter://teacher_tiny.pth --output output/teacher_tiny/onnx

Config options (``KEY VALUE`` pairs) may stand anywhere among the arguments; MODEL.WEIGHTS
must be the trained checkpoint of the config. The output folder receives the graphs, each
checked against PyTorch with onnxruntime on the sample image, ``config.yaml`` and
``export.json``; ``dld_spotter.export.OnnxTextPredictor(FOLDER)`` runs them. ``--sample``
names the image to trace on (default: a synthetic scene); the model must find at least two
words in it.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from detectron2.modeling import build_model

from ..checkpoint import load_strict
from ..config import load_config
from .exporter import ExportError, export_model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dld_spotter.export",
                                     description=__doc__.split("\n\n")[0].rstrip(":"))
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument("--output", required=True, metavar="DIR", help="the export folder")
    parser.add_argument("--sample", metavar="IMAGE",
                        help="the image to trace on (default: a synthetic scene)")
    parser.add_argument("opts", nargs="*", metavar="KEY VALUE",
                        help="config options, e.g. MODEL.WEIGHTS FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config_file, [*args.opts, "MODEL.DEVICE", "cpu"])
        model = build_model(cfg)
        load_strict(model, cfg.MODEL.WEIGHTS, "MODEL.WEIGHTS must be the checkpoint of this "
                    "config")
        sample = None
        if args.sample:
            from ..data.mapper import read_image_or_explain

            sample = read_image_or_explain(args.sample, cfg.INPUT.FORMAT)
        paths = export_model(model, cfg, args.output, sample)
    except (ExportError, OSError, ValueError, KeyError, AssertionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for part, path in paths.items():
        print(f"{part}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
