"""Readers of the benchmarks' native ground truth, the converter CLI, lexicons and the built-in
registration of the benchmarks (fixtures in tests/fixtures/, one folder per format)."""
import json
import logging
import os
import shutil

import numpy as np
import pytest
import scipy.io
from detectron2.data.catalog import _DatasetCatalog, _MetadataCatalog
from PIL import Image
from testing import FIXTURES

from dld_spotter.data import datasets as text_datasets
from dld_spotter.data import load_lexicon, load_text_json
from dld_spotter.data.convert import convert, main
from dld_spotter.data.formats import (
    READERS,
    GroundTruthError,
    Word,
    image_size,
    read_ic13_file,
    read_ic15_file,
    read_mlt17_file,
    read_synthtext,
    read_totaltext_file,
)
from dld_spotter.data.lexicons import lexicon_files, per_image_lexicon


def fixture(*parts):
    return os.path.join(FIXTURES, *parts)


def quad(x0, y0, x1, y1):
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def dont_care(polygon):
    return Word(polygon, "###", True)


# --- Readers ------------------------------------------------------------------------------


def test_ic13_train_ground_truth_separated_by_spaces():
    assert read_ic13_file(fixture("ic13", "train_gt", "gt_100.txt")) == [
        Word(quad(38, 43, 92, 65), "Tiredness"),
        Word(quad(10, 70, 50, 90), "kills"),
        Word(quad(120, 80, 180, 110), '"A" 2,5'),  # escaped quotes, a comma inside
    ]


def test_ic13_test_ground_truth_separated_by_commas():
    assert read_ic13_file(fixture("ic13", "test_gt", "gt_img_1.txt")) == [
        Word(quad(38, 43, 92, 65), "Tired, ness"),
        dont_care(quad(5, 5, 30, 20)),
    ]


def test_ic15_bom_commas_dont_care_and_orientation():
    assert read_ic15_file(fixture("ic15", "gt", "gt_img_1.txt")) == [
        Word([10, 10, 60, 12, 59, 30, 9, 28], "Genaxis Theatre"),  # no BOM in the first x
        Word(quad(70, 10, 120, 25), "[06]"),
        dont_care(quad(5, 40, 25, 50)),
        Word(quad(30, 40, 80, 60), "Hello, World"),
        # given counter-clockwise (100,60) (100,70) (120,70) (120,60): reversed, same start
        Word(quad(100, 60, 120, 70), "ccw"),
    ]
    assert read_ic15_file(fixture("ic15", "gt", "gt_img_2.txt")) == []


def test_totaltext_repository_format_with_wrapped_records():
    top = [10, 150, 40, 140, 70, 135, 100, 133, 130, 135, 160, 140, 190, 150]
    bottom = [190, 180, 160, 170, 130, 165, 100, 163, 70, 165, 40, 170, 10, 180]
    assert read_totaltext_file(fixture("totaltext", "gt", "poly_gt_img11.txt")) == [
        Word([115, 22, 203, 46, 194, 126, 115, 104], "nauGHTY"),
        Word(top + bottom, "don't"),  # 14 points over three lines
        dont_care(quad(250, 10, 290, 30)),
    ]


def test_totaltext_comma_format():
    assert read_totaltext_file(fixture("totaltext", "gt", "poly_gt_img12.txt")) == [
        Word(quad(10, 10, 50, 30), "Hi, there"),
        Word([0, 40, 20, 40, 40, 40, 40, 50, 20, 50, 0, 50], "2012"),  # a numeric text
        dont_care(quad(1, 1, 9, 9)),
    ]


def test_mlt17_keeps_latin_words_only():
    assert read_mlt17_file(fixture("mlt17", "gt", "gt_img_1.txt")) == [
        Word(quad(10, 10, 50, 30), "HELLO"),
        dont_care(quad(60, 10, 90, 30)),  # Arabic
        dont_care(quad(5, 40, 40, 60)),  # Latin "###"
        Word(quad(45, 40, 95, 60), "a,b"),
        dont_care(quad(1, 70, 20, 78)),  # Symbols
    ]


def _cell(items):
    cell = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        cell[0, i] = item
    return cell


@pytest.fixture
def synthtext_gt(tmp_path):
    """gt.mat in SynthText's layout: the first image has 3 words on 2 padded text lines (one
    with a newline), the second a single word, whose wordBB is (2, 4)."""
    first = np.array([[[1, 30, 60], [20, 50, 90], [20, 50, 90], [1, 30, 60]],
                      [[2, 2, 40], [2, 2, 40], [12, 14, 55], [12, 14, 55]]], dtype=np.float64)
    second = np.array([[5.5, 70, 70, 5.5], [8, 8, 30, 30]])
    path = str(tmp_path / "gt.mat")
    scipy.io.savemat(path, {
        "imnames": _cell([np.array(["8/ballet_106_0.jpg"]), np.array(["8/ballet_106_1.jpg"])]),
        "wordBB": _cell([first, second]),
        "txt": _cell([np.array(["Lines I ", "lost    "]), np.array(["alone\n"])]),
    })
    return path


