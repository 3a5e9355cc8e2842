"""Bad data never takes the machine down: coordinates far outside the image, image
files that are 16-bit, GIFs or folders, and native ground truth with NaN, zero-area,
self-intersecting or out-of-image polygons."""
import json
import logging
import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
from PIL import Image
from testing import REPO, TEACHER_TINY

from dld_spotter.config import load_config
from dld_spotter.data import load_text_json
from dld_spotter.data.convert import convert, main
from dld_spotter.data.formats import GroundTruthError, image_size, read_ic15_file
from dld_spotter.data.image_io import read_image
from dld_spotter.data.mapper import TextDatasetMapper

LOADER = "dld_spotter.data.datasets"
BIG = [0, 0, 1e9, 0, 1e9, 1e9, 0, 1e9]  # the polygon


def quad(x0, y0, x1, y1):
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def write_split(tmp_path, polygons, height=120, width=160):
    """An image of ``height`` x ``width`` and a split whose annotation k (id 10 + k) has
    ``polygons[k]``; the split's path."""
    cv2.imwrite(str(tmp_path / "a.jpg"), np.full((height, width, 3), 128, np.uint8))
    data = {"images": [{"id": 3, "file_name": "a.jpg", "height": height, "width": width}],
            "annotations": [{"id": 10 + k, "image_id": 3, "segmentation": [p], "text": f"w{k}"}
                            for k, p in enumerate(polygons)]}
    path = tmp_path / "split.json"
    path.write_text(json.dumps(data))
    return str(path)


# --- Coordinates: one rule in the loader (training and evaluation) and the mapper -----------


@pytest.mark.parametrize("polygon, kind", [
    (BIG, "far outside"),
    ([0, 0, 1e8, 0, 1e8, 50, 0, 50], "far outside"),
    ([-1e9, 5, 20, 5, 20, 30], "far outside"),
    (quad(-50, -40, -10, -5), "wholly outside"),  # all negative
    (quad(200, 10, 300, 40), "wholly outside"),  # right of a 160 px wide image
    ([10, 10, 50, 10, 90, 10, 40, 10], "zero area"),  # collinear
    ([10, 10, 10, 10, 10, 10], "zero area"),  # one point thrice
])
def test_the_loader_drops_unusable_polygons_naming_file_annotation_and_image(
        tmp_path, caplog, polygon, kind):
    json_file = write_split(tmp_path, [quad(10, 10, 60, 30), polygon])
    with caplog.at_level(logging.WARNING, logger=LOADER):
        dicts = load_text_json(json_file, str(tmp_path))
    assert [a["text"] for a in dicts[0]["annotations"]] == ["w0"]
    message = caplog.text
    assert json_file in message and kind in message
    assert "annotation 11 of image 3 (a.jpg)" in message
    assert "160 x 120" in message or kind == "zero area"


def test_the_loader_keeps_polygons_a_little_outside_and_bow_ties(tmp_path, caplog):
    kept = [quad(-5, -3, 40, 20),  # a few pixels outside, as in the benchmarks
            [10, 10, 60, 40, 60, 10, 10, 40],  # a bow-tie: area > 0
            quad(100, 80, 170, 125)]  # partly outside
    with caplog.at_level(logging.WARNING, logger=LOADER):
        dicts = load_text_json(write_split(tmp_path, kept), str(tmp_path))
    assert len(dicts[0]["annotations"]) == 3 and not caplog.text


def test_a_word_in_parts_keeps_its_usable_parts(tmp_path):
    json_file = write_split(tmp_path, [])
    data = json.loads(open(json_file).read())
    data["annotations"] = [{"id": 1, "image_id": 3, "text": "two",
                            "segmentation": [quad(10, 10, 30, 20), BIG]}]
    open(json_file, "w").write(json.dumps(data))
    ann = load_text_json(json_file, str(tmp_path))[0]["annotations"][0]
    assert ann["segmentation"] == [quad(10, 10, 30, 20)] and ann["bbox"] == [10, 10, 20, 10]


