"""The parser's tables are cached on disk: a cached parser parses exactly as a fresh one, and a
damaged or unwritable cache costs only the rebuild."""

from __future__ import annotations

from pathlib import Path

import pytest

from pnyx.model import parser

SPEC = Path(__file__).resolve().parent.parent / "spec" / "gossip.pnyx"


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("PNYX_NO_CACHE", raising=False)
    parser._parser.cache_clear()
    yield tmp_path
    parser._parser.cache_clear()


def _fresh_parse() -> str:
    parser._parser.cache_clear()
    return repr(parser.parse(SPEC.read_text(), str(SPEC)))  # AST nodes compare by identity: their text


def test_cached_tables_parse_as_built_ones(cache_home: Path) -> None:
    built = _fresh_parse()  # builds the tables and writes the cache
    files = list((cache_home / "pnyx").glob("grammar-*.lark"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    assert _fresh_parse() == built  # loaded from the cache: the same tree, the same positions
    assert files[0].stat().st_mtime_ns == stamp  # read, not rewritten


def test_a_damaged_cache_is_rebuilt(cache_home: Path) -> None:
    built = _fresh_parse()
    (cache_file,) = (cache_home / "pnyx").glob("grammar-*.lark")
    cache_file.write_bytes(b"not a parser")
    assert _fresh_parse() == built
    assert cache_file.read_bytes() != b"not a parser"


def test_an_unwritable_cache_is_skipped(cache_home: Path) -> None:
    (cache_home / "pnyx").write_text("a file where the folder should be")
    assert parser.parse(SPEC.read_text(), str(SPEC)) is not None


def test_the_cache_can_be_turned_off(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PNYX_NO_CACHE", "1")
    _fresh_parse()
    assert not (cache_home / "pnyx").exists()