def test_synthtext_words_boxes_and_single_word_entries(synthtext_gt):
    images = list(read_synthtext(fixture("synthtext"), synthtext_gt))
    assert [img.file_name for img in images] == ["8/ballet_106_0.jpg", "8/ballet_106_1.jpg"]
    assert images[0].words == [
        Word(quad(1, 2, 20, 12), "Lines"),
        Word(quad(30, 2, 50, 14), "I"),
        Word(quad(60, 40, 90, 55), "lost"),
    ]
    assert images[1].words == [Word(quad(5.5, 8, 70, 30), "alone")]


def test_synthtext_words_must_match_boxes(tmp_path):
    path = str(tmp_path / "gt.mat")
    scipy.io.savemat(path, {"imnames": _cell([np.array(["a.jpg"])]),
                            "wordBB": _cell([np.zeros((2, 4, 2))]),
                            "txt": _cell([np.array(["one two three"])])})
    with pytest.raises(GroundTruthError, match=r"entry 0, a\.jpg.*\(2, 4, 2\) for 3 word"):
        list(read_synthtext(str(tmp_path), path))


# --- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, content, line, what", [
    ("ic13", '1 2 3 4 "ok"\n1 2 3 "no box"\n', 2, "xmin ymin xmax ymax"),
    ("ic13", '9 2 3 4 "x"\n', 1, "xmax < xmin"),
    ("ic15", "1,2,3,4,5,6,7,8,ok\n\n1,2,3,4,5,6,7,8\n", 3, "8 comma-separated field(s)"),
    ("ic15", "1,2,3,4,5,six,7,8,word\n", 1, "'six' is not a number"),
    ("mlt17", "1,2,3,4,5,6,7,8,word\n", 1, "x4,y4,script,transcription"),
    ("totaltext", "x: [[1 2 3]], y: [[1 2 3]], ornt: [u'h'], transcriptions: [u'a']\n"
                  "x: [[1 2 3]], y: [[1 2]], ornt: [u'h'], transcriptions: [u'a']\n", 2,
     "3 x but 2 y"),
    ("totaltext", "x: [[1 2 3]], y: [[1 2 3]], ornt: [u'h'], transcriptions: [a]\n", 1,
     "not a quoted string"),
    ("totaltext", "1,2,3,4,word\n", 1, "x1,y1,x2,y2,...,xn,yn,transcription"),
])
def test_malformed_line_names_file_line_and_expectation(tmp_path, fmt, content, line, what):
    gt_file = tmp_path / "gt_img_1.txt"
    gt_file.write_text(content, encoding="utf-8")
    Image.new("RGB", (8, 8)).save(tmp_path / "img_1.jpg")
    with pytest.raises(GroundTruthError) as e:
        list(READERS[fmt](str(tmp_path), str(gt_file)))
    message = str(e.value)
    assert message.startswith(f"{gt_file}, line {line}: ") and what in message
    assert "expected" in message


def test_totaltext_skips_polygons_of_two_points(tmp_path, caplog):
    gt_file = tmp_path / "poly_gt_img1.txt"
    gt_file.write_text("x: [[1 2]], y: [[1 2]], ornt: [u'h'], transcriptions: [u'a']\n")
    assert read_totaltext_file(str(gt_file)) == []
    assert f"{gt_file}, line 1: skipped a polygon of 2 point(s)" in caplog.text


def test_missing_image_names_the_ground_truth_and_the_folder(tmp_path):
    shutil.copytree(fixture("ic15"), tmp_path / "ic15")
    os.remove(tmp_path / "ic15" / "images" / "img_2.png")
    gt_dir, images = str(tmp_path / "ic15" / "gt"), str(tmp_path / "ic15" / "images")
    with pytest.raises(FileNotFoundError) as e:
        convert("ic15", images, gt_dir, str(tmp_path / "out.json"), progress=False)
    assert os.path.join(gt_dir, "gt_img_2.txt") in str(e.value) and images in str(e.value)


def test_missing_synthtext_image_names_gt_entry_and_image(tmp_path, synthtext_gt):
    with pytest.raises(FileNotFoundError) as e:
        convert("synthtext", str(tmp_path), synthtext_gt, str(tmp_path / "o.json"),
                progress=False)
    assert f"{synthtext_gt} (entry 0, 8/ballet_106_0.jpg)" in str(e.value)
    assert os.path.join(str(tmp_path), "8/ballet_106_0.jpg") in str(e.value)