def test_the_mapper_drops_far_outside_polygons_of_dicts_from_elsewhere(tmp_path, caplog):
    """A dict that did not come from load_text_json (another loader, a user's registration)."""
    cv2.imwrite(str(tmp_path / "a.jpg"), np.full((120, 160, 3), 128, np.uint8))
    annos = [{"id": i, "segmentation": [p], "category_id": 0, "text": "ab", "iscrowd": 0,
              "bbox": [0, 0, 1, 1], "bbox_mode": 1} for i, p in enumerate([quad(10, 10, 60, 30),
                                                                             BIG])]
    mapper = TextDatasetMapper(load_config(TEACHER_TINY), is_train=True)
    with caplog.at_level(logging.WARNING, logger="dld_spotter.data.mapper"):
        out = mapper({"file_name": str(tmp_path / "a.jpg"), "height": 120, "width": 160,
                      "image_id": 0, "annotations": annos})
    assert len(out["instances"]) == 1 and mapper.counts["bad_polygons"] == 1
    assert "a.jpg: annotation #1 (id 1): dropped a polygon with a coordinate far outside" in (
        caplog.text)


MEMORY_GUARD = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from dld_spotter.config import load_config
    from dld_spotter.data import load_text_json
    from dld_spotter.data.mapper import TextDatasetMapper

    # torch reserves ~4 GB of address space on import: the limit is 3 GB on top of that.
    with open("/proc/self/status") as f:
        size = int(f.read().split("VmSize:")[1].split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size + (3 << 30),) * 2)
    json_file, root = sys.argv[1], sys.argv[2]
    mapper = TextDatasetMapper(load_config({config!r}), is_train=True)
    polygons = [[0, 0, 1e9, 0, 1e9, 1e9, 0, 1e9], [10, 10, 60, 10, 60, 30, 10, 30]]
    sources = {{
        "loader": load_text_json(json_file, root)[0],
        # a dict that did not come through the loader (another loader, a user's registration)
        "dict": {{"file_name": root + "/a.jpg", "height": 120, "width": 160, "image_id": 3,
                 "annotations": [{{"id": 10 + k, "segmentation": [p], "category_id": 0,
                                  "text": "ab", "iscrowd": 0}} for k, p in enumerate(polygons)]}},
    }}
    for source, dataset_dict in sources.items():
        for seed in range(4):
            np.random.seed(seed)
            instances = mapper(dataset_dict)["instances"]
            # what the mask head's loss does with the ground truth (detectron2's rasterisation)
            masks = instances.gt_masks.crop_and_resize(instances.gt_boxes.tensor, 28)
        print(source, "mapped", len(instances), tuple(masks.shape), flush=True)
