"""Training on several data sets mixed in given ratios (DATASETS.TRAIN_RATIOS)."""
import itertools
import os
import uuid
from collections import Counter

import pytest
from detectron2.data import DatasetCatalog
from testing import FIXTURES

from dld_spotter.config import load_config
from dld_spotter.data import MixedTrainingSampler, build_mixed_train_loader, register_text_dataset
from dld_spotter.data import build as build_module
from dld_spotter.data import mixed as mixed_module
from dld_spotter.data.convert import convert
from dld_spotter.data.mapper import TextDatasetMapper
from dld_spotter.engine import trainer as trainer_module

SIZES, RATIOS = [3, 50, 10], [1.0, 2.0, 1.0]


def _set_of(index):
    """Which of the SIZES-sized sets a concatenated index belongs to."""
    return next(k for k, end in enumerate(itertools.accumulate(SIZES)) if index < end)


def _draw(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def test_sets_are_drawn_in_the_configured_ratios():
    draws = _draw(MixedTrainingSampler(SIZES, RATIOS, seed=0), 8000)
    counts = Counter(_set_of(i) for i in draws)
    for k, ratio in enumerate(RATIOS):
        assert counts[k] / len(draws) == pytest.approx(ratio / sum(RATIOS), abs=0.02)
    assert set(draws) == set(range(sum(SIZES)))


def test_each_set_is_walked_in_random_passes():
    draws = _draw(MixedTrainingSampler(SIZES, RATIOS, seed=1), 2000)
    offset = sum(SIZES[:1])
    from_second = [i - offset for i in draws if _set_of(i) == 1]
    passes = [from_second[j:j + SIZES[1]] for j in range(0, 3 * SIZES[1], SIZES[1])]
    assert all(sorted(p) == list(range(SIZES[1])) for p in passes)  # no repeat within a pass
    assert passes[0] != passes[1] and passes[0] != sorted(passes[0])  # shuffled, anew


def test_the_seed_fixes_the_stream():
    assert _draw(MixedTrainingSampler(SIZES, RATIOS, seed=5), 300) == _draw(
        MixedTrainingSampler(SIZES, RATIOS, seed=5), 300)
    assert _draw(MixedTrainingSampler(SIZES, RATIOS, seed=5), 300) != _draw(
        MixedTrainingSampler(SIZES, RATIOS, seed=6), 300)


def test_ranks_get_disjoint_interleaved_shards(monkeypatch):
    full = _draw(MixedTrainingSampler(SIZES, RATIOS, seed=3), 300)
    monkeypatch.setattr(mixed_module.comm, "get_world_size", lambda: 3)
    for rank in range(3):
        monkeypatch.setattr(mixed_module.comm, "get_rank", lambda r=rank: r)
        assert _draw(MixedTrainingSampler(SIZES, RATIOS, seed=3), 100) == full[rank::3]


@pytest.mark.parametrize("sizes, ratios, match", [
    ([3, 4], [1.0], "1 ratio"),
    ([3, 0], [1.0, 1.0], "positive"),
    ([3, 4], [1.0, -1.0], "positive"),
])
def test_bad_sizes_or_ratios(sizes, ratios, match):
    with pytest.raises(ValueError, match=match):
        MixedTrainingSampler(sizes, ratios, seed=0)


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory):
    """Two registered sets converted from the fixtures: IC15 (2 images), Total-Text (2)."""
    root = tmp_path_factory.mktemp("mixed")
    tag = uuid.uuid4().hex[:8]
    names = []
    for fmt, folder in (("ic15", "ic15"), ("totaltext", "totaltext")):
        images = os.path.join(FIXTURES, folder, "images")
        json_file = str(root / f"{fmt}.json")
        convert(fmt, images, os.path.join(FIXTURES, folder, "gt"), json_file, progress=False)
        names.append(f"test_mixed_{fmt}_{tag}")
        register_text_dataset(names[-1], json_file, images)
    return names


def _cfg(names, ratios):
    return load_config(opts=[
        "DATASETS.TRAIN", str(tuple(names)), "DATASETS.TRAIN_RATIOS", str(tuple(ratios)),
        "SOLVER.IMS_PER_BATCH", "8", "DATALOADER.NUM_WORKERS", "0",
        "DATALOADER.ASPECT_RATIO_GROUPING", "False", "SEED", "0",
    ])


