"""The start-up chain, from a service's configuration and its build context (in memory) to the program."""

from __future__ import annotations

import json

import pytest

from supervisor.policy.dockerfile import read_image_config
from supervisor.policy.launch import follow_launch, last_command
from supervisor.policy.sources import process_managers

PKG = json.dumps(
    {
        "scripts": {
            "start": "NODE_ENV=production node dist/index.js",
            "build": "esbuild server/index.ts --bundle --outfile=dist/index.js",
            "serve": "pm2-runtime start dist/index.js -i 4",
        }
    },
    indent=2,
)
ENTRY = "#!/bin/sh\nset -e\nnpm run db:push\necho go\nexec pm2-runtime start dist/index.js -i 12 --name app\n"
APP = {"package.json": PKG, "server/index.ts": "x", "docker-entrypoint.sh": ENTRY}

# (compose config, Dockerfile, target, files, program, entry, source, instances, cpu dependent, origin)
CASES = [
    (
        {},
        'FROM node:20\nWORKDIR /app\nCMD ["./docker-entrypoint.sh"]\n',
        None,
        APP,
        "node",
        "dist/index.js",
        "server/index.ts",
        12,
        False,
        "docker-entrypoint.sh:5: -i 12",
    ),
    (
        {},
        "FROM node:20\nCMD npm run db:push && npm start\n",
        None,
        APP,
        "node",
        "dist/index.js",
        "server/index.ts",
        1,
        False,
        "",
    ),
    (
        {"command": ["npm", "run", "serve"]},
        'FROM node:20\nCMD ["./docker-entrypoint.sh"]\n',
        None,
        APP,
        "node",
        "dist/index.js",
        "server/index.ts",
        4,
        False,
        "package.json:5: -i 4",
    ),
    (
        {"command": "sh -c 'migrate && exec pm2-runtime start dist/index.js -i max'"},
        None,
        None,
        APP,
        "node",
        "dist/index.js",
        "server/index.ts",
        2,
        True,
        ": -i max",
    ),
    (
        {},
        'FROM python:3.11\nWORKDIR /srv\nCMD ["python", "-u", "/srv/unified_worker.py"]\n',
        None,
        {"unified_worker.py": "import os"},
        "python",
        "unified_worker.py",
        "unified_worker.py",
        1,
        False,
        "",
    ),
    # the final stage by default; build.target picks another one
    (
        {},
        'FROM python:3.11 AS worker\nCMD ["python", "worker.py"]\nFROM worker AS producer\nCMD ["python", "producer.py"]\n',
        None,
        {"worker.py": "", "producer.py": ""},
        "python",
        "producer.py",
        "producer.py",
        1,
        False,
        "",
    ),
    (
        {},
        'FROM python:3.11 AS worker\nCMD ["python", "worker.py"]\nFROM worker AS producer\nCMD ["python", "producer.py"]\n',
        "worker",
        {"worker.py": "", "producer.py": ""},
        "python",
        "worker.py",
        "worker.py",
        1,
        False,
        "",
    ),
    # ENTRYPOINT resets an inherited CMD; compose command is appended to the image's ENTRYPOINT
    (
        {"command": ["-m", "tool.main"]},
        'FROM python:3.11\nCMD ["x.py"]\nENTRYPOINT ["python3"]\n',
        None,
        {},
        "python3",
        "tool/main.py",
        None,
        1,
        False,
        "",
    ),
    ({}, None, None, {}, None, None, None, 1, False, ""),
    (
        {"image": "redis:7", "command": "redis-server --appendonly yes"},
        None,
        None,
        {},
        "redis-server",
        None,
        None,
        1,
        False,
        "",
    ),
    # a script copied outside WORKDIR is found in the context by its name
    (
        {"entrypoint": ["/usr/local/bin/docker-entrypoint.sh"]},
        "FROM node:20\nWORKDIR /app\n",
        None,
        APP,
        "node",
        "dist/index.js",
        "server/index.ts",
        12,
        False,
        "docker-entrypoint.sh:5: -i 12",
    ),
    # a tsc build: dist/index.js is compiled from src/index.ts
    (
        {},
        'FROM node:20\nWORKDIR /app\nCMD ["node", "dist/index.js"]\n',
        None,
        {"package.json": json.dumps({"scripts": {"build": "tsc"}}), "src/index.ts": ""},
        "node",
        "dist/index.js",
        "src/index.ts",
        1,
        False,
        "",
    ),
    # a PM2 ecosystem file gives the instance count and the script
    (
        {"command": ["pm2-runtime", "ecosystem.config.js"]},
        None,
        None,
        {"ecosystem.config.js": "module.exports = { apps: [{ script: 'dist/index.js',\n instances: 3 }] }", **APP},
        "node",
        "dist/index.js",
        "server/index.ts",
        3,
        False,
        "ecosystem.config.js:2: instances 3",
    ),
]


