"""Label spans as CSV: lossless round trip, bad lines with line numbers, nothing half-imported."""

from __future__ import annotations

import io
import re
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store_helpers import at, span

from engine.errors import ArtifactError
from engine.labels import CORE_LABELS, PROVENANCES
from engine.labels_csv import (
    COLUMNS,
    BadLinesError,
    export_spans,
    export_spans_to_path,
    import_spans,
    parse_spans_csv,
    spans_to_csv,
)
from engine.spans import LabelSpan
from engine.store import Store

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
HEADER = ",".join(COLUMNS)


def write(tmp_path: Path, text: str, name: str = "labels.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_export_format_is_plain_and_stable() -> None:
    s = span(0, 30, "Build", prov="correction", confidence=0.75)
    buf = io.StringIO()
    assert export_spans([s], buf) == 1
    assert buf.getvalue() == (
        HEADER + "\n"
        "2026-03-02T09:00:00+00:00,2026-03-02T09:30:00+00:00,Build,u1,correction,0.75,"
        "2026-03-09T07:40:00+00:00\n"
    )


def test_store_export_import_round_trip(tmp_path: Path) -> None:
    tz = timezone(timedelta(hours=-5))
    spans = [
        span(0, 30, "Build", prov="manual"),
        span(30, 31.5, "Debug", prov="correction", confidence=0.1 + 0.2),
        LabelSpan(at(40).astimezone(tz) + timedelta(microseconds=1), at(50), "Meet", "user, \"quoted\"",
                  "rule", 1 / 3, at(7).astimezone(tz)),
        span(60, 70, "BreakIdle", prov="synthetic", user="u2", confidence=0.0),
    ]
    with Store.open(tmp_path / "a.sqlite3") as a:
        a.add_label_spans(spans)
        exported = a.label_spans()
    path = tmp_path / "out.csv"
    assert export_spans_to_path(exported, path) == 4
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    result = import_spans(path, user_id_default=None, now=NOW)
    assert result.errors == [] and result.warnings == []
    with Store.open(tmp_path / "b.sqlite3") as b:
        b.add_label_spans(result.spans)
        again = b.label_spans()
    strip = [(s.start_ts, s.end_ts, s.label, s.user_id, s.provenance, s.confidence, s.created_at)
             for s in exported]
    assert strip == [(s.start_ts, s.end_ts, s.label, s.user_id, s.provenance, s.confidence, s.created_at)
                     for s in again]
    assert spans_to_csv(again) == path.read_text(encoding="utf-8")


_aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2026, 1, 1),  # spans end before NOW
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
)
_span = st.builds(
    lambda a, length, label, user, prov, conf, created: LabelSpan(
        a, a + timedelta(microseconds=length), label, user, prov, conf, created),
    _aware,
    st.integers(1, 10**12),
    st.sampled_from(CORE_LABELS),
    st.text(alphabet=st.characters(blacklist_characters="\x00"), min_size=1, max_size=20).filter(
        lambda u: u.strip() != "") | st.sampled_from(["a\rb", " lead", "trail ", 'q"uote', "x,y", "l\r\n"]),
    st.sampled_from(sorted(PROVENANCES)),
    st.none() | st.floats(0.0, 1.0),
    _aware,
)


@given(st.lists(_span, max_size=8))
def test_property_csv_round_trip_is_lossless(spans: list[LabelSpan]) -> None:
    text = spans_to_csv(spans)
    got = parse_spans_csv(text, user_id_default=None, now=NOW).spans
    assert len(got) == len(spans)
    for a, b in zip(spans, got, strict=True):
        assert b == a.normalized()
        assert b.created_at == a.created_at and b.confidence == a.confidence


