"""Loading and registering text data sets in the project's JSON format."""
import json
import logging
import os

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.catalog import _DatasetCatalog, _MetadataCatalog
from detectron2.structures import BoxMode

from dld_spotter.data import datasets as text_datasets
from dld_spotter.data import load_text_json, register_text_dataset

LOGGER = "dld_spotter.data.datasets"


def _square(x, y, s=10):
    return [x, y, x + s, y, x + s, y + s, x, y + s]


def _write(tmp_path, data, images=("a.jpg",)):
    for name in images:
        (tmp_path / name).write_bytes(b"")
    path = tmp_path / "split.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def _valid(**overrides):
    ann = {"id": 7, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1],
           "segmentation": [_square(5, 6)], "text": "Hello", "ignore": 0, "iscrowd": 0}
    ann.update(overrides)
    return {"images": [{"id": 1, "file_name": "a.jpg", "height": 40, "width": 50}],
            "annotations": [ann], "categories": [{"id": 1, "name": "text"}]}


def test_round_trip_of_the_synthetic_set(synth_dataset):
    train_name, val_name, root = synth_dataset
    with open(os.path.join(root, "train.json")) as f:
        data = json.load(f)
    dicts = load_text_json(os.path.join(root, "train.json"), os.path.join(root, "train"))
    assert len(dicts) == len(data["images"]) == 6
    anns = [a for d in dicts for a in d["annotations"]]
    assert len(anns) == len(data["annotations"]) > 6
    by_image = {img["id"]: img for img in data["images"]}
    for d in dicts:
        img = by_image[d["image_id"]]
        assert os.path.isabs(d["file_name"]) or d["file_name"].startswith(root)
        assert os.path.isfile(d["file_name"]) and d["file_name"].endswith(img["file_name"])
        assert (d["height"], d["width"]) == (img["height"], img["width"])
    for ann, src in zip(anns, data["annotations"]):
        assert ann["segmentation"] == src["segmentation"]
        assert ann["bbox"] == pytest.approx(src["bbox"], abs=0.02)
        assert ann["bbox_mode"] == BoxMode.XYWH_ABS and ann["category_id"] == 0
        assert (ann["text"], ann["ignore"]) == (src["text"], src["ignore"])
    assert DatasetCatalog.get(val_name) == load_text_json(
        os.path.join(root, "val.json"), os.path.join(root, "val"))
    meta = MetadataCatalog.get(train_name)
    assert meta.thing_classes == ["text"] and meta.evaluator_type == "text"
    assert meta.json_file == os.path.join(root, "train.json")
    assert meta.image_root == os.path.join(root, "train")


def test_register_stores_extra_metadata(tmp_path):
    json_file = _write(tmp_path, _valid())
    register_text_dataset("test_datasets_extra_meta", json_file, str(tmp_path), lexicon="x.txt")
    assert MetadataCatalog.get("test_datasets_extra_meta").lexicon == "x.txt"
    assert DatasetCatalog.get("test_datasets_extra_meta")[0]["annotations"][0]["text"] == "Hello"


def test_summary_is_logged(tmp_path, caplog):
    data = _valid()
    data["annotations"].append(dict(data["annotations"][0], id=8, text="###", ignore=1))
    json_file = _write(tmp_path, data)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        dicts = load_text_json(json_file, str(tmp_path))
    assert [a["ignore"] for a in dicts[0]["annotations"]] == [0, 1]
    assert "1 images, 2 text instances (1 don't-care)" in caplog.text
    assert json_file in caplog.text


@pytest.mark.parametrize(
    "data, key",
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "top level"),
        ({"images": []}, "'annotations'"),
        ({"images": [{"id": 1, "height": 4, "width": 4}], "annotations": []}, "'file_name'"),
        (_valid(text=None), "'text' must be a string"),
        (_valid(segmentation="abc"), "'segmentation'"),
        (_valid(segmentation=[[1, 2, 3]]), "odd number"),
        ({"images": _valid()["images"], "annotations": [{"id": 3, "image_id": 1,
                                                         "segmentation": [_square(0, 0)]}]},
         "'text'"),
    ],
)
def test_bad_format_names_file_and_key(tmp_path, data, key):
    json_file = _write(tmp_path, data)
    with pytest.raises(ValueError) as e:
        load_text_json(json_file, str(tmp_path))
    message = str(e.value)
    assert json_file in message and key in message and "datasets/README.md" in message


def test_missing_key_error_names_the_annotation(tmp_path):
    data = _valid()
    del data["annotations"][0]["text"]
    with pytest.raises(ValueError, match=r"annotations\[0\] has no key 'text'"):
        load_text_json(_write(tmp_path, data), str(tmp_path))


