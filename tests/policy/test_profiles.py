"""Profiles are data checked against our schema; a broken profile is refused with a clear message."""

import copy
import json

import pytest

from supervisor.policy.errors import ProfileError
from supervisor.policy.profiles import parse_profile
from supervisor.policy.sources import builtin_profiles, load_profiles, load_schema, schemas_dir


def _document(name="publicappview-typescript"):
    return json.loads((schemas_dir() / "profiles" / f"{name}.json").read_text())


def test_builtin_profiles_validate():
    profiles = builtin_profiles()
    assert set(profiles) == {
        "supervisor-worker",
        "publicappview-python",
        "publicappview-typescript",
        "publicappview-firehose-consumer",
        "publicappview-redis-consumer",
        "constellation-client",
        "postgres",
        "redis",
    }
    assert all(
        not profiles[name].writers
        for name in (
            "publicappview-firehose-consumer",
            "publicappview-redis-consumer",
            "constellation-client",
            "postgres",
            "redis",
        )
    )
    assert profiles["publicappview-typescript"].process_manager == "pm2"
    assert "BACKFILL_DAYS" in profiles["publicappview-python"].variables
    assert profiles["supervisor-worker"].writer("backfill").rename == "BACKFILL_CURSOR_SERVICE"


def test_unknown_operator_is_refused():
    doc = _document()
    doc["values"][0]["expr"] = {"frobnicate": 1}
    with pytest.raises(ProfileError, match="values/0/expr"):
        parse_profile(doc, load_schema("profile.schema.json"), where="x.json")


def test_unknown_reference_is_refused():
    doc = _document()
    doc["primary"] = "nope"
    with pytest.raises(ProfileError, match="unknown value 'nope'"):
        parse_profile(doc, load_schema("profile.schema.json"), where="x.json")


def test_missing_field_is_refused():
    doc = _document()
    del doc["writers"]
    with pytest.raises(ProfileError, match="'writers' is a required property"):
        parse_profile(doc, load_schema("profile.schema.json"))


def test_new_implementation_is_a_new_file(tmp_path):
    doc = copy.deepcopy(_document("publicappview-python"))
    doc["name"] = "another-worker"
    (tmp_path / "another.json").write_text(json.dumps(doc))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ProfileError, match="not JSON"):
        load_profiles(tmp_path.glob("*.json"))
    (tmp_path / "bad.json").unlink()
    assert list(load_profiles(tmp_path.glob("*.json"))) == ["another-worker"]
    (tmp_path / "dup.json").write_text(json.dumps(doc))
    with pytest.raises(ProfileError, match="also defined"):
        load_profiles(tmp_path.glob("*.json"))


def test_every_builtin_detection_pattern_compiles():
    from supervisor.policy.sources import builtin_profiles

    profiles = builtin_profiles()
    assert profiles
    for profile in profiles.values():
        for clue in profile.detect:
            assert clue.pattern.pattern == clue.source  # compiles (raises re.error otherwise)


def test_bad_pattern_in_a_profile_file_is_refused(tmp_path):
    import json

    import pytest

    from supervisor.policy.errors import ProfileError
    from supervisor.policy.sources import load_profiles, schemas_dir

    document = json.loads((schemas_dir() / "profiles" / "supervisor-worker.json").read_text())
    document["detect"][0]["pattern"] = "(unclosed"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ProfileError, match="detect pattern"):
        load_profiles([path])


def test_variants_are_named_once_and_their_markers_compile():
    import re

    for profile in builtin_profiles().values():
        names = [v.name for v in profile.variants]
        assert len(names) == len(set(names)), profile.name
        for variant in profile.variants:
            assert variant.markers, f"{profile.name}/{variant.name} has no markers"
            for marker in variant.markers:
                re.compile(marker.pattern)
        # two variants with the same markers could never both be chosen
        keys = [tuple(sorted((m.file, m.pattern, m.present) for m in v.markers)) for v in profile.variants]
        assert len(keys) == len(set(keys)), profile.name
