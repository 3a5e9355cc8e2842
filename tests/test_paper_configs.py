"""Paper-configuration smoke test: each benchmark's teacher config (R-50-FPN) builds, trains one
step on its native-format fixture and reports every column of the paper's Table 1 for its
protocol (detection, end to end and word spotting per lexicon mode, FLOPs, FPS)."""
import json
import logging
import math
import os
import uuid

import pytest
from detectron2.modeling.backbone import FPN, BottleneckBlock, ResNet
from detectron2.utils.env import seed_all_rng
from detectron2.utils.events import EventStorage
from testing import FIXTURES, REPO

from dld_spotter.config import load_config
from dld_spotter.data import register_text_dataset
from dld_spotter.data.convert import convert
from dld_spotter.data.lexicons import lexicon_files
from dld_spotter.engine import TextSpotterTrainer

# protocol: (teacher config, base resolution S, (images, ground truth, strong lexicons) of the
#            training and test splits, weak/generic/full lexicon files, lexicon modes of Table 1)
PAPER = {
    "ic13": ("ic13_R50_FPN.yaml", 768, ("ic13/train_images", "ic13/train_gt", None),
             ("ic13/test_images", "ic13/test_gt", "ic13/test_lexicons"), ("weak", "generic"),
             ("strong", "weak", "generic", "none")),
    "ic15": ("ic15_R50_FPN.yaml", 1280, ("ic15/images", "ic15/gt", None),
             ("ic15/images", "ic15/gt", "ic15/lexicons"), ("weak", "generic"),
             ("strong", "weak", "generic", "none")),
    "totaltext": ("totaltext_R50_FPN.yaml", 896, ("totaltext/images", "totaltext/gt", None),
                  ("totaltext/images", "totaltext/gt", None), ("full",), ("none", "full")),
}
TITLES = {"strong": "S", "weak": "W", "generic": "G", "none": "None", "full": "Full"}
# Small inputs and budgets for a CPU; the architecture stays the config's.
FAST_OPTS = [
    "MODEL.DEVICE", "cpu",
    "INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MAX_SIZE_TRAIN", "256",
    "INPUT.MIN_SIZE_TEST", "128", "INPUT.MAX_SIZE_TEST", "256",
    "SOLVER.IMS_PER_BATCH", "1", "SOLVER.MAX_ITER", "1", "SOLVER.WARMUP_ITERS", "0",
    "SOLVER.STEPS", "()", "DATALOADER.NUM_WORKERS", "0",
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", "200", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "64",
    "MODEL.RPN.POST_NMS_TOPK_TEST", "100", "TEST.DETECTIONS_PER_IMAGE", "10",
    "TEST.TEXT.FLOPS_IMAGES", "1", "TEST.TEXT.SPEED_IMAGES", "1", "TEST.TEXT.SPEED_WARMUP", "0",
]


