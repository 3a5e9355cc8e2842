"""Protocol presets (dld_spotter.evaluation.presets): the benchmarks' lexicon modes and the
preset of a data set."""
import pytest

from dld_spotter.evaluation import get_preset, preset_for_dataset


def test_presets():
    assert get_preset("ic13").lexicon_modes == ("none", "strong", "weak", "generic")
    assert get_preset("totaltext").lexicon_modes == ("none", "full")
    assert preset_for_dataset("icdar2015_test").name == "ic15"
    assert preset_for_dataset("totaltext_test").name == "totaltext"
    assert preset_for_dataset("synth_val").name == "plain"
    assert preset_for_dataset("synth_val", "ic13").name == "ic13"
    with pytest.raises(ValueError, match="unknown protocol"):
        get_preset("ic17")
    with pytest.raises(ValueError, match="unknown lexicon mode"):
        get_preset("ic15").with_modes(("strong", "huge"))
