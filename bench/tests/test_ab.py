import pytest

from bench.ab import Drain, parse_variant, rotated, summarize
from bench.stats import parse_settings


def test_variant_names_its_settings():
    assert parse_variant("nocomp:spark.sql.inMemoryColumnarStorage.compressed=false") == (
        "nocomp", {"spark.sql.inMemoryColumnarStorage.compressed": "false"})
    assert parse_variant(" two : a=1 , b = x=y ") == ("two", {"a": "1", "b": "x=y"})


@pytest.mark.parametrize("text", ["nocolon", ":a=1", "baseline:a=1", "v:novalue", "v:=1"])
def test_malformed_variants_are_refused_with_the_flag_named(text):
    with pytest.raises(ValueError, match="--ab"):
        parse_variant(text)


def test_settings_must_be_key_value():
    assert parse_settings(["a=1", "b="]) == {"a": "1", "b": ""}
    with pytest.raises(ValueError, match="--conf 'oops' is not KEY=VALUE"):
        parse_settings(["oops"])


def test_summary_takes_medians_per_variant_in_first_seen_order():
    def drain(variant, rate, records, index):
        return Drain(variant, rate, {"records": records, "users_by_hour": index})

    drains = [drain("baseline", 100, 5, 10), drain("v", 120, 4, 10), drain("baseline", 90, 6, 11),
              drain("v", 130, 3, 9), drain("baseline", 95, 7, 12), drain("v", 110, 5, 11)]
    summary = summarize(drains)
    assert list(summary) == ["baseline", "v"]
    assert summary["baseline"] == {"drains": 3, "events_per_s": 95, "records_s": 6, "users_by_hour_s": 11}
    assert summary["v"] == {"drains": 3, "events_per_s": 120, "records_s": 4, "users_by_hour_s": 10}


def test_each_round_starts_one_turn_further_so_every_turn_leads_once():
    turns = ["baseline", "a", "b"]
    rounds = [rotated(turns, r) for r in range(3)]
    assert rounds == [["baseline", "a", "b"], ["a", "b", "baseline"], ["b", "baseline", "a"]]
    assert [r[0] for r in rounds] == turns and all(sorted(r) == sorted(turns) for r in rounds)