def register_split(root, protocol, split, images, gt, strong, lexicons=()):
    """Convert a native fixture split and register it as the built-in registration does (its
    lexicon folder holds ``<kind>.txt`` for each of ``lexicons``, made from the split's words).
    Returns the registered name, which carries the protocol's name hint."""
    json_file = os.path.join(root, f"{split}.json")
    image_root = os.path.join(FIXTURES, images)
    data = convert(protocol, image_root, os.path.join(FIXTURES, gt), json_file,
                   os.path.join(FIXTURES, strong) if strong else None, progress=False)
    words = sorted({a["text"] for a in data["annotations"] if not a["ignore"]})
    lexicon_dir = os.path.join(root, "lexicons")
    os.makedirs(lexicon_dir, exist_ok=True)
    for kind in lexicons:  # generic: a larger vocabulary than the test set's
        extra = ["Distillation", "resolution", "spotter"] if kind == "generic" else []
        with open(os.path.join(lexicon_dir, f"{kind}.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(words + extra) + "\n")
    name = f"{protocol}_{split}_paper_{uuid.uuid4().hex[:8]}"
    register_text_dataset(name, json_file, image_root, lexicons=lexicon_files(lexicon_dir))
    return name


def expected_keys(modes):
    keys = {f"det_{n}" for n in ("precision", "recall", "hmean")}
    for task in ("e2e", "ws"):
        for mode in modes:
            infix = "" if mode == "none" else f"_{mode}"
            keys |= {f"{task}{infix}_{n}" for n in ("precision", "recall", "hmean")}
    return keys


def expected_columns(modes):
    """Table 1's columns in the order of ``format_results_table``."""
    order = [m for m in ("strong", "weak", "generic", "none", "full") if m in modes]
    return (["Det-P", "Det-R", "Det-H"]
            + [f"{task}-{TITLES[m]}" for task in ("E2E", "WS") for m in order]
            + ["Rec", "GFLOPs", "FPS"])


def logged_table(caplog, dataset_name):
    """``{column: value}`` of the table that ``report_table`` logged for ``dataset_name``."""
    messages = [r.getMessage() for r in caplog.records
                if r.name == "dld_spotter.evaluation.model_metrics"
                and r.getMessage().startswith(f"Evaluation of {dataset_name} ")]
    assert len(messages) == 1, caplog.text
    rows = [line for line in messages[0].splitlines() if line.startswith("|")]
    header, values = ([c.strip() for c in row.strip("|").split("|")] for row in (rows[0], rows[2]))
    return dict(zip(header, map(float, values)))


@pytest.mark.parametrize("protocol", sorted(PAPER))
def test_teacher_config_trains_and_reports_table1(protocol, tmp_path, caplog):
    config, base_size, train_split, test_split, lexicons, modes = PAPER[protocol]
    config_file = os.path.join(REPO, "configs", "teacher", config)
    paper_cfg = load_config(config_file)
    assert paper_cfg.INPUT.MIN_SIZE_TEST == base_size
    assert paper_cfg.INPUT.MIN_SIZE_TRAIN[-1] == base_size
    assert paper_cfg.MODEL.RESNETS.DEPTH == 50

    train = register_split(str(tmp_path / "train"), protocol, "train", *train_split)
    test = register_split(str(tmp_path / "test"), protocol, "test", *test_split, lexicons)
    cfg = load_config(config_file, FAST_OPTS + [
        "DATASETS.TRAIN", f"('{train}',)", "DATASETS.TEST", f"('{test}',)",
        "OUTPUT_DIR", str(tmp_path / "output")])

    # The paper's teacher: a ResNet-50 (bottleneck blocks 3, 4, 6, 3) under an FPN.
    seed_all_rng(0)
    model = TextSpotterTrainer.build_model(cfg)
    assert isinstance(model.backbone, FPN) and isinstance(model.backbone.bottom_up, ResNet)
    stages = model.backbone.bottom_up.stages
    assert [len(stage) for stage in stages] == [3, 4, 6, 3]
    assert all(isinstance(block, BottleneckBlock) for stage in stages for block in stage)

    # One training step on the converted native ground truth.
    optimizer = TextSpotterTrainer.build_optimizer(cfg, model)
    batch = next(iter(TextSpotterTrainer.build_train_loader(cfg)))
    model.train()
    with EventStorage():
        losses = model(batch)
    assert {"loss_rec", "loss_mask", "loss_cls", "loss_rpn_cls"} <= set(losses)
    assert all(math.isfinite(v.item()) for v in losses.values()), losses
    optimizer.zero_grad()
    sum(losses.values()).backward()
    optimizer.step()

    model.eval()
    with caplog.at_level(logging.INFO):
        results = TextSpotterTrainer.test(cfg, model)

    # Every column of Table 1 for this protocol, each lexicon mode with its lexicon.
    spotting = results["text_spotting"]
    assert set(spotting) == expected_keys(modes)
    assert all(0.0 <= v <= 100.0 for v in spotting.values())
    cost = results["cost"]
    assert cost["gflops"] > 0 and cost["flops_images"] == 1.0 and cost["fps"] > 0
    assert 0.0 <= results["recognition"]["rec_accuracy"] <= 100.0
    out = tmp_path / "output" / "inference" / test
    saved = json.loads((out / "text_results.json").read_text())
    assert saved["skipped_lexicon_modes"] == {}
    assert set(saved["lexicon_files"]) == set(lexicons)

    # The logged table: Table 1's column headers, in order, with the results' values.
    table = logged_table(caplog, test)
    assert list(table) == expected_columns(modes)
    metrics = {**spotting, **cost, **results["recognition"]}
    for column, value in table.items():
        task, _, mode = column.partition("-")
        key = {"Rec": "rec_accuracy", "GFLOPs": "gflops", "FPS": "fps"}.get(column)
        if task == "Det":
            key = {"P": "det_precision", "R": "det_recall", "H": "det_hmean"}[mode]
        elif key is None:
            mode = next(m for m, title in TITLES.items() if title == mode)
            infix = "" if mode == "none" else f"_{mode}"
            key = f"{task.lower()}{infix}_hmean"
        assert value == pytest.approx(metrics[key], abs=1e-3), column
    assert "Lexicon modes not evaluated" not in caplog.text
