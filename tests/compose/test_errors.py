"""Unusable input: a ComposeError with compose's message and our file:line:column."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from supervisor.compose.loader import load_project
from supervisor.compose.model import ComposeError, LoadOptions

# (compose.yaml, expected line:column, text the message contains)
CASES = [
    ("services:\n  web:\n    image: a\n    image: b\n", "4:5", 'mapping key "image" already defined at line 3'),
    ("services:\n  web:\n    image: a\n    foo: b\n", "4:5", "services.web additional properties 'foo' not allowed"),
    ("services:\n  web:\n    image: a\n    ports: 80\n", "4:5", "services.web.ports must be a array"),
    (
        "services:\n  web:\n    image: ${X:?need x}\n",
        "3:5",
        "error while interpolating services.web.image: required variable X is missing a value: need x",
    ),
    ("services:\n  web:\n    image: ${X\n", "3:5", "invalid interpolation format for services.web.image"),
    (
        "services:\n  web:\n    image: a\n    deploy: {replicas: '${R:-x}'}\n",
        "4:14",
        'failed to cast to expected type: strconv.Atoi: parsing "x": invalid syntax',
    ),
    ("services:\n  web:\n    image: [a\n", "4:1", "did not find expected ',' or ']'"),
    ("- a\n", "1:1", "top-level object must be a mapping"),
    ("services:\n  web:\n    image: a\n    env_file: nope.env\n", None, "not found"),
]


@pytest.mark.parametrize("text,where,needle", CASES, ids=[c[2][:40] for c in CASES])
def test_error_messages(tmp_path, text, where, needle):
    (tmp_path / "compose.yaml").write_text(text)
    with pytest.raises(ComposeError) as info:
        load_project(LoadOptions(cwd=str(tmp_path), environ={}))
    assert needle in info.value.message
    if where is not None:
        assert str(info.value).startswith(f"{tmp_path / 'compose.yaml'}:{where}: ")


def test_missing_file(tmp_path):
    with pytest.raises(ComposeError) as info:
        load_project(LoadOptions(cwd=str(tmp_path), environ={}, files=["nope.yaml"]))
    assert info.value.location.file == str(tmp_path / "nope.yaml")


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "compose.yaml"
    path.write_text("services: {}\n")
    path.chmod(0)
    if os.geteuid() == 0:
        # root reads any file, so the permission fault is simulated at open(2).
        real_open = os.open

        def deny(file, *args, **kwargs):
            if str(file) == str(path):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(os, "open", deny)
    with pytest.raises(ComposeError) as info:
        load_project(LoadOptions(cwd=str(tmp_path), environ={}))
    assert "compose.yaml" in str(info.value)


def test_directory_instead_of_file(tmp_path):
    (tmp_path / "compose.yaml").mkdir()
    (tmp_path / "x.yaml").mkdir()
    with pytest.raises(ComposeError):
        load_project(LoadOptions(cwd=str(tmp_path), environ={}, files=["x.yaml"]))


def test_unset_warning_at_every_use(tmp_path):
    # compose warns once per use of an unset variable, not once per variable
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: ${NOPE}a\n    command: ${NOPE}\n")
    project = load_project(LoadOptions(cwd=str(tmp_path), environ={}))
    assert project.warnings == ['WARN[0000] The "NOPE" variable is not set. Defaulting to a blank string.'] * 2


def test_env_file_option_naming_a_directory_is_refused(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")
    (tmp_path / "d").mkdir()
    with pytest.raises(ComposeError) as info:
        load_project(LoadOptions(cwd=str(tmp_path), environ={}, env_files=["d"]))
    assert "is a directory" in str(info.value)


def test_default_dotenv_that_is_a_directory_is_ignored(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")
    (tmp_path / ".env").mkdir()
    assert "web" in load_project(LoadOptions(cwd=str(tmp_path), environ={})).services


def test_invalid_utf8_names_line_and_column(tmp_path):
    (tmp_path / "compose.yaml").write_bytes(b'services:\n  web:\n    image: "x\xff"\n')
    with pytest.raises(ComposeError) as info:
        load_project(LoadOptions(cwd=str(tmp_path), environ={}))
    assert (info.value.location.line, info.value.location.column) == (3, 14)


@pytest.mark.parametrize("as_env_file", [False, True])
def test_endless_file_is_refused_without_reading_it_all(tmp_path, as_env_file):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")
    options = LoadOptions(cwd=str(tmp_path), environ={})
    if as_env_file:
        options.env_files = ["/dev/zero"]
    else:
        options.files = ["/dev/zero"]
    with pytest.raises(ComposeError) as info:
        load_project(options)
    assert "is a device, not a file" in str(info.value)


@pytest.mark.parametrize("as_env_file", [False, True])
def test_endless_pipe_is_refused_without_reading_it_all(tmp_path, as_env_file):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")
    fifo = tmp_path / "endless"
    os.mkfifo(fifo)
    feeder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nout = open(sys.argv[1], 'wb')\nwhile True:\n    out.write(b'#' * 65536)",
            str(fifo),
        ],
        stderr=subprocess.DEVNULL,
    )
    options = LoadOptions(cwd=str(tmp_path), environ={})
    if as_env_file:
        options.env_files = [str(fifo)]
    else:
        options.files = [str(fifo)]
    try:
        with pytest.raises(ComposeError) as info:
            load_project(options)
    finally:
        feeder.kill()
        feeder.wait()
    assert "larger than 10 MiB" in str(info.value)


def test_a_fifo_without_writer_is_refused_instead_of_waited_on_forever(tmp_path, monkeypatch):
    import supervisor.files

    monkeypatch.setattr(supervisor.files, "FIFO_WAIT_SECONDS", 0.2)
    os.mkfifo(tmp_path / "quiet.env")
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n    env_file: [quiet.env]\n")
    with pytest.raises(ComposeError) as info:
        load_project(LoadOptions(cwd=str(tmp_path), environ={}))
    assert "quiet.env" in str(info.value) and "is a FIFO that no program wrote to within 0.2 s" in str(info.value)