# --- Converter ----------------------------------------------------------------------------

# format: (images, ground truth, {file_name: (height, width, instances, don't-care)})
CONVERSIONS = {
    "ic13": ("ic13/train_images", "ic13/train_gt", {"100.jpg": (120, 200, 3, 0)}),
    "ic15": ("ic15/images", "ic15/gt", {"img_1.jpg": (72, 128, 5, 1),
                                        "img_2.png": (48, 64, 0, 0)}),
    "totaltext": ("totaltext/images", "totaltext/gt", {"img11.jpg": (200, 300, 3, 1),
                                                       "img12.jpg": (90, 120, 3, 1)}),
    "mlt17": ("mlt17/images", "mlt17/gt", {"img_1.jpg": (80, 100, 5, 3)}),
    "synthtext": ("synthtext", None, {"8/ballet_106_0.jpg": (64, 96, 3, 0),
                                      "8/ballet_106_1.jpg": (60, 80, 1, 0)}),
}


@pytest.mark.parametrize("fmt", sorted(CONVERSIONS))
def test_converter_cli_writes_json_that_the_loader_reads(tmp_path, synthtext_gt, fmt):
    images, gt, expected = CONVERSIONS[fmt]
    out = tmp_path / "split" / "test.json"
    main([fmt, "--images", fixture(images), "--gt", fixture(gt) if gt else synthtext_gt,
          "--out", str(out), "--no-progress"])
    with open(out, encoding="utf-8") as f:
        data = json.load(f)
    dicts = load_text_json(str(out), fixture(images))
    assert [d["file_name"] for d in dicts] == [fixture(images, n) for n in expected]
    for d, (height, width, num, num_ignored) in zip(dicts, expected.values()):
        assert (d["height"], d["width"]) == (height, width)
        assert len(d["annotations"]) == num
        assert sum(a["ignore"] for a in d["annotations"]) == num_ignored
    reader_words = [w for img in READERS[fmt](fixture(images), fixture(gt) if gt
                                              else synthtext_gt) for w in img.words]
    assert [(a["segmentation"], a["text"], bool(a["ignore"])) for a in data["annotations"]] == [
        ([w.polygon], w.text, w.ignore) for w in reader_words]
    assert [a["id"] for a in data["annotations"]] == list(range(1, len(reader_words) + 1))


def test_converted_boxes_and_areas(tmp_path):
    data = convert("ic15", fixture("ic15", "images"), fixture("ic15", "gt"),
                   str(tmp_path / "a.json"), progress=False)
    first = data["annotations"][0]  # (10,10) (60,12) (59,30) (9,28)
    assert first["bbox"] == [9, 10, 51, 20]
    # shoelace: (120-600) + (1800-708) + (1652-270) + (90-280) = 1804, halved
    assert first["area"] == 902
    assert data["categories"] == [{"id": 1, "name": "text"}]


def test_converter_cli_reports_errors_without_a_traceback(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["ic15", "--images", str(tmp_path), "--gt", str(tmp_path / "none"),
              "--out", str(tmp_path / "o.json"), "--no-progress"])
    assert str(tmp_path / "none") in str(e.value.code)


def test_image_size_follows_exif_rotation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    Image.new("RGB", (40, 30)).save(tmp_path / "r.jpg", exif=exif)
    Image.new("RGB", (40, 30)).save(tmp_path / "p.jpg")
    assert image_size(str(tmp_path / "r.jpg")) == (40, 30, True)
    assert image_size(str(tmp_path / "p.jpg")) == (30, 40, False)


# --- Lexicons -----------------------------------------------------------------------------


def test_load_lexicon_drops_bom_crlf_blanks_and_repeats():
    assert load_lexicon(fixture("ic15", "weak.txt")) == ["Genaxis", "Theatre", "Hello"]
    with pytest.raises(FileNotFoundError, match="nothing.txt"):
        load_lexicon(fixture("nothing.txt"))


def test_strong_lexicons_reach_the_dataset_dicts(tmp_path):
    out = str(tmp_path / "test.json")
    main(["ic15", "--images", fixture("ic15", "images"), "--gt", fixture("ic15", "gt"),
          "--out", out, "--lexicons", fixture("ic15", "lexicons"), "--no-progress"])
    dicts = load_text_json(out, fixture("ic15", "images"))
    assert [d["lexicon"] for d in dicts] == [
        ["Genaxis", "Theatre", "[06]", "Hello", "World"], ["nothing"]]
    assert per_image_lexicon(fixture("ic13", "test_lexicons"), "img_1.jpg") == [
        "Tiredness", "kills"]
    with pytest.raises(FileNotFoundError, match=r"voc_img_9\.txt.*--lexicons"):
        per_image_lexicon(fixture("ic15", "lexicons"), "img_9.jpg")


