"""Export to ONNX (dld_spotter.export): the exported teacher and DLD student spot what the
PyTorch models spot, and a model that cannot be exported says which part."""
import json
import os
import shutil

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from testing import REPO, TEACHER_TINY, tiny_opts
from torch import nn

from dld_spotter.checkpoint import TextCheckpointer
from dld_spotter.config import load_config
from dld_spotter.data.synth import SynthConfig, find_fonts, generate_image
from dld_spotter.engine import TextPredictor
from dld_spotter.engine.trainer import load_selector_start
from dld_spotter.export import ExportError, OnnxTextPredictor, export_model
from dld_spotter.export.__main__ import main as export_main
from dld_spotter.export.agreement import Agreement
from dld_spotter.export.exporter import _trace, check_graph

STUDENT = os.path.join(REPO, "configs/synth/dld_tiny_sized.yaml")
EVERY_BOX = ("MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0", "TEST.DETECTIONS_PER_IMAGE", "8")


@pytest.fixture(scope="module")
def scenes():
    """Five synthetic scenes (BGR) of the tiny configs' size, unseen by the export."""
    fonts, cfg = find_fonts(), SynthConfig(height=192, width=256)
    return [np.ascontiguousarray(generate_image(np.random.default_rng([7, i]), fonts, cfg)[0]
                                 [:, :, ::-1]) for i in range(5)]


def agreement(cfg, export_dir, scenes):
    """:class:`Agreement` of ``TextPredictor(cfg)`` and ``OnnxTextPredictor(export_dir)``."""
    torch_predictor, onnx_predictor = TextPredictor(cfg), OnnxTextPredictor(export_dir)
    result = Agreement()
    scales = []
    for image in scenes:
        reference = torch_predictor(image)
        result.add(reference, onnx_predictor(image))
        scales.append(reference.get("scale"))
    return result, scales


@pytest.fixture(scope="module")
def teacher_export(tiny_weights, tmp_path_factory):
    """The tiny seeded teacher of conftest (every box kept, beam 3), exported by the command
    line, and its config."""
    folder = tmp_path_factory.mktemp("teacher_export")
    config = folder / "teacher.yaml"
    config.write_text(tiny_weights.dump())
    assert export_main(["--config-file", str(config), "--output", str(folder / "onnx")]) == 0
    return tiny_weights, str(folder / "onnx")


@pytest.fixture(scope="module")
def student_export(synth_dataset, tmp_path_factory):
    """A tiny seeded DLD student of configs/synth/dld_tiny_sized.yaml with the shipped
    selector (which picks scales by the text's size), exported, and its config."""
    folder = tmp_path_factory.mktemp("student_export")
    cfg = load_config(STUDENT, tiny_opts(synth_dataset, folder, *EVERY_BOX))
    torch.manual_seed(0)
    model = build_model(cfg)
    load_selector_start(cfg, model)
    TextCheckpointer(model, str(folder)).save("model")
    cfg.MODEL.WEIGHTS = str(folder / "model.pth")
    export_model(TextPredictor(cfg).model, cfg, str(folder / "onnx"))
    return cfg, str(folder / "onnx")


def test_exported_teacher_spots_as_pytorch(teacher_export, scenes):
    cfg, export_dir = teacher_export
    assert sorted(os.listdir(export_dir)) == [
        "config.yaml", "decoder_start.onnx", "decoder_step.onnx", "detector.onnx",
        "encoder.onnx", "export.json"]
    result, _ = agreement(cfg, export_dir, scenes)
    assert result.detections == result.exported_detections >= 6 * len(scenes)
    assert result.text_rate >= 0.99
    assert result.max_box_diff <= 1.0


def test_exported_student_picks_the_scale_and_spots_as_pytorch(student_export, scenes):
    cfg, export_dir = student_export
    with open(os.path.join(export_dir, "export.json")) as f:
        resolution = json.load(f)["resolution"]
    assert resolution["scales"] == list(cfg.MODEL.DLD.SCALES)
    result, scales = agreement(cfg, export_dir, scenes)
    assert result.same_scale == len(scenes)
    assert len(set(scales)) >= 2  # the selector chose, not a constant
    assert result.detections == result.exported_detections >= 6 * len(scenes)
    assert result.text_rate >= 0.99
    assert result.max_box_diff <= 1.0