def test_minimal_hand_written_file_uses_defaults(tmp_path: Path) -> None:
    p = write(tmp_path, "\ufefflabel,START_TS, end_ts,note\n"
                        "build,2026-03-02T09:00:00Z,2026-03-02T11:00:00+01:00,my note\n"
                        "\n"
                        "meet,2026-03-02T10:00:00Z,2026-03-02T10:30:00Z,\n")
    result = import_spans(p, user_id_default="me", now=NOW)
    assert [(s.label, s.user_id, s.provenance, s.confidence, s.created_at) for s in result.spans] == [
        ("Build", "me", "import", None, NOW), ("Meet", "me", "import", None, NOW)]
    assert result.spans[0].end_ts == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # +01:00 honoured
    assert result.warnings == [f"{p}:line 1: ignored unknown column 'note'"]


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ("2026-03-02T09:00:00Z,2026-03-02T09:00:00Z,Build,u,manual,,", "end_ts", "after start_ts"),
        ("2026-03-02T09:00:00,2026-03-02T10:00:00Z,Build,u,manual,,", "start_ts", "UTC offset"),
        ("yesterday,2026-03-02T10:00:00Z,Build,u,manual,,", "start_ts", "not an ISO-8601"),
        ("2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,Coding,u,manual,,", "label", "unknown label"),
        ("2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,Mixed/Unknown,u,manual,,", "label", "unknown label"),
        ("2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,Build,u,guess,,", "provenance", "unknown provenance"),
        ("2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,Build,u,manual,high,", "confidence", "not a number"),
        ("2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,Build,u,manual,nan,", "confidence", "within 0..1"),
        ("2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,Build,u,manual,1.5,", "confidence", "within 0..1"),
        ("2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,Build,,manual,,", "user_id", "no default user"),
        ("2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,Build,u,manual,,x,extra", None, "cells"),
    ],
)
def test_bad_line_is_named_and_nothing_imported(tmp_path: Path, line: str, field: str | None,
                                                reason: str) -> None:
    good = "2026-03-02T08:00:00Z,2026-03-02T09:00:00Z,Build,u,manual,,"
    p = write(tmp_path, f"{HEADER}\n{good}\n{good}\n{line}\n")
    with pytest.raises(ArtifactError, match=re.escape(reason)) as info:
        import_spans(p, user_id_default=None, now=NOW)
    msg = str(info.value)
    assert msg.startswith(f"{p}:line 4: " + (f"{field}: " if field else ""))
    assert reason in msg and "nothing was imported" in msg
    result = import_spans(p, user_id_default=None, skip_bad_lines=True, now=NOW)
    assert len(result.spans) == 2
    assert len(result.errors) == 1 and result.errors[0].startswith(f"{p}:line 4")


def test_all_bad_lines_are_listed(tmp_path: Path) -> None:
    good = "2026-03-02T08:00:00Z,2026-03-02T09:00:00Z,Build,u,manual,,"
    bad = "2026-03-02T08:00:00Z,2026-03-02T09:00:00Z,Nope,u,manual,,"
    # a quoted cell spanning two physical lines: numbers stay physical line numbers
    multi = '2026-03-02T08:00:00Z,2026-03-02T09:00:00Z,Build,"a\nb",manual,,'
    p = write(tmp_path, "\n".join([HEADER, bad, good, multi, bad, good]) + "\n")
    with pytest.raises(BadLinesError, match="and 1 more bad line") as info:
        import_spans(p, user_id_default=None, now=NOW)
    assert "and 1 more bad line" in str(info.value)
    assert [e.split(": ")[0] for e in info.value.errors] == [f"{p}:line 2", f"{p}:line 6"]
    result = import_spans(p, user_id_default=None, skip_bad_lines=True, now=NOW)
    assert [s.user_id for s in result.spans] == ["u", "a\nb", "u"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "line 1: empty file"),
        (b"start_ts,label\n", "line 1: header: missing column(s) end_ts"),
        (b"start_ts,end_ts,label,label\n", "duplicate column(s) label"),
        (HEADER.encode() + b"\n\xff\xfe,x\n", "line 2: not UTF-8"),
        (HEADER.encode() + b'\n"2026,\x00\n', "line 2: not valid CSV"),
    ],
)
def test_broken_files_are_refused_with_one_line(tmp_path: Path, content: bytes, expected: str) -> None:
    p = tmp_path / "labels.csv"
    p.write_bytes(content)
    with pytest.raises(ArtifactError, match=re.escape(expected)) as info:
        import_spans(p, user_id_default="u", skip_bad_lines=True, now=NOW)
    assert str(info.value).startswith(f"{p}:") and expected in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="file not found"):
        import_spans(tmp_path / "nope.csv", user_id_default=None)


def test_imported_spans_obey_the_overlap_rule_in_the_store(tmp_path: Path) -> None:
    # the user corrected 09:10-09:20 after the spans in an older CSV were created
    with Store.open(tmp_path / "s.sqlite3") as s:
        s.add_label_span(LabelSpan(at(10), at(20), "Debug", "u1", "correction", None, NOW))
        text = "\n".join([HEADER, "2026-03-02T09:00:00Z,2026-03-02T09:30:00Z,Build,u1,import,,"
                                  "2026-03-01T00:00:00Z"]) + "\n"
        s.add_label_spans(parse_spans_csv(text, user_id_default=None, now=NOW).spans)
        got = [(x.start_ts, x.end_ts, x.label) for x in s.label_spans()]
    assert got == [(at(0), at(10), "Build"), (at(10), at(20), "Debug"), (at(20), at(30), "Build")]


