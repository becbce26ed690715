"""Corpus conversion: the same outcomes as `convert_file`, in file order, cached by content."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rulec.backends.base import Options
from rulec.compiler import corpus as batch
from rulec.compiler.corpus import cache_key, convert_corpus
from rulec.compiler.outcomes import convert_file

RULE = """title: Cmd
id: 11111111-1111-1111-1111-111111111111
logsource: {category: process_creation, product: windows}
detection:
  selection: {Image|endswith: '\\\\cmd.exe'}
  condition: selection
"""
BROKEN = "title: Broken\nlogsource: {product: windows}\ndetection: {condition: nothing}\n"
TARGETS = ["duckdb", "spl", "kql"]
GROUPS = {(): TARGETS}


@pytest.fixture
def corpus(tmp_path: Path) -> list[Path]:
    paths = []
    for name, text in [("a.yml", RULE), ("b.yml", BROKEN), ("c.yml", RULE.replace("cmd", "wsl"))]:
        path = tmp_path / "rules" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        paths.append(path)
    return paths


@pytest.mark.parametrize("workers", [1, 2])
def test_outcomes_equal_convert_file_in_order(corpus, workers):
    results = convert_corpus(corpus, GROUPS, workers=workers)
    assert [r.path for r in results] == corpus
    for result in results:
        assert list(result.outcomes) == list(convert_file(result.path, TARGETS))
    assert [o.ok for o in results[1].outcomes] == [False, False, False]
    assert "cmd.exe" in results[0].outcomes[0].query


def test_second_run_comes_from_the_cache_and_agrees(corpus, tmp_path):
    cache = tmp_path / "cache"
    first = convert_corpus(corpus, GROUPS, cache_dir=cache, workers=1)
    second = convert_corpus(corpus, GROUPS, cache_dir=cache, workers=1)
    assert [r.cached for r in first] == [False, False, False]
    assert [r.cached for r in second] == [True, True, True]
    assert [r.outcomes for r in second] == [r.outcomes for r in first]


def test_a_changed_rule_or_target_misses_the_cache(corpus, tmp_path):
    cache = tmp_path / "cache"
    convert_corpus(corpus, GROUPS, cache_dir=cache, workers=1)
    corpus[0].write_text(RULE.replace("cmd", "bash"))
    again = convert_corpus(corpus, GROUPS, cache_dir=cache, workers=1)
    assert [r.cached for r in again] == [False, True, True]
    assert "bash.exe" in again[0].outcomes[0].query
    other_target = convert_corpus(corpus, {(): ["eql"]}, cache_dir=cache, workers=1)
    assert not any(r.cached for r in other_target)


def test_every_entry_is_written_whatever_the_batch_size(corpus, tmp_path, monkeypatch):
    # entries go to the database a few at a time; the last, partial batch is written too
    monkeypatch.setattr(batch, "STORE_EVERY", 2)
    cache = tmp_path / "cache"
    convert_corpus(corpus, GROUPS, cache_dir=cache, workers=1)
    with sqlite3.connect(cache / batch.CACHE_FILE) as database:
        (count,) = database.execute("SELECT count(*) FROM entries").fetchone()
    assert count == len(corpus)
    assert all(r.cached for r in convert_corpus(corpus, GROUPS, cache_dir=cache, workers=1))


def test_a_cache_that_is_no_database_is_passed_over(corpus, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / batch.CACHE_FILE).write_text("not a database\n" * 100)
    first = convert_corpus(corpus, GROUPS, cache_dir=cache, workers=1)
    second = convert_corpus(corpus, GROUPS, cache_dir=cache, workers=1)
    assert not any(r.cached for r in first + second)
    assert [r.outcomes for r in first] == [r.outcomes for r in convert_corpus(corpus, GROUPS)]


def test_cache_key_covers_text_pipeline_targets_and_options():
    base = cache_key(b"rule", {(): ["spl"]})
    assert base != cache_key(b"rule2", {(): ["spl"]})
    assert base != cache_key(b"rule", {("sysmon",): ["spl"]})
    assert base != cache_key(b"rule", {(): ["spl", "kql"]})
    assert base != cache_key(b"rule", {(): ["spl"]}, Options(approximations=frozenset({"runs"})))
    assert base == cache_key(b"rule", {(): ["spl"]})


def test_each_pipeline_group_reads_the_rule_through_its_own_pipeline(corpus):
    groups = {(): ["kql"], ("microsoft_xdr",): ["kql"]}
    (result,) = convert_corpus(corpus[:1], groups, workers=1)
    own, mapped = (o.query for o in result.outcomes)
    assert "Image" in own and "DeviceProcessEvents" in mapped and "FolderPath" in mapped


def test_an_edited_compiler_misses_the_cache(corpus, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    convert_corpus(corpus, GROUPS, cache_dir=cache, workers=1)
    monkeypatch.setattr(batch, "fingerprint", lambda: "another compiler")
    assert not any(r.cached for r in convert_corpus(corpus, GROUPS, cache_dir=cache, workers=1))


def default_groups() -> list:
    """All five targets, grouped by their default pipelines."""
    from rulec.backends.pipelines import pipeline_sets
    from rulec.compiler.rules import resolve_pipeline

    sets = pipeline_sets(["duckdb", "postgres", "eql", "spl", "kql"])
    return [(resolve_pipeline(list(names)), targets) for names, targets in sets.items()]


def test_files_converted_phase_by_phase_equal_each_file_alone(shared):
    """`convert_files` lowers every file through one pipeline group, then the next, and emits one
    target after another: what each file gets equals its own conversion (every 40th rule of the
    SigmaHQ folder, all five targets through their default pipelines)."""
    from rulec.compiler.outcomes import convert_files, convert_groups

    files = sorted((shared / "corpus" / "sigma" / "rules").rglob("*.yml"))[::40]
    groups = default_groups()
    together = convert_files(files, groups)
    for path, (outcomes, warnings) in zip(files, together, strict=True):
        alone_warnings: list = []
        assert outcomes == list(convert_groups(path, groups, on_warning=alone_warnings.append))
        assert warnings == alone_warnings


def test_a_file_that_fails_unexpectedly_fails_alone(corpus, monkeypatch):
    """An exception while converting one file of a chunk becomes that file's internal
    diagnostic (one per target); the other files of the chunk convert as usual."""
    from rulec.compiler import outcomes as convert

    prepare = convert.prepare

    def failing(path, pipelines):
        if path.name == "c.yml":
            raise RuntimeError("boom")
        return prepare(path, pipelines)

    monkeypatch.setattr(convert, "prepare", failing)
    first, _, third = convert.convert_files(corpus, [(None, TARGETS)])
    assert [o.ok for o in first[0]] == [True] * len(TARGETS)
    assert [o.error.code for o in third[0]] == ["internal"] * len(TARGETS)
    assert "boom" in third[0][0].error.message
