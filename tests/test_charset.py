import pytest
import torch

from dld_spotter.charset import EOS, IGNORE, Charset


def test_default_charset_is_printable_ascii_plus_eos():
    cs = Charset()
    assert len(cs) == 95 and cs.num_classes == 96
    assert cs.max_length == 25 and cs.seq_length == 26
    assert "A" in cs.chars and "a" in cs.chars and " " in cs.chars and "~" in cs.chars


def test_encode_decode_round_trip_and_padding():
    cs = Charset(max_length=6)
    targets, stats = cs.encode_batch(["Hi!", "abcdef"])
    assert not stats
    assert targets.shape == (2, 7)
    assert targets[0, 3].item() == EOS and (targets[0, 4:] == IGNORE).all()
    assert targets[1, 6].item() == EOS
    assert cs.decode_batch(targets) == ["Hi!", "abcdef"]


def test_unencodable_words_are_counted_not_lost():
    cs = Charset(max_length=5)
    targets, stats = cs.encode_batch(["ok", "café", "toolong", "naïve"])
    assert (targets[1] == IGNORE).all() and (targets[2] == IGNORE).all()
    assert (targets[3] == IGNORE).all() and targets[0, 2].item() == EOS
    assert stats.num_unknown_words == 2 and stats.num_too_long == 1
    assert set(stats.unknown_chars) == {"é", "ï"}
    assert "2 word(s)" in stats.summary() and "é" in stats.summary()


def test_case_insensitive_charset_lowercases():
    cs = Charset("abc", case_sensitive=False)
    assert cs.encode("ABC") == [1, 2, 3]
    assert cs.decode(torch.tensor([3, 2, EOS, 1])) == "cb"


def test_charset_from_file(tmp_path):
    f = tmp_path / "chars.txt"
    f.write_text("α\nβ\n \nγ\n", encoding="utf-8")
    cs = Charset.from_file(str(f), max_length=4)
    assert cs.chars == "αβ γ"
    assert cs.decode(cs.encode("γ α")) == "γ α"
    bad = tmp_path / "bad.txt"
    bad.write_text("ab\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.txt:1"):
        Charset.from_file(str(bad))
    with pytest.raises(FileNotFoundError, match="CHARSET_FILE"):
        Charset.from_file(str(tmp_path / "missing.txt"))


def test_duplicate_characters_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        Charset("abca")