def test_exported_teacher_keeps_the_detections_the_recognizer_confirms(teacher_export, scenes,
                                                                       tmp_path):
    """MODEL.REC_HEAD.SCORE_THRESH_TEST of the export folder's config drops, as in PyTorch,
    the detections read below it (a threshold between two readings of the first scene)."""
    cfg, export_dir = teacher_export
    every, _ = agreement(cfg, export_dir, scenes)
    scores = TextPredictor(cfg)(scenes[0])["instances"].text_scores.sort().values
    middle = len(scores) // 2
    confirming = cfg.clone()
    confirming.MODEL.REC_HEAD.SCORE_THRESH_TEST = (scores[middle - 1] + scores[middle]).item() / 2
    folder = tmp_path / "onnx"
    shutil.copytree(export_dir, folder)
    (folder / "config.yaml").write_text(confirming.dump())
    result, _ = agreement(confirming, str(folder), scenes)
    assert 0 < result.detections == result.exported_detections < every.detections
    assert result.text_rate >= 0.99


def test_predictor_needs_an_export_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.yaml does not exist.*dld_spotter.export"):
        OnnxTextPredictor(str(tmp_path))


def test_predictor_names_a_missing_graph(teacher_export, tmp_path):
    shutil.copytree(teacher_export[1], tmp_path / "onnx")
    os.remove(tmp_path / "onnx" / "decoder_step.onnx")
    with pytest.raises(FileNotFoundError, match="the decoder step graph of export.json is missing"):
        OnnxTextPredictor(str(tmp_path / "onnx"))


@pytest.fixture
def tiny_teacher(synth_dataset, tmp_path):
    def build(*opts):
        torch.manual_seed(0)
        cfg = load_config(TEACHER_TINY, tiny_opts(synth_dataset, tmp_path, *opts))
        return build_model(cfg).eval(), cfg

    return build


def test_several_recognition_levels_are_refused_naming_the_detector(tiny_teacher, tmp_path):
    model, cfg = tiny_teacher("MODEL.REC_HEAD.IN_FEATURES", "['p2', 'p3']")
    with pytest.raises(ExportError, match=r"^detector: .*MODEL.REC_HEAD.IN_FEATURES"):
        export_model(model, cfg, str(tmp_path / "onnx"))


def test_ctc_reader_is_refused_naming_the_recognizer(tiny_teacher, tmp_path):
    model, cfg = tiny_teacher("MODEL.REC_HEAD.CTC_WEIGHT", "0.5", "MODEL.REC_HEAD.READER", "ctc",
                              "MODEL.REC_HEAD.BEAM_WIDTH", "1")
    with pytest.raises(ExportError, match=r"^recognizer: MODEL.REC_HEAD.READER 'ctc'"):
        export_model(model, cfg, str(tmp_path / "onnx"))


def test_sample_without_words_is_refused(tiny_teacher, tmp_path):
    model, cfg = tiny_teacher("MODEL.ROI_HEADS.SCORE_THRESH_TEST", "1.0")
    with pytest.raises(ExportError, match=r"^detector: the model finds 0 word\(s\)"):
        export_model(model, cfg, str(tmp_path / "onnx"))


def test_a_part_that_does_not_trace_is_named(tiny_teacher, tmp_path, monkeypatch):
    model, cfg = tiny_teacher(*EVERY_BOX)
    encoder = model.roi_heads.recognizer.encoder
    traced = encoder.forward

    def forward(x):  # an operator that ONNX has no form of
        return traced(x) + torch.linalg.svd(x.flatten(1)[:, :4, None])[1][:, :1, None] * 0
    monkeypatch.setattr(encoder, "forward", forward)
    with pytest.raises(ExportError, match=r"^recognizer encoder: .*svd"):
        export_model(model, cfg, str(tmp_path / "onnx"))
    assert not os.path.exists(tmp_path / "onnx" / "encoder.onnx")


def test_a_graph_that_differs_from_the_model_is_refused(tmp_path):
    torch.manual_seed(0)
    layer, x = nn.Linear(3, 2), torch.randn(4, 3)
    path = str(tmp_path / "layer.onnx")
    _trace(layer, (x,), path, ["x"], ["y"])
    check_graph("layer", path, layer, (x,), ["x"])
    with torch.no_grad():
        layer.bias.add_(0.1)
    with pytest.raises(ExportError, match=r"^layer: onnxruntime's y differs from PyTorch's"):
        check_graph("layer", path, layer, (x,), ["x"])