@pytest.mark.parametrize("config,dockerfile,target,files,program,entry,source,instances,cpu,origin", CASES)
def test_chain(config, dockerfile, target, files, program, entry, source, instances, cpu, origin):
    image = read_image_config(dockerfile, target) if dockerfile else None
    launch = follow_launch(config, image, files, managers=process_managers())
    assert (launch.program, launch.entry, launch.source) == (program, entry, source)
    assert (launch.instances, launch.cpu_dependent) == (instances, cpu)
    assert launch.instances_origin == origin
    assert launch.followed == (program is not None)


@pytest.mark.parametrize(
    "script,environment,instances,entry",
    [
        # ENTRYPOINT script ending in exec "$@" runs the image's CMD
        ('#!/bin/sh\nmigrate\nexec "$@"\n', {}, 1, "dist/index.js"),
        ("#!/bin/sh\nexec pm2-runtime start dist/index.js -i ${PM2_INSTANCES:-3}\n", {}, 3, "dist/index.js"),
        (
            "#!/bin/sh\nexec pm2-runtime start dist/index.js -i ${PM2_INSTANCES:-3}\n",
            {"PM2_INSTANCES": "7"},
            7,
            "dist/index.js",
        ),
        ("#!/bin/sh\nexec pm2-runtime start $2 -i $WORKERS\n", {"WORKERS": "5"}, 5, "dist/index.js"),
    ],
)
def test_scripts_expand_arguments_and_variables(script, environment, instances, entry):
    image = read_image_config('FROM node:20\nENTRYPOINT ["./start.sh"]\nCMD ["node", "dist/index.js"]\n')
    launch = follow_launch({}, image, {**APP, "start.sh": script}, environment=environment, managers=process_managers())
    assert (launch.instances, launch.entry, launch.source) == (instances, entry, "server/index.ts")


def test_every_step_is_located():
    image = read_image_config('FROM node:20\nWORKDIR /app\nENV BACKFILL_DAYS=0\nCMD ["./docker-entrypoint.sh"]\n')
    launch = follow_launch({}, image, APP, label="app/", dockerfile="Dockerfile", managers=process_managers())
    assert [(s.kind, s.where) for s in launch.steps] == [
        ("dockerfile", "app/Dockerfile:4"),
        ("script", "app/docker-entrypoint.sh:5"),
        ("manager", "app/docker-entrypoint.sh:5"),
        ("build", "app/package.json:4"),
        ("program", ""),
    ]
    assert ("BACKFILL_DAYS", "0", "app/Dockerfile:3") in launch.image_env and not launch.env


def test_assignments_in_the_start_command_are_recorded():
    launch = follow_launch({"command": ["npm", "start"]}, None, APP, managers=process_managers())
    assert ("NODE_ENV", "production", "package.json:3") in launch.env


def test_an_entry_the_build_does_not_write_cannot_start():
    files = {
        "package.json": json.dumps({"scripts": {"build": "esbuild a/index.ts b/main.ts --outdir=dist"}}),
        "a/index.ts": "",
        "b/main.ts": "",
    }
    launch = follow_launch({"command": ["node", "dist/index.js"]}, None, files, managers=process_managers())
    assert launch.cannot_start is not None and "dist/a/index.js" in launch.cannot_start
    assert launch.source is None


@pytest.mark.parametrize(
    "script,expected",
    [
        ("npm run db:push && npm start", ["npm", "start"]),
        ("a; exec b --flag; echo done", ["exec", "b", "--flag"]),
        ("migrate || exit 1; node x.js", ["node", "x.js"]),
        ("echo hi", ["echo", "hi"]),
    ],
)
def test_last_command(script, expected):
    assert last_command(script) == expected


def test_dockerfile_env_and_workdir():
    image = read_image_config("FROM a AS base\nENV A=1 B=2\nWORKDIR /app\nWORKDIR sub\nFROM base\nENV B=3\n")
    assert image.workdir == "/app/sub"
    assert {k: v for k, (v, _) in image.env_defaults().items()} == {"A": "1", "B": "3"}
