"""Verdicts of valid documents are remembered; invalid ones are always checked again."""

import os

import pytest

from supervisor.compose.loader import load_project
from supervisor.compose.model import ComposeError, LoadOptions
from supervisor.verdicts import VerdictCache


def _options(tmp_path):
    """What the command line passes: the cache named by the environment."""
    return LoadOptions(cwd=str(tmp_path), environ={}, verdicts=VerdictCache.from_environment(os.environ))


def _cached(cache_root):
    root = cache_root / "appview-supervisor" / "schema-valid"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_valid_document_is_remembered_and_still_resolves(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SUPERVISOR_NO_CACHE", raising=False)
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")
    first = load_project(_options(tmp_path))
    entries = _cached(tmp_path / "cache")
    assert entries, "a valid document leaves a verdict"
    second = load_project(_options(tmp_path))
    assert second.config == first.config
    assert _cached(tmp_path / "cache") == entries


def test_invalid_document_is_never_remembered(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SUPERVISOR_NO_CACHE", raising=False)
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n    bogus: 1\n")
    seen = []
    for _ in range(2):
        with pytest.raises(ComposeError) as info:
            load_project(_options(tmp_path))
        assert "bogus" in str(info.value)
        seen.append(_cached(tmp_path / "cache"))
    assert seen[0] == seen[1]
    # the service itself was not remembered: once fixed, its verdict is added
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")
    load_project(_options(tmp_path))
    assert len(_cached(tmp_path / "cache")) > len(seen[1])


def test_cache_can_be_switched_off(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("SUPERVISOR_NO_CACHE", "1")
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")
    load_project(_options(tmp_path))
    assert _cached(tmp_path / "cache") == []


def test_unwritable_cache_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.delenv("SUPERVISOR_NO_CACHE", raising=False)
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")
    assert load_project(_options(tmp_path)).services["web"].config["image"] == "nginx"
    assert os.path.isfile(blocker)
