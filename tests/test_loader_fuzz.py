"""Fuzzing the readers of policy, calibrator store, taxonomy and feature rows (spec 7.3).

Whatever the input, a reader either returns a valid object or raises ``ArtifactError`` with a
one-line message: no other exception, no crash. (model.txt is fuzzed only through the
subprocess probe; see test_bundle_probe.py.)
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from engine_helpers import STORE_ISOTONIC, STORE_TEMPERATURE, policy_obj, seed_bundle
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.calibrator_store import load_calibrator_store
from engine.errors import ArtifactError
from engine.labels import LABEL_ORDER
from engine.policy import load_policy, parse_policy
from engine.rows import parse_row, parse_row_line
from engine.schema import MODEL_COLUMNS
from engine.taxonomy import parse_taxonomy_text, taxonomy_from_obj
from tests.conftest import LOADER_FUZZ_EXAMPLES

LOADER = settings(max_examples=LOADER_FUZZ_EXAMPLES)

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20),
    st.integers(-(10**400), 10**400),  # parse fine, but float() of them overflows
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.sampled_from(list(LABEL_ORDER) + ["v1", "v2", "a15f4751a947", "#00FF00", "sum", "max", "../x", "/etc"]),
)
json_value = st.recursive(
    json_leaf,
    lambda c: st.one_of(st.lists(c, max_size=5), st.dictionaries(st.text(max_size=10), c, max_size=5)),
    max_leaves=12,
)


def _mutated(base: dict[str, Any], keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    def apply(changes: dict[str, Any], drops: list[str]) -> dict[str, Any]:
        out = dict(base)
        out.update(changes)
        for k in drops:
            out.pop(k, None)
        return out

    return st.builds(
        apply,
        st.dictionaries(st.sampled_from(keys + ["_help", "extra"]), json_value, max_size=4),
        st.lists(st.sampled_from(keys), max_size=3),
    )


def _one_line(exc: ArtifactError) -> None:
    assert "\n" not in str(exc) and str(exc)


# -- policy ------------------------------------------------------------------------------------
POLICY = policy_obj()


@LOADER
@given(obj=st.one_of(_mutated(POLICY, list(POLICY)), json_value))
def test_policy_objects(obj: Any) -> None:
    try:
        pol = parse_policy(obj)
    except ArtifactError as exc:
        _one_line(exc)
        return
    assert 0 < pol.reject_threshold < 1 and 1 <= pol.smooth_window <= 60


@LOADER
@given(data=st.one_of(
    st.binary(max_size=300),
    st.builds(lambda o: json.dumps(o).encode(), _mutated(POLICY, list(POLICY))),
    st.builds(lambda o, cut: json.dumps(o).encode()[:cut], _mutated(POLICY, list(POLICY)), st.integers(0, 400)),
))
def test_policy_files(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        p = home / "models" / "inference_policy.json"
        p.parent.mkdir()
        p.write_bytes(data)
        try:
            load_policy(home)
        except ArtifactError as exc:  # there is no bundle in this home: always refused
            _one_line(exc)
        else:
            raise AssertionError("a policy without its bundle loaded")


# -- calibrator store -----------------------------------------------------------------------
STORE_META = json.loads((STORE_TEMPERATURE / "store.json").read_text())
ISO_GLOBAL = json.loads((STORE_ISOTONIC / "global.json").read_text())
CAL_VARIANTS = st.one_of(
    _mutated({"type": "temperature", "temperature": 1.1}, ["type", "temperature"]),
    _mutated({"type": "isotonic", "regressors": ISO_GLOBAL["regressors"]}, ["type", "regressors"]),
    st.builds(
        lambda i, k, v: {"type": "isotonic", "regressors": [*ISO_GLOBAL["regressors"][:i], {**ISO_GLOBAL["regressors"][i], k: v}, *ISO_GLOBAL["regressors"][i + 1:]]},
        st.integers(0, 7), st.sampled_from(["X_thresholds_", "y_thresholds_"]),
        st.one_of(json_value, st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=5)),
    ),
    json_value,
)


@LOADER
@given(meta=st.one_of(_mutated(STORE_META, list(STORE_META)), json_value), glob=CAL_VARIANTS, user=CAL_VARIANTS)
def test_store_directories(meta: Any, glob: Any, user: Any) -> None:
    b = seed_bundle()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "users").mkdir()
        (root / "store.json").write_text(json.dumps(meta))
        (root / "global.json").write_text(json.dumps(glob))
        for uid in ("user-a", "user-b", "user-c"):
            (root / "users" / f"{uid}.json").write_text(json.dumps(user))
        try:
            s = load_calibrator_store(root, bundle=b)
        except ArtifactError as exc:
            _one_line(exc)
            return
        for uid in s.user_ids:
            cal, _ = s.lookup(uid)
            out = cal.apply_row([1 / 8] * 8)
            assert out is None or abs(sum(out) - 1) < 1e-9


# -- taxonomy ---------------------------------------------------------------------------------
BASE_TAX = {
    "version": "1", "reject_label": "Mixed/Unknown", "aggregation": "sum",
    "buckets": [{"name": "Deep", "core_labels": ["Build", "Debug"], "color": "#2E7D32"}],
    "reweight": {"Review": 1.2},
}


@LOADER
@given(obj=st.one_of(_mutated(BASE_TAX, list(BASE_TAX)), json_value))
def test_taxonomy_objects(obj: Any) -> None:
    try:
        t = taxonomy_from_obj(obj)
    except ArtifactError as exc:
        _one_line(exc)
        return
    m = t.mapper(LABEL_ORDER).map_probs([1 / 8] * 8)
    assert abs(sum(m.values()) - 1) < 1e-9


#: ``key = 999...9`` with up to 6,000 digits: past 4,300 digits tomllib, json and yaml raise a
#: plain ValueError (Python's int conversion limit), which must still be one line.
huge_number_text = st.builds(
    lambda key, digits, sep: f"{key}{sep}{'9' * digits}\n",
    st.sampled_from(["version", "reject_threshold", "sample_seconds", "x", "buckets"]),
    st.integers(1, 6000), st.sampled_from([" = ", ": ", "="]),
)


@LOADER
@given(text=st.one_of(st.text(max_size=200), st.builds(lambda o: json.dumps(o), json_value), huge_number_text),
       fmt=st.sampled_from(["toml", "json", "yaml"]))
def test_taxonomy_texts(text: str, fmt: str) -> None:
    try:
        parse_taxonomy_text(text, fmt=fmt)
    except ArtifactError as exc:
        _one_line(exc)


# -- feature rows --------------------------------------------------------------------------------
ROW = {c: None for c in MODEL_COLUMNS} | {"user_id": "u", "session_id": "s", "bucket_start": "2026-01-01T00:00:00Z"}


@LOADER
@given(obj=st.one_of(_mutated(ROW, list(ROW)), json_value))
def test_row_objects(obj: Any) -> None:
    try:
        row = parse_row(obj, where="line 1")
    except ArtifactError as exc:
        _one_line(exc)
        assert str(exc).startswith("line 1")
        return
    assert set(row.features) == set(MODEL_COLUMNS) and row.user_id
    assert all(v is None or isinstance(v, str | bool) or math.isfinite(v) for v in row.features.values())


@LOADER
@given(line=st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_row_lines(line: bytes | str) -> None:
    try:
        parse_row_line(line, line_no=7)
    except ArtifactError as exc:
        _one_line(exc)
        assert str(exc).startswith("line 7")


# -- config.toml ---------------------------------------------------------------------------------
config_keys = st.sampled_from(["sample_seconds", "notifications", "spot_checks_per_day", "taxonomy",
                               "activity_retention_days", "activitywatch_url", "log_level", "other"])
toml_value = st.one_of(
    st.integers(-(10**30), 10**30).map(str), st.floats().map(lambda f: repr(f).replace("inf", "inf")),
    st.booleans().map(lambda b: str(b).lower()), st.text(max_size=20).map(json.dumps),
    st.integers(1, 6000).map(lambda d: "9" * d), st.sampled_from(["[", "{", "nan", "-inf", '"../x"', "[[1]]"]),
)
config_text = st.one_of(
    st.text(max_size=200),
    st.lists(st.builds(lambda k, v: f"{k} = {v}", config_keys, toml_value), max_size=6).map("\n".join),
)


@LOADER
@given(text=config_text)
def test_config_texts(text: str) -> None:
    """A user's settings file never fails to load: defaults plus one-line warnings."""
    from engine.config import Config, load_config

    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        (home / "config.toml").write_text(text, encoding="utf-8", errors="surrogatepass")
        cfg, warnings = load_config(home)
    assert isinstance(cfg, Config)
    assert all(w and "\n" not in w for w in warnings)
    assert 0.1 <= cfg.sample_seconds <= 30