def test_mixed_loader_draws_images_of_each_set_in_ratio(two_sets):
    loader = build_mixed_train_loader(_cfg(two_sets, (1.0, 3.0)), mapper=lambda d: d)
    batches = list(itertools.islice(iter(loader), 25))
    assert all(len(b) == 8 for b in batches)
    folders = Counter(os.path.basename(os.path.dirname(os.path.dirname(d["file_name"])))
                      for b in batches for d in b)
    assert folders["totaltext"] / 200 == pytest.approx(0.75, abs=0.08)


def test_ratios_must_match_the_train_sets(two_sets):
    with pytest.raises(ValueError, match="one ratio per DATASETS.TRAIN entry"):
        build_mixed_train_loader(_cfg(two_sets, (1.0,)), mapper=lambda d: d)


def test_trainer_uses_the_mixed_loader_only_with_ratios(two_sets, monkeypatch):
    calls = []
    monkeypatch.setattr(build_module, "build_mixed_train_loader",
                        lambda cfg, mapper, **kwargs: calls.append("mixed"))
    monkeypatch.setattr(build_module, "build_detection_train_loader",
                        lambda cfg, mapper, **kwargs: calls.append("concat"))
    trainer_module.TextSpotterTrainer.build_train_loader(_cfg(two_sets, (1.0, 1.0)))
    trainer_module.TextSpotterTrainer.build_train_loader(_cfg(two_sets, ()))
    assert calls == ["mixed", "concat"]


def test_each_set_of_a_mix_trains_and_tests_at_its_own_base_size(two_sets):
    """§4.1: one model, each benchmark at its S. IC15 fixture images are 72x128 and 48x64,
    Total-Text's 200x300 and 90x120: every mapped image's shorter side must be its set's
    S x [0.5, 1.0] in training and exactly S in testing."""
    opts = ["DATASETS.TRAIN_BASE_SIZES", "(64, 256)", "INPUT.TEXT_AUG.SCALE_RANGE", "(0.5, 1.0)",
            "INPUT.TEXT_AUG.CROP_PROB", "0.0", "INPUT.TEXT_AUG.ROTATE_PROB", "0.0",
            "INPUT.MIN_SIZE_TRAIN", "(100,)", "INPUT.MAX_SIZE_TRAIN", "1000"]
    cfg = _cfg(two_sets, (1.0, 1.0))
    cfg.merge_from_list(opts)
    mapper = TextDatasetMapper(cfg, is_train=True)
    batches = list(itertools.islice(iter(build_mixed_train_loader(cfg, mapper)), 4))
    for d in (d for b in batches for d in b):
        s = 64 if "ic15" in d["file_name"] else 256
        assert d["base_size"] == s
        assert 0.5 * s - 1 <= min(d["image"].shape[1:]) <= s + 1, (d["file_name"], s)
    cfg.merge_from_list(["DATASETS.TEST", str(tuple(two_sets)),
                         "DATASETS.TEST_BASE_SIZES", "(64, 256)", "INPUT.MIN_SIZE_TEST", "100",
                         "INPUT.MAX_SIZE_TEST", "1000"])
    for name, s in zip(two_sets, (64, 256)):
        loader = trainer_module.TextSpotterTrainer.build_test_loader(cfg, name)
        assert {min(x["image"].shape[1:]) for b in loader for x in b} == {s}
    with pytest.raises(KeyError, match="base_size 99"):
        mapper({**DatasetCatalog.get(two_sets[0])[0], "base_size": 99})


def test_base_sizes_need_one_per_set_and_the_mixed_loader(two_sets):
    cfg = _cfg(two_sets, (1.0, 1.0))
    cfg.merge_from_list(["DATASETS.TRAIN_BASE_SIZES", "(64,)"])
    with pytest.raises(ValueError, match="one size per DATASETS.TRAIN entry"):
        TextDatasetMapper(cfg, is_train=True)
    cfg = _cfg(two_sets, ())
    cfg.merge_from_list(["DATASETS.TRAIN_BASE_SIZES", "(64, 256)"])
    with pytest.raises(ValueError, match="needs DATASETS.TRAIN_RATIOS"):
        TextDatasetMapper(cfg, is_train=True)