""")


def test_a_1e9_polygon_under_a_memory_limit_is_a_warning_not_a_crash(tmp_path):
    """The issue's polygon grew the process to 23 GB, or segfaulted (exit 139) under a limit,
    through the loader or in a dict from elsewhere given to the mapper."""
    json_file = write_split(tmp_path, [BIG, quad(10, 10, 60, 30)])
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_GUARD.format(config=TEACHER_TINY), json_file,
         str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=REPO,
        env=dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1",
                 OPENBLAS_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["loader mapped 1 (1, 28, 28)",
                                          "dict mapped 1 (1, 28, 28)"]
    assert "split.json: dropped 1 polygon(s) with a coordinate far outside" in result.stderr
    assert "annotation 10 of image 3 (a.jpg): x = 1e+09" in result.stderr
    assert "a.jpg: annotation #0 (id 10): dropped a polygon" in result.stderr


# --- One image reader -----------------------------------------------------------------------


def test_a_16_bit_png_reads_as_its_8_bit_copy(tmp_path):
    ramp = np.linspace(0, 65535, 48 * 64).reshape(48, 64).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), ramp)
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")  # really 16 bits
    cv2.imwrite(str(tmp_path / "flat.png"), np.rint(ramp / 257.0).astype(np.uint8))
    deep, flat = read_image(str(tmp_path / "deep.png")), read_image(str(tmp_path / "flat.png"))
    assert deep.shape == flat.shape == (48, 64, 3) and deep.dtype == np.uint8
    assert np.abs(deep.astype(int) - flat).max() <= 1  # not 99.98 % white


def test_gifs_read_and_folders_named_like_images_are_refused_clearly(tmp_path):
    Image.new("RGB", (30, 20), (10, 200, 30)).save(tmp_path / "mlt.gif")
    assert read_image(str(tmp_path / "mlt.gif"), "RGB")[5, 5].tolist() == [10, 200, 30]
    os.mkdir(tmp_path / "folder.jpg")
    with pytest.raises(IsADirectoryError, match="folder.jpg' is a directory, not an image"):
        read_image(str(tmp_path / "folder.jpg"))
    with pytest.raises(IsADirectoryError, match="is a directory"):
        image_size(str(tmp_path / "folder.jpg"))
    (tmp_path / "not.png").write_bytes(b"text")
    with pytest.raises(OSError, match="not.png' cannot be decoded"):
        image_size(str(tmp_path / "not.png"))


def test_the_mapper_reads_16_bit_images(tmp_path):
    ramp = np.linspace(0, 65535, 48 * 64).reshape(48, 64).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), ramp)
    mapper = TextDatasetMapper(load_config(TEACHER_TINY, ["INPUT.MIN_SIZE_TEST", "48",
                                                          "INPUT.MAX_SIZE_TEST", "64"]),
                               is_train=False)
    image = mapper({"file_name": str(tmp_path / "deep.png"), "height": 48, "width": 64,
                    "image_id": 0})["image"]
    assert abs(image.float().mean().item() - 127.5) < 2


# --- Converters -----------------------------------------------------------------------------


def ic15(tmp_path, lines, size=(160, 120)):
    """An IC15 layout holding one image of ``size`` and its ground truth ``lines``."""
    (tmp_path / "images").mkdir()
    (tmp_path / "gt").mkdir()
    Image.new("RGB", size).save(tmp_path / "images" / "img_1.jpg")
    (tmp_path / "gt" / "gt_img_1.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(tmp_path / "images"), str(tmp_path / "gt")


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity", "NaN"])
def test_non_finite_ic15_coordinates_are_an_error_naming_file_and_line(tmp_path, value):
    images, gt = ic15(tmp_path, ["1,2,30,2,30,20,1,20,ok", f"1,2,30,2,30,{value},1,20,bad"])
    with pytest.raises(SystemExit) as e:
        main(["ic15", "--images", images, "--gt", gt, "--out", str(tmp_path / "o.json"),
              "--no-progress"])
    message = str(e.value.code)
    assert "gt_img_1.txt, line 2" in message and "not a finite number" in message
    assert not (tmp_path / "o.json").exists()


def test_non_finite_coordinates_in_the_other_formats(tmp_path):
    path = tmp_path / "poly_gt_img1.txt"
    path.write_text("1,2,30,2,nan,20,word\n")
    from dld_spotter.data.formats import read_totaltext_file
    with pytest.raises(GroundTruthError, match=r"poly_gt_img1.txt, line 1: 'nan' is not a finite"):
        read_totaltext_file(str(path))
    path.write_text("x: [[1 30 inf]], y: [[2 2 20]], ornt: [u'h'], transcriptions: [u'a']\n")
    with pytest.raises(GroundTruthError, match="'inf' is not a finite"):
        read_totaltext_file(str(path))
    path = tmp_path / "gt_img_1.txt"
    path.write_text("1,2,30,2,30,20,1,inf,Latin,word\n")
    from dld_spotter.data.formats import read_mlt17_file
    with pytest.raises(GroundTruthError, match="line 1: 'inf' is not a finite"):
        read_mlt17_file(str(path))


def test_synthtext_non_finite_boxes_name_the_entry(tmp_path):
    import scipy.io

    cell = np.empty((1, 1), dtype=object)
    box = np.array([[1, 30, 30, 1], [2, 2, np.nan, 12]], dtype=np.float64)
    mat = {}
    for key, value in (("imnames", np.array(["8/a.jpg"])), ("wordBB", box),
                       ("txt", np.array(["word"]))):
        cell = np.empty((1, 1), dtype=object)
        cell[0, 0] = value
        mat[key] = cell
    scipy.io.savemat(str(tmp_path / "gt.mat"), mat)
    from dld_spotter.data.formats import read_synthtext
    with pytest.raises(GroundTruthError, match=r"entry 0, 8/a.jpg\), word 0.*not a finite"):
        list(read_synthtext(str(tmp_path), str(tmp_path / "gt.mat")))


def test_converters_warn_about_polygons_the_loader_drops_naming_file_and_line(tmp_path, caplog):
    images, gt = ic15(tmp_path, [
        "10,10,60,10,60,30,10,30,fine",
        "10,10,60,10,90,10,40,10,zero",  # collinear: zero area
        "10,10,60,40,60,10,10,40,bowtie",  # two points swapped
        "-50,-40,-10,-40,-10,-5,-50,-5,negative",  # all negative
        "0,0,1000000000000,0,1000000000000,50,0,50,huge",  # 1e12
    ])
    with caplog.at_level(logging.WARNING):
        data = convert("ic15", images, gt, str(tmp_path / "o.json"), progress=False)
    assert len(data["annotations"]) == 5  # the JSON mirrors the native ground truth
    log = caplog.text
    gt_file = os.path.join(gt, "gt_img_1.txt")
    for line, what in ((2, "of zero area"), (3, "intersect themselves"),
                       (4, "lying wholly outside"), (5, "far outside")):
        warning = next(r.getMessage() for r in caplog.records if what in r.getMessage())
        assert f"{gt_file}, line {line}" in warning, (what, log)
    assert "fine" not in log and f"{gt_file}, line 1" not in log
    # The loader then drops the same polygons (zero area, outside), the bow-tie stays.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOADER):
        dicts = load_text_json(str(tmp_path / "o.json"), images)
    assert [a["text"] for a in dicts[0]["annotations"]] == ["fine", "bowtie"]


def test_no_nan_reaches_the_written_json(tmp_path):
    images, gt = ic15(tmp_path, ["1,2,30,2,30,20,1,20,ok"])
    convert("ic15", images, gt, str(tmp_path / "o.json"), progress=False)
    assert "NaN" not in (tmp_path / "o.json").read_text()
    assert read_ic15_file(os.path.join(gt, "gt_img_1.txt"))[0].line == 1


def test_a_folder_named_like_an_image_is_not_taken_for_one(tmp_path):
    images, gt = ic15(tmp_path, ["1,2,30,2,30,20,1,20,ok"])
    os.remove(os.path.join(images, "img_1.jpg"))
    os.mkdir(os.path.join(images, "img_1.jpg"))
    with pytest.raises(SystemExit) as e:
        main(["ic15", "--images", images, "--gt", gt, "--out", str(tmp_path / "o.json"),
              "--no-progress"])
    assert "gt_img_1.txt: its image img_1" in str(e.value.code)
    os.rmdir(os.path.join(images, "img_1.jpg"))
    (tmp_path / "images" / "img_1.jpg").write_bytes(b"corrupt")
    with pytest.raises(SystemExit) as e:  # a corrupt image: one line, no traceback
        main(["ic15", "--images", images, "--gt", gt, "--out", str(tmp_path / "o.json"),
              "--no-progress"])
    assert "gt_img_1.txt: its image" in str(e.value.code) and "cannot be decoded" in str(
        e.value.code)