def test_lexicon_files_lists_those_that_exist(tmp_path):
    (tmp_path / "weak.txt").write_text("a\n")
    (tmp_path / "full.txt").write_text("b\n")
    assert lexicon_files(str(tmp_path)) == {"weak": str(tmp_path / "weak.txt"),
                                            "full": str(tmp_path / "full.txt")}


# --- Built-in registration ----------------------------------------------------------------


@pytest.fixture
def fresh_catalogs(monkeypatch):
    monkeypatch.setattr(text_datasets, "DatasetCatalog", _DatasetCatalog())
    monkeypatch.setattr(text_datasets, "MetadataCatalog", _MetadataCatalog())
    return text_datasets.DatasetCatalog, text_datasets.MetadataCatalog


def test_builtin_benchmarks_are_registered_with_their_layout(tmp_path, fresh_catalogs):
    catalog, metadata = fresh_catalogs
    (tmp_path / "icdar2015" / "lexicons").mkdir(parents=True)
    shutil.copy(fixture("ic15", "weak.txt"), tmp_path / "icdar2015" / "lexicons" / "weak.txt")
    text_datasets.register_builtin(str(tmp_path))
    names = {"ic13_train", "ic13_test", "ic15_train", "ic15_test", "totaltext_train",
             "totaltext_test", "synthtext", "mlt17_train"}
    assert names <= set(catalog.list())
    meta = metadata.get("ic15_test")
    assert meta.json_file == str(tmp_path / "icdar2015" / "test.json")
    assert meta.image_root == str(tmp_path / "icdar2015" / "test_images")
    assert meta.lexicons == {"weak": str(tmp_path / "icdar2015" / "lexicons" / "weak.txt")}
    assert metadata.get("totaltext_test").lexicons == {}
    assert metadata.get("synthtext").image_root == str(tmp_path / "synthtext" / "images")
    assert meta.thing_classes == ["text"] and meta.evaluator_type == "text"


def test_missing_builtin_benchmark_names_file_and_command(tmp_path, fresh_catalogs):
    catalog, _ = fresh_catalogs
    text_datasets.register_builtin(str(tmp_path))
    with pytest.raises(FileNotFoundError) as e:
        catalog.get("ic15_test")
    base = tmp_path / "icdar2015"
    command = (f"python -m dld_spotter.data.convert ic15 --images {base}/test_images "
               f"--gt {base}/test_gt --out {base}/test.json --lexicons {base}/test_lexicons")
    assert f"{base}/test.json does not exist" in str(e.value) and command in str(e.value)
    with pytest.raises(FileNotFoundError, match=f"--gt {tmp_path}/synthtext/images/gt.mat"):
        catalog.get("synthtext")


def test_the_conversion_command_fills_the_registered_set(tmp_path, fresh_catalogs):
    catalog, _ = fresh_catalogs
    base = tmp_path / "totaltext"
    shutil.copytree(fixture("totaltext", "images"), base / "test_images")
    shutil.copytree(fixture("totaltext", "gt"), base / "test_gt")
    text_datasets.register_builtin(str(tmp_path))
    _, _, command = text_datasets.benchmark_paths(str(tmp_path), "totaltext_test")
    main(command.split()[3:] + ["--no-progress"])
    dicts = catalog.get("totaltext_test")
    assert [len(d["annotations"]) for d in dicts] == [3, 3]


def test_legible_only_drops_images_without_a_legible_word_and_counts_them(tmp_path, caplog):
    """The paper's filtered MLT17: an image whose words are all of another script (or
    ``###``) is dropped, and the count is reported."""
    gt = tmp_path / "gt"
    gt.mkdir()
    (gt / "gt_img_1.txt").write_text("10,10,50,10,50,30,10,30,Latin,HELLO\n", encoding="utf-8")
    (gt / "gt_img_2.txt").write_text("60,10,90,10,90,30,60,30,Arabic,abc\n"
                                     "5,40,40,40,40,60,5,60,Latin,###\n", encoding="utf-8")
    images = tmp_path / "images"
    images.mkdir()
    for name in ("img_1.jpg", "img_2.jpg"):
        shutil.copy(fixture("mlt17", "images", "img_1.jpg"), images / name)
    out = tmp_path / "train.json"
    with caplog.at_level(logging.INFO, logger="dld_spotter.data.convert"):
        data = convert("mlt17", str(images), str(gt), str(out), progress=False,
                       legible_only=True)
    assert [d["file_name"] for d in data["images"]] == ["img_1.jpg"]
    assert data["info"] == {"filter": "legible_only", "kept_images": 1, "dropped_images": 1}
    assert "kept 1 of 2 images" in caplog.text
    everything = convert("mlt17", str(images), str(gt), str(out), progress=False)
    assert len(everything["images"]) == 2 and "info" not in everything
