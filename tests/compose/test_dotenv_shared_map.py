"""Several ``--env-file``: one map of every assignment, as compose-go's ``GetEnvFromFile`` keeps it.

A template in a later file sees the shell first, then the map that earlier files *and earlier
lines of the same file* wrote, so a file's own ``A=1`` shadows an earlier file's ``A`` from the
next line on.  Each case is compared with the real compose binary.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.compose.loader import load_project

from .oracle import compose_config
from .test_loader_differential import Case, _options, _unescape, write_files

pytestmark = pytest.mark.differential

_TWO = ["--env-file", ".env", "--env-file", "alt.env"]

CASES = [
    # spaces around "=" and before the key; the later file's own earlier line wins over .env
    Case(
        "spaced-key-then-own-line",
        {
            "compose.yaml": "services:\n  app:\n    image: busybox\n    environment: [EMPTY]\n"
            "    labels: {a: '$EMPTY$EMPTY'}\n",
            ".env": "EMPTY='a{0\"'\n  EMPTY = :__:\n",
            "alt.env": 'EMPTY=c_109. # comment\nX_1=\nEMPTY="$-${EMPTY-}${DAYS}"\n',
        },
        args=_TWO,
    ),
    # a key alone takes the value its own file gave it, not the earlier file's
    Case(
        "bare-key-after-own-assignment",
        {
            "compose.yaml": "services:\n  app:\n    image: busybox\n    entrypoint: ['${X_1}$@$$', '']\n",
            ".env": "X_1=Z # 2+z\n",
            "alt.env": "export X_1=$-\nX_1\n  EMPTY = _-0:X1\n",
        },
        args=_TWO,
    ),
    # "A= # 0" keeps "# 0" (no space before the #); the next line reads it back
    Case(
        "comment-like-value-read-back",
        {
            "compose.yaml": "services:\n  web:\n    image: busybox\n    labels: {tier: '${A:-}'}\n",
            ".env": "A=\n",
            "alt.env": 'A=\nA= # 0\nA="$A"\n',
        },
        args=_TWO,
    ),
    # the order of --env-file decides which file's value a template sees
    Case(
        "env-file-order",
        {
            "compose.yaml": "services:\n  web:\n    image: busybox\n    environment: [A, B]\n",
            ".env": "A=first\nB=${A}\n",
            "alt.env": "B=${A}-alt\nA=second\nB=${B}+${A}\n",
        },
        args=["--env-file", "alt.env", "--env-file", ".env"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_env_files_share_one_map(case: Case, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    write_files(root, case.files)
    reference = compose_config(str(root), case.env, args=case.args)
    assert reference.ok, reference.error
    project = load_project(_options(case.args, case.env, root))
    assert project.config == _unescape(reference.config)