def test_degenerate_polygons_are_skipped_with_a_warning(tmp_path, caplog):
    data = _valid()
    data["annotations"] += [dict(data["annotations"][0], id=i, segmentation=[[1, 2, 3, 4]])
                            for i in range(100, 107)]
    json_file = _write(tmp_path, data)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        dicts = load_text_json(json_file, str(tmp_path))
    assert [a["text"] for a in dicts[0]["annotations"]] == ["Hello"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert json_file in message and "skipped 7 annotation(s)" in message
    assert "ids 100, 101, 102, 103, 104, ..." in message and "106" not in message


def test_unknown_image_is_skipped_with_a_warning(tmp_path, caplog):
    data = _valid()
    data["annotations"].append(dict(data["annotations"][0], id=42, image_id=99))
    json_file = _write(tmp_path, data)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        dicts = load_text_json(json_file, str(tmp_path))
    assert len(dicts[0]["annotations"]) == 1
    assert "skipped 1 annotation(s) whose image_id is not in 'images' (ids 42)" in caplog.text


def test_empty_text_becomes_dont_care(tmp_path, caplog):
    data = _valid(text="")
    data["annotations"].append(dict(data["annotations"][0], id=8, text="###", ignore=0))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        dicts = load_text_json(_write(tmp_path, data), str(tmp_path))
    assert [(a["text"], a["ignore"]) for a in dicts[0]["annotations"]] == [("###", 1)] * 2
    assert "1 instance(s) with an empty text made don't-care" in caplog.text


def test_missing_images_name_the_first_and_count(tmp_path):
    data = _valid()
    data["images"] += [{"id": i, "file_name": f"gone{i}.jpg", "height": 9, "width": 9}
                       for i in (2, 3)]
    with pytest.raises(FileNotFoundError, match=r"2 image file\(s\) do not exist.*gone2\.jpg"):
        load_text_json(_write(tmp_path, data), str(tmp_path))


def test_missing_json_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        load_text_json(str(tmp_path / "nothing.json"), str(tmp_path))


def test_builtin_synth_says_how_to_generate_it(tmp_path, monkeypatch):
    assert {"synth_train", "synth_val"} <= set(DatasetCatalog.list())
    assert MetadataCatalog.get("synth_val").json_file.endswith(os.path.join("synth", "val.json"))
    text_datasets.register_builtin(str(tmp_path))  # already registered: a no-op, no error
    if os.getenv("DLD_DATASETS"):
        pytest.skip("DLD_DATASETS is set: the built-in set may exist")
    monkeypatch.chdir(tmp_path)  # "datasets/" (the default root) does not exist here
    with pytest.raises(FileNotFoundError) as e:
        DatasetCatalog.get("synth_train")
    assert "python -m dld_spotter.data.synth --out datasets/synth --num-train" in str(e.value)


def test_builtin_root_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DLD_DATASETS", str(tmp_path))
    monkeypatch.setattr(text_datasets, "DatasetCatalog", _DatasetCatalog())
    monkeypatch.setattr(text_datasets, "MetadataCatalog", _MetadataCatalog())
    text_datasets.register_builtin(text_datasets.builtin_root())
    meta = text_datasets.MetadataCatalog.get("synth_train")
    assert meta.json_file == os.path.join(str(tmp_path), "synth", "train.json")
    assert meta.image_root == os.path.join(str(tmp_path), "synth", "train")
    with pytest.raises(FileNotFoundError, match=f"--out {tmp_path}/synth --num-train 2000"):
        text_datasets.DatasetCatalog.get("synth_val")


# Non-finite ground truth fails at load, naming the file, the image and the annotation.
def test_non_finite_coordinates_fail_at_load(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    for bad in ("NaN", "Infinity"):
        path = tmp_path / "split.json"
        path.write_text('{"images": [{"id": 3, "file_name": "a.jpg", "height": 40, "width": 50}],'
                        ' "annotations": [{"id": 7, "image_id": 3, "text": "Hi", "segmentation":'
                        f' [[0, 0, 10, 0, 10, {bad}, 0, 10]]}}]}}')
        with pytest.raises(ValueError, match=r"split.json: annotation 7 \(image 3\).*NaN or "
                                             "infinite"):
            load_text_json(str(path), str(tmp_path))
    path.write_text('{"images": [{"id": 3, "file_name": "a.jpg", "height": NaN, "width": 50}],'
                    ' "annotations": []}')
    with pytest.raises(ValueError, match=r"images\[0\] \(id 3\): height nan"):
        load_text_json(str(path), str(tmp_path))
