"""The XRPC routes: health, listRepos paging and limits, getRepo CARs, errors."""

from __future__ import annotations

import pytest

from supervisor.atproto import car, dagcbor, jsonfmt, mst, repo
from supervisor.devrelay import RelayConfig

from .support import http_get, http_json, plain, read_jsonl, run, running, synth

LIST = "/xrpc/com.atproto.sync.listRepos"
GET = "/xrpc/com.atproto.sync.getRepo"


@pytest.fixture(scope="module")
def truth_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("truth") / "truth.jsonl"
    accounts = path.with_name("accounts.jsonl")
    return RelayConfig(synth=synth(events=2500, accounts=45), truth=str(path), truth_accounts=str(accounts))


def test_health():
    async def scenario():
        async with running(RelayConfig(synth=synth(events=10))) as relay:
            status, body = await http_json(relay.http_url + "/xrpc/_health")
        assert status == 200 and body["version"].startswith("devrelay ")

    run(scenario())


def test_list_repos_pages_cover_every_repo_once(truth_config):
    async def scenario():
        async with running(truth_config) as relay:
            status, everything = await http_json(relay.http_url + LIST)
            assert status == 200 and "cursor" not in everything  # 45 < the default limit of 500
            pages, cursor = [], None
            while True:
                url = relay.http_url + LIST + "?limit=7" + (f"&cursor={cursor}" if cursor else "")
                status, page = await http_json(url)
                assert status == 200 and len(page["repos"]) <= 7
                pages.append(page["repos"])
                cursor = page.get("cursor")
                if cursor is None:
                    break
            return everything["repos"], pages

    everything, pages = run(scenario())
    flat = [item for page in pages for item in page]
    assert flat == everything
    assert [len(p) for p in pages] == [7] * 6 + [3]
    dids = [item["did"] for item in flat]
    assert dids == sorted(set(dids)) and len(dids) == 45
    accounts = {row["did"]: row for row in read_jsonl(truth_config.truth_accounts)}
    for item in flat:
        assert set(item) >= {"did", "head", "rev", "active"}
        assert item["active"] == accounts[item["did"]]["active"]
        if not item["active"]:
            assert item["status"] == "deactivated"


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=ten", "limit=-5", "limit=1&limit=2"])
def test_list_repos_rejects_bad_limits(query):
    async def scenario():
        async with running(RelayConfig(synth=synth(events=50))) as relay:
            return await http_get(relay.http_url + LIST + "?" + query)

    status, ctype, body = run(scenario())
    assert status == 400 and ctype.startswith("application/json")
    assert b'"error":"InvalidRequest"' in body and b"limit" in body


@pytest.mark.parametrize("limit, expected", [("1", 1), ("1000", 20), ("", 20)])
def test_list_repos_limit_bounds(limit, expected):
    async def scenario():
        async with running(RelayConfig(synth=synth(events=300))) as relay:
            return await http_json(relay.http_url + LIST + "?limit=" + limit)

    status, body = run(scenario())
    assert status == 200 and len(body["repos"]) == expected


def test_get_repo_holds_exactly_the_accounts_records(truth_config):
    truth: dict[str, dict[str, dict]] = {}

    async def scenario():
        async with running(truth_config) as relay:
            status, listing = await http_json(relay.http_url + LIST)
            cars = {}
            for item in listing["repos"]:
                if item["active"]:
                    status, ctype, body = await http_get(relay.http_url + GET + "?did=" + item["did"])
                    assert status == 200 and ctype == "application/vnd.ipld.car"
                    cars[item["did"]] = (item, body)
            return cars

    for row in plain(read_jsonl(truth_config.truth)):
        did = row["uri"].split("/")[2]
        truth.setdefault(did, {})[row["uri"]] = row
    cars = run(scenario())
    assert len(cars) >= 40
    for did, (item, data) in cars.items():
        roots, blocks = car.read_car(data, verify=True)
        commit = repo.parse_commit(roots[0], blocks[roots[0]])
        assert commit.did == did and commit.rev == item["rev"] and str(roots[0]) == item["head"]
        found = {}
        for path, cid in mst.walk(blocks, commit.data):
            uri = f"at://{did}/{path}"
            found[uri] = {"uri": uri, "cid": str(cid), "record": jsonfmt.to_json(dagcbor.decode(blocks[cid]))}
        assert found == truth.get(did, {})


@pytest.mark.parametrize(
    "query, status, error",
    [
        ("", 400, "InvalidRequest"),
        ("?did=", 400, "InvalidRequest"),
        ("?did=not-a-did", 400, "InvalidRequest"),
        ("?did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", 400, "RepoNotFound"),
    ],
)
def test_get_repo_errors(query, status, error):
    async def scenario():
        async with running(RelayConfig(synth=synth(events=50))) as relay:
            return await http_json(relay.http_url + GET + query)

    got_status, body = run(scenario())
    assert got_status == status and body["error"] == error and body["message"]


def test_get_repo_of_a_deactivated_account(truth_config):
    async def scenario():
        async with running(truth_config) as relay:
            inactive = [d for d, a in relay.state.accounts.items() if not a.active]
            assert inactive, "the network should have a deactivated account"
            return await http_json(relay.http_url + GET + "?did=" + inactive[0])

    status, body = run(scenario())
    assert status == 400 and body["error"] == "RepoDeactivated"


def test_latest_commit_and_repo_status_agree_with_list_repos():
    async def scenario():
        async with running(RelayConfig(synth=synth(events=300))) as relay:
            _s, listing = await http_json(relay.http_url + LIST + "?limit=3")
            item = listing["repos"][0]
            _s, latest = await http_json(relay.http_url + "/xrpc/com.atproto.sync.getLatestCommit?did=" + item["did"])
            _s, status = await http_json(relay.http_url + "/xrpc/com.atproto.sync.getRepoStatus?did=" + item["did"])
            return item, latest, status

    item, latest, status = run(scenario())
    assert latest == {"cid": item["head"], "rev": item["rev"]}
    assert status["did"] == item["did"] and status["rev"] == item["rev"] and status["active"] == item["active"]


@pytest.mark.parametrize(
    "path, status, error",
    [
        ("/xrpc/com.atproto.sync.subscribeRepos", 426, "UpgradeRequired"),
        ("/xrpc/com.example.nothing", 501, "MethodNotImplemented"),
        ("/elsewhere", 404, "NotFound"),
    ],
)
def test_other_paths(path, status, error):
    async def scenario():
        async with running(RelayConfig(synth=synth(events=20))) as relay:
            return await http_json(relay.http_url + path)

    got_status, body = run(scenario())
    assert got_status == status and body["error"] == error