def test_unterminated_quote_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, HEADER + '\n2026-03-02T08:00:00Z,2026-03-02T09:00:00Z,Build,"u\n')
    with pytest.raises(ArtifactError, match=r"line \d: not valid CSV"):
        import_spans(p, user_id_default=None, skip_bad_lines=True, now=NOW)


# --- helpers for the `taskclf labels` commands -------------------------------------------------


def test_import_file_stores_everything_in_one_go(tmp_path: Path) -> None:
    from engine.labels_csv import export_store, import_file

    good = "2026-03-02T08:00:00Z,2026-03-02T09:00:00Z,Build,u,manual,,"
    bad = "2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,Nope,u,manual,,"
    p = write(tmp_path, f"{HEADER}\n{good}\n{bad}\n")
    with Store.open(tmp_path / "s.sqlite3") as s:
        with pytest.raises(BadLinesError, match="line 3: label"):
            import_file(s, p, user_id_default=None)
        assert s.label_spans() == []  # nothing from a failing file
        done = import_file(s, p, user_id_default=None, skip_bad_lines=True, now=NOW)
        assert (done.read, done.stored, len(done.errors)) == (1, 1, 1)
        buf = io.StringIO()
        assert export_store(s, buf, user_id="u") == 1
        assert export_store(s, io.StringIO(), user_id="other") == 0
    assert buf.getvalue().splitlines()[1].startswith("2026-03-02T08:00:00+00:00,2026-03-02T09:00:00+00:00,Build,u,")


def test_span_from_cli() -> None:
    from engine.labels_csv import span_from_cli

    s = span_from_cli(start="2026-03-02T09:00Z", end="2026-03-02T10:30+01:00", label="debug",
                      user_id="me", now=NOW)
    assert (s.start_ts, s.end_ts, s.label, s.provenance, s.created_at) == (
        at(0), at(30), "Debug", "manual", NOW)
    local = span_from_cli(start="2026-03-02T09:00", end="2026-03-02T10:00", label="Meet", user_id="me")
    assert local.start_ts.utcoffset() == timedelta(0)
    assert local.start_ts == datetime(2026, 3, 2, 9, 0).astimezone().astimezone(UTC)
    with pytest.raises(ArtifactError, match="^labels add: --start: not an ISO-8601 time"):
        span_from_cli(start="9am", end="2026-03-02T10:00Z", label="Meet", user_id="me")
    with pytest.raises(ArtifactError, match="^labels add: --end: must be after start_ts"):
        span_from_cli(start="2026-03-02T10:00Z", end="2026-03-02T10:00Z", label="Meet", user_id="me")
    with pytest.raises(ArtifactError, match="^labels add: --label: unknown label 'Coding'"):
        span_from_cli(start="2026-03-02T09:00Z", end="2026-03-02T10:00Z", label="Coding", user_id="me")


@given(st.binary(max_size=400), st.booleans(), st.booleans())
def test_property_any_file_is_read_or_refused_in_one_line(body: bytes, with_header: bool, skip: bool) -> None:
    import tempfile

    data = (HEADER.encode() + b"\n" + body) if with_header else body
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "labels.csv"
        p.write_bytes(data)
        try:
            result = import_spans(p, user_id_default="me", skip_bad_lines=skip, now=NOW)
        except ArtifactError as exc:
            assert str(exc).startswith(f"{p}:") and "\n" not in str(exc)
            return
        for s in result.spans:
            assert s.validate() is s
        assert all(e.startswith(f"{p}:line ") for e in result.errors)


_CELL = st.sampled_from([
    "2026-03-02T09:00:00Z", "2026-03-02T10:00:00+01:00", "2026-03-02T09:30:00.5+00:00",
    "2026-03-02T09:00:00", "tomorrow", "", " ", "Build", "meet", "Nope", "u1", "manual", "rule",
    "guess", "0.5", "1", "2", "-0", "nan", "inf", '"', '"a,b"', "1e-9",
])


@given(st.lists(st.lists(_CELL, min_size=0, max_size=9), max_size=6), st.booleans())
def test_property_structured_garbage_is_read_or_refused(rows: list, skip: bool) -> None:
    text = HEADER + "\n" + "\n".join(",".join(r) for r in rows) + "\n"
    try:
        result = parse_spans_csv(text, source="f.csv", user_id_default=None, skip_bad_lines=skip, now=NOW)
    except ArtifactError as exc:
        assert str(exc).startswith("f.csv:line ") and "\n" not in str(exc)
        return
    for s in result.spans:
        assert s.validate() is s and s.end_ts > s.start_ts
    assert len(result.spans) + len(result.errors) <= len(rows)
