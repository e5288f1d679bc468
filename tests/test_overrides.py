"""key=value options: one reader for recipe overrides and keyword options."""

from __future__ import annotations

import argparse

import pytest

from sifthinker.overrides import deep_merge, key_value, parse_overrides, parse_value


def test_values_keep_words_as_words_and_read_numbers():
    assert key_value("depth=none") == ("depth", "none")  # a mode name, not Python's None
    assert key_value("instruction=") == ("instruction", "")
    assert key_value("max_new_tokens=64") == ("max_new_tokens", 64)
    assert key_value("lr=1e-5") == ("lr", 1e-05) and key_value("x=null") == ("x", None)
    assert parse_value("[a, 2]") == ["a", 2] and parse_value("yes") is True
    assert key_value("a=b=c") == ("a", "b=c")
    with pytest.raises(argparse.ArgumentTypeError, match="key=value"):
        key_value("novalue")


def test_dotted_overrides_merge_into_groups():
    over = parse_overrides(["lora.r=16", "lora.alpha=32", "seed=3"])
    assert deep_merge({"lora": {"r": 8, "dropout": 0.1}, "seed": 0}, over) == {
        "lora": {"r": 16, "dropout": 0.1, "alpha": 32}, "seed": 3
    }  # fmt: skip
    with pytest.raises(ValueError, match="not a group"):
        parse_overrides(["a=1", "a.b=2"])
    with pytest.raises(ValueError, match="empty part"):
        parse_overrides(["a..b=1"])
