"""The taxonomy (spec 3.5): validation rules and the mapping of probabilities."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ArtifactError
from engine.labels import LABEL_ORDER, MIXED_UNKNOWN
from engine.taxonomy import (
    OTHER_BUCKET,
    Taxonomy,
    load_taxonomy,
    parse_taxonomy_text,
    taxonomy_from_obj,
)

SPEC_TOML = """
version = "1"
reject_label = "Mixed/Unknown"
aggregation = "sum"
[[buckets]]
name = "Deep Work"
core_labels = ["Build", "Debug", "Write"]
color = "#2E7D32"
[[buckets]]
name = "Meetings & Chat"
core_labels = ["Meet", "Communicate"]
color = "#1565C0"
[reweight]
Review = 1.2
"""


def test_spec_example_loads_with_an_automatic_other_bucket(tmp_path: Path) -> None:
    p = tmp_path / "taxonomy.toml"
    p.write_text(SPEC_TOML)
    t = load_taxonomy(p)
    assert t.names == ("Deep Work", "Meetings & Chat", OTHER_BUCKET)
    assert t.buckets[-1].core_labels == ("BreakIdle", "ReadResearch", "Review")
    assert t.bucket_of("Debug") == "Deep Work"
    assert t.bucket_of("Review") == OTHER_BUCKET
    assert t.bucket_of(MIXED_UNKNOWN) == "Mixed/Unknown"
    assert t.color_of("Deep Work") == "#2E7D32"
    assert t.reweight == {"Review": 1.2}


def test_json_and_toml_are_equivalent(tmp_path: Path) -> None:
    a = parse_taxonomy_text(SPEC_TOML, fmt="toml")
    j = tmp_path / "t.json"
    j.write_text(json.dumps(a.to_json()))
    b = load_taxonomy(j)
    assert b.to_json() == a.to_json()


def test_identity_taxonomy_is_one_bucket_per_label() -> None:
    t = Taxonomy.identity()
    assert t.names == LABEL_ORDER and t.is_identity
    m = t.mapper(LABEL_ORDER)
    p = [0.1, 0.2, 0.05, 0.05, 0.3, 0.1, 0.1, 0.1]
    assert m.map_probs(p) == pytest.approx(dict(zip(LABEL_ORDER, p, strict=True)))
    assert m.map_label("Build") == "Build" and m.map_label(MIXED_UNKNOWN) == MIXED_UNKNOWN


def test_sum_split_and_reweight() -> None:
    t = taxonomy_from_obj(
        {
            "buckets": [
                {"name": "A", "core_labels": ["Build", "Debug"], "color": "#000000"},
                {"name": "B", "core_labels": ["Debug", "Meet"], "color": "#111111"},
            ],
            "reweight": {"Meet": 2.0},
        }
    )
    order = LABEL_ORDER
    p = dict.fromkeys(order, 0.0)
    p.update(Build=0.4, Debug=0.4, Meet=0.2)
    got = t.mapper(order).map_probs([p[k] for k in order])
    # Debug splits evenly (0.2 each); Meet doubles to 0.4; Other gets nothing.
    raw = {"A": 0.4 + 0.2, "B": 0.2 + 0.4, OTHER_BUCKET: 0.0}
    s = sum(raw.values())
    assert got == pytest.approx({k: v / s for k, v in raw.items()})


def test_max_aggregation() -> None:
    t = taxonomy_from_obj(
        {"aggregation": "max", "buckets": [{"name": "Code", "core_labels": ["Build", "Debug"], "color": "#222222"}]}
    )
    p = dict.fromkeys(LABEL_ORDER, 0.05)
    p.update(Build=0.3, Debug=0.35)
    got = t.mapper(LABEL_ORDER).map_probs([p[k] for k in LABEL_ORDER])
    raw = {"Code": 0.35, OTHER_BUCKET: 0.05}
    assert got == pytest.approx({k: v / 0.4 for k, v in raw.items()})


@given(
    p=st.lists(st.floats(1e-12, 1.0), min_size=8, max_size=8),
    weights=st.dictionaries(st.sampled_from(LABEL_ORDER), st.floats(0.01, 100)),
    agg=st.sampled_from(["sum", "max"]),
)
def test_mapped_probs_always_sum_to_one(p: list[float], weights: dict[str, float], agg: str) -> None:
    t = taxonomy_from_obj(
        {
            "aggregation": agg,
            "reweight": weights,
            "buckets": [
                {"name": "X", "core_labels": ["Build", "Review"]},
                {"name": "Y", "core_labels": ["Review", "Meet", "Write"]},
            ],
        }
    )
    s = sum(p)
    m = t.mapper(LABEL_ORDER).map_probs([v / s for v in p])
    assert set(m) == {"X", "Y", OTHER_BUCKET}
    assert abs(sum(m.values()) - 1) < 1e-9 and all(v >= 0 for v in m.values())


@pytest.mark.parametrize(
    ("obj", "field", "text"),
    [
        ([], None, "table"),
        ({"buckets": []}, "buckets", "non-empty"),
        ({"version": "2", "buckets": [{"name": "a", "core_labels": ["Build"]}]}, "version", "unsupported"),
        ({"aggregation": "mean", "buckets": [{"name": "a", "core_labels": ["Build"]}]}, "aggregation", "'sum' or 'max'"),
        ({"buckets": [{"name": "", "core_labels": ["Build"]}]}, "buckets[0].name", "non-empty"),
        ({"buckets": [{"name": "a", "core_labels": ["Build"]}, {"name": "a", "core_labels": ["Meet"]}]}, "buckets[1].name", "duplicate"),
        ({"buckets": [{"name": "a", "core_labels": ["Coding"]}]}, "buckets[0].core_labels", "'Coding' is not a core label"),
        ({"buckets": [{"name": "a", "core_labels": []}]}, "buckets[0].core_labels", "non-empty"),
        ({"buckets": [{"name": "a", "core_labels": ["Build"], "color": "green"}]}, "buckets[0].color", "#RRGGBB"),
        ({"buckets": [{"name": "a", "core_labels": ["Build"], "color": "#12345"}]}, "buckets[0].color", "#RRGGBB"),
        ({"buckets": [{"name": "a", "core_labels": ["Build"]}], "reweight": {"Build": 0}}, "reweight.Build", "> 0"),
        ({"buckets": [{"name": "a", "core_labels": ["Build"]}], "reweight": {"Gaming": 1}}, "reweight.Gaming", "not a core label"),
        ({"buckets": [{"name": "Mixed/Unknown", "core_labels": ["Build"]}]}, "buckets[0].name", "reject_label"),
        ({"reject_label": "", "buckets": [{"name": "a", "core_labels": ["Build"]}]}, "reject_label", "non-empty"),
    ],
)
def test_refusals(obj: object, field: str | None, text: str) -> None:
    with pytest.raises(ArtifactError, match=re.escape(text)) as ei:
        taxonomy_from_obj(obj, path=Path("taxonomy.toml"))
    msg = str(ei.value)
    assert msg.startswith("taxonomy.toml") and text in msg
    if field:
        assert field in msg


def test_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "taxonomy.toml"
    bad.write_text("version = ")
    with pytest.raises(ArtifactError, match="not valid TOML"):
        load_taxonomy(bad)
    big = tmp_path / "big.toml"
    big.write_text("#" * 300_000)
    with pytest.raises(ArtifactError, match="too large"):
        load_taxonomy(big)
    with pytest.raises(ArtifactError, match="not found"):
        load_taxonomy(tmp_path / "none.toml")


def test_user_named_other_bucket_collects_uncovered_labels() -> None:
    t = taxonomy_from_obj({"buckets": [{"name": "Other", "core_labels": ["Meet"]}, {"name": "Code", "core_labels": ["Build"]}]})
    assert t.names == ("Code", "Other")
    assert set(t.buckets[-1].core_labels) == set(LABEL_ORDER) - {"Build"}
