"""A deterministic synthetic network: accounts that post, like, follow, edit and delete.

Everything comes from one seeded :class:`random.Random`, so a seed and a clock give the same
events, byte for byte, every time. :class:`SyntheticNetwork` yields :class:`Event` records in
sequence order and keeps the resulting :class:`NetworkState` up to date as it goes, so the
final state (the "truth") is known as soon as the last event has been generated.

Time: the first ``config.events`` events (the history) are spread over ``config.days`` days
ending at ``now``; later (live) events follow ``now`` at ``live_step_us`` intervals. Record
keys and revisions are TIDs of the event time, and ``createdAt`` is the event time.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import random
from collections import deque
from typing import Any, Callable, Generic, Iterator, Optional, TypeVar

from supervisor.atproto import dagcbor, frames, mst, syntax
from supervisor.atproto.cid import CID, RAW
from supervisor.atproto.proof import PartialTree
from supervisor.devrelay.errors import ConfigError
from supervisor.devrelay.events import ACCOUNT, COMMIT, IDENTITY, Event, Op, collect_blobs, format_time
from supervisor.devrelay.identity import account_key
from supervisor.devrelay.network import NetworkState

__all__ = ["SynthConfig", "SyntheticNetwork", "ACTION_WEIGHTS"]

T = TypeVar("T")

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
REPOST = "app.bsky.feed.repost"
FOLLOW = "app.bsky.graph.follow"
BLOCK = "app.bsky.graph.block"
PROFILE = "app.bsky.actor.profile"

#: Relative frequency of each action once accounts exist (likes dominate, as on the network).
ACTION_WEIGHTS: dict[str, float] = {
    "like": 45.0,
    "post": 16.0,
    "repost": 10.0,
    "follow": 11.0,
    "delete": 7.0,
    "block": 1.2,
    "thread": 1.0,
    "profile_update": 1.5,
    "post_edit": 0.8,
    "handle_change": 0.6,
    "deactivate": 0.35,
    "reactivate": 0.35,
}

_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_WORDS = (
    "the a and of to in is it that for on with as this be at by from or an are was but not "
    "have all new more one about what when we can will just like your our out up so if time "
    "people day today really good great love thanks think know see post photo look feed sky "
    "blue bird cloud sunset coffee morning night music art code data protocol relay network "
    "garden rain river city train book idea weekend friend team project release update news "
    "café naïve über señor 日本語 テスト 😀 🚀 ✨"
).split()
_NAMES = (
    "alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy "
    "rupert sybil trent victor walter yolanda zoe"
).split()
_LANGS = (("en",) * 14) + ("ja", "pt", "de", "es", "fr", "ko")

# A TID holds its time in 53 bits of microseconds: no event may happen after this (in 2255).
MAX_TIME_US = 2**53 - 1


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """Shape of the synthetic network.

    ``events`` history events spread over ``days`` days ending at ``now_us`` (epoch
    microseconds), then ``live_events`` more, ``live_step_us`` apart, after ``now_us``.
    """

    seed: int = 0
    accounts: int = 100
    events: int = 10_000
    days: float = 7.0
    now_us: int = 1_700_000_000_000_000
    live_events: int = 0
    live_step_us: int = 1_000
    #: Sign each commit with the account's key and carry sync 1.1 proofs (``prevData`` and the
    #: MST nodes that invert its operations). Off: placeholder signatures, no proofs (cheaper).
    sign: bool = True
    #: Relative frequency of signing key rotations (an ``#identity`` event; 0: never).
    key_rotations: float = 0.0
    #: Every K-th account (the K-th, 2K-th... born) is ``did:web`` (0: none): the one of
    #: ``web_hosts[i]`` (``host:port``, each the account's own PDS host) for the i-th of them.
    did_web_every: int = 0
    web_hosts: tuple[str, ...] = ()
    #: Every K-th account ends taken down, deactivated or deleted (0: none): an ``#account``
    #: event among the last of the history, after which the account does nothing. An account
    #: that two of these pick gets the first of deleted, taken down, deactivated.
    takedown_every: int = 0
    deactivate_every: int = 0
    delete_every: int = 0
    #: One more account whose repository holds this many records (0: none), made without
    #: events: their times are spread over the first half of the history, so only a crawl of
    #: the repository finds them.
    large_repo_records: int = 0

    @property
    def web_accounts(self) -> int:
        """How many accounts are ``did:web``."""
        return self.accounts // self.did_web_every if self.did_web_every else 0

    def final_status(self, number: int) -> Optional[str]:
        """The status account ``number`` (0-based, in order of birth) ends with (None: active)."""
        for every, status in (
            (self.delete_every, "deleted"),
            (self.takedown_every, "takendown"),
            (self.deactivate_every, "deactivated"),
        ):
            if every and (number + 1) % every == 0:
                return status
        return None

    def validate(self) -> None:
        """Raise :class:`ConfigError` for settings that cannot describe a network."""
        if self.accounts < 1:
            raise ConfigError(f"accounts must be at least 1, not {self.accounts}")
        if self.events < 0 or self.live_events < 0:
            raise ConfigError("event counts cannot be negative")
        if not (self.days > 0 and math.isfinite(self.days)):
            raise ConfigError(f"days must be a positive number, not {self.days}")
        if not (0 <= self.key_rotations < float("inf")):
            raise ConfigError(f"key_rotations must be a finite weight of at least 0, not {self.key_rotations}")
        if self.live_step_us < 1:
            raise ConfigError("live_step_us must be at least 1")
        for name in ("did_web_every", "takedown_every", "deactivate_every", "delete_every", "large_repo_records"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name.replace('_', '-')} cannot be negative, not {getattr(self, name)}")
        if not 0 <= self.now_us <= MAX_TIME_US:
            raise ConfigError(
                "now must lie between 1970 and 2255 (the range of record keys); "
                "give an RFC 3339 datetime such as 2025-01-01T00:00:00Z"
            )
        if self.now_us - self.days * 86_400e6 < 0:
            raise ConfigError("the history would start before 1970: lower days or move now later")
        if self.now_us + self.live_events * self.live_step_us > MAX_TIME_US:
            raise ConfigError(
                "the live events would run past 2255 (the range of record keys): raise the rate or lower live-events"
            )


class _Bag(Generic[T]):
    """A set with O(1) add, remove and uniform random choice."""

    __slots__ = ("items", "index")

    def __init__(self) -> None:
        self.items: list[T] = []
        self.index: dict[T, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item: object) -> bool:
        return item in self.index

    def add(self, item: T) -> None:
        if item not in self.index:
            self.index[item] = len(self.items)
            self.items.append(item)

    def remove(self, item: T) -> None:
        pos = self.index.pop(item, None)
        if pos is None:
            return
        last = self.items.pop()
        if pos < len(self.items):
            self.items[pos] = last
            self.index[last] = pos

    def choice(self, rng: random.Random) -> T:
        return self.items[int(rng.random() * len(self.items))]


@dataclasses.dataclass(slots=True)
class _Actor:
    """Generator-side bookkeeping for one account (the records live in the state)."""

    number: int
    did: str
    handle: str
    clock_id: int
    active: bool = True
    # collection -> rkeys present, for deletes and edits
    keys: dict[str, _Bag[str]] = dataclasses.field(default_factory=dict)
    # subject -> rkey, so a second like/follow of the same subject becomes an undo
    likes: dict[str, str] = dataclasses.field(default_factory=dict)
    reposts: dict[str, str] = dataclasses.field(default_factory=dict)
    follows: dict[str, str] = dataclasses.field(default_factory=dict)
    blocks: dict[str, str] = dataclasses.field(default_factory=dict)
    handle_changes: int = 0
    key_gen: int = 0
    #: Taken down, deactivated or deleted for good: never active again.
    final: bool = False
    #: path -> record CID of the repository as of the last commit (the MST of signed commits).
    tree: dict[str, CID] = dataclasses.field(default_factory=dict)
    #: The root of that MST and a block map holding its nodes (and those of earlier commits):
    #: each signed commit re-encodes only the nodes its operations change.
    root: Optional[CID] = None
    nodes: dict[CID, bytes] = dataclasses.field(default_factory=dict)

    def bag(self, collection: str) -> _Bag[str]:
        bag = self.keys.get(collection)
        if bag is None:
            bag = self.keys[collection] = _Bag()
        return bag


class SyntheticNetwork:
    """The event source of a synthetic network; iterate :meth:`events` once.

    ``state`` always reflects every event yielded so far.
    """

    def __init__(self, config: SynthConfig) -> None:
        config.validate()
        self.config = config
        self.state = NetworkState(config.seed if config.sign else None)
        self._rng = random.Random(config.seed)
        # A separate stream for time jitter keeps the choices independent of the clock.
        self._time_rng = random.Random(f"time:{config.seed}")
        self._seq = 0
        self._last_time = -1
        self._span_us = int(config.days * 86_400e6)
        self._start_us = config.now_us - self._span_us
        self._actors: list[_Actor] = []
        self._dids: set[str] = set()
        self._posts: _Bag[str] = _Bag()  # live post URIs
        self._post_refs: dict[str, tuple[str, str, str]] = {}  # uri -> (cid, root uri, root cid)
        self._recent: deque[str] = deque(maxlen=512)
        self._blob_counter = 0
        self._queue: deque[Event] = deque()
        self._last_tid: tuple[tuple[int, int], str] = ((-1, -1), "")
        self._finals_done = not (config.takedown_every or config.deactivate_every or config.delete_every)
        if config.did_web_every and len(config.web_hosts) < config.web_accounts:
            raise ConfigError(
                f"did-web-every {config.did_web_every} makes {config.web_accounts} did:web accounts, "
                f"but only {len(config.web_hosts)} host addresses were given"
            )
        if config.large_repo_records:
            self._large_repo(config.large_repo_records)
        weights = dict(ACTION_WEIGHTS)
        if config.key_rotations:
            weights["rotate_key"] = config.key_rotations
        kinds = list(weights)
        self._action_kinds = kinds
        total = 0.0
        self._action_cum: list[float] = []
        for kind in kinds:
            total += weights[kind]
            self._action_cum.append(total)
        self._actions: dict[str, Callable[[], None]] = {
            "like": lambda: self._subject_toggle(LIKE, "likes"),
            "repost": lambda: self._subject_toggle(REPOST, "reposts"),
            "post": self._post,
            "follow": lambda: self._graph_toggle(FOLLOW, "follows"),
            "block": lambda: self._graph_toggle(BLOCK, "blocks"),
            "delete": self._delete,
            "thread": self._thread,
            "profile_update": self._profile_update,
            "post_edit": self._post_edit,
            "handle_change": self._handle_change,
            "deactivate": self._deactivate,
            "reactivate": self._reactivate,
            "rotate_key": self._rotate_key,
        }

    # -- the event stream ---------------------------------------------------------------------

    @property
    def total_events(self) -> int:
        """History plus live events: the length of :meth:`events`."""
        return self.config.events + self.config.live_events

    def events(self) -> Iterator[Event]:
        """Every event, history then live, in sequence order (seq 1, 2, ...)."""
        total = self.total_events
        emitted = 0
        while emitted < total:
            if not self._queue:
                self._act()
            event = self._queue.popleft()
            # Applied as it is yielded, so a copy of the state taken between two events
            # (the end of the history, say) holds exactly the events before it.
            self.state.apply(event)
            emitted += 1
            yield event

    def _act(self) -> None:
        """Run one action; it queues one or more events."""
        if not self._finals_done:
            targets = [a for a in self._actors if self.config.final_status(a.number) is not None]
            if self._seq + len(targets) >= self.config.events:
                self._finals_done = True
                if targets:
                    self._finals(targets)
                    return
        if self._should_birth():
            self._birth()
            return
        kind = self._action_kinds[bisect.bisect_right(self._action_cum, self._rng.random() * self._action_cum[-1])]
        self._actions[kind]()
        if not self._queue:  # the action found nothing to do (no posts yet, say)
            self._post()

    def _clock(self) -> tuple[int, int]:
        """The next (seq, time) pair: times strictly increase, seqs count from 1."""
        index = self._seq
        self._seq += 1
        cfg = self.config
        if index < cfg.events:
            slot = self._span_us // max(cfg.events, 1)
            base = self._start_us + (index * self._span_us) // max(cfg.events, 1)
            time_us = base + int(self._time_rng.random() * max(slot, 1))
            time_us = min(time_us, cfg.now_us)
        else:
            time_us = cfg.now_us + (index - cfg.events + 1) * cfg.live_step_us
        time_us = max(time_us, self._last_time + 1)
        self._last_time = time_us
        return self._seq, time_us

    def _emit(self, event: Event) -> None:
        self._queue.append(event)

    # -- accounts -----------------------------------------------------------------------------

    def _should_birth(self) -> bool:
        unborn = self.config.accounts - len(self._actors)
        if unborn <= 0:
            return False
        if not self._actors:
            return True
        # Spread account creation over the first 40% of the history (three events each).
        horizon = max(int(0.4 * self.config.events), 3 * self.config.accounts)
        left = horizon - self._seq
        if left <= 3 * unborn:
            return True
        return self._rng.random() < 3 * unborn / left

    def _finals(self, targets: list[_Actor]) -> None:
        """The end of the accounts taken down, deactivated or deleted: one ``#account`` event each."""
        for actor in targets:
            actor.active = False
            actor.final = True
            seq, t = self._clock()
            self._emit(Event(ACCOUNT, seq, t, actor.did, active=False, status=self.config.final_status(actor.number)))

    def _large_repo(self, count: int) -> None:
        """The account with ``count`` records, put in the state directly (no events)."""
        rng = random.Random(f"large:{self.config.seed}")
        did = "did:plc:" + "".join(rng.choices(_B32, k=24))
        while did in self._dids:
            did = "did:plc:" + "".join(rng.choices(_B32, k=24))
        self._dids.add(did)
        acct = self.state.account(did)
        acct.handle = "large.devrelay.test"
        records = acct.records
        span = max(self._span_us // 2, count)
        clock = rng.randrange(1024)
        posts: list[tuple[str, str]] = []
        t = self._start_us
        for index in range(count):
            t = max(t + 1, self._start_us + (index * span) // count)
            rkey = syntax.tid_from_time(t, clock)
            made = format_time(t)
            roll = rng.random()
            if roll < 0.4 or not posts:
                collection = POST
                record: dict[str, Any] = {
                    "$type": POST,
                    "text": " ".join(rng.choices(_WORDS, k=rng.randint(3, 20))),
                    "createdAt": made,
                    "langs": [rng.choice(_LANGS)],
                }
            elif roll < 0.85:
                collection = LIKE
                uri, cid_text = posts[int(len(posts) * rng.random())]
                record = {"$type": LIKE, "subject": {"uri": uri, "cid": cid_text}, "createdAt": made}
            else:
                collection = FOLLOW
                subject = "did:plc:" + "".join(rng.choices(_B32, k=24))
                record = {"$type": FOLLOW, "subject": subject, "createdAt": made}
            cid = CID.for_block(dagcbor.encode(record))
            records[f"{collection}/{rkey}"] = (cid, record)
            if collection == POST:
                posts.append((f"at://{did}/{POST}/{rkey}", str(cid)))
        acct.rev = syntax.tid_from_time(t + 1, clock)

    def _new_did(self) -> str:
        while True:
            did = "did:plc:" + "".join(self._rng.choices(_B32, k=24))
            if did not in self._dids:
                self._dids.add(did)
                return did

    def _birth(self) -> None:
        number = len(self._actors)
        name = _NAMES[number % len(_NAMES)]
        did = self._new_did()  # drawn for did:web accounts too: the rest of the network stays the same
        every = self.config.did_web_every
        if every and (number + 1) % every == 0:
            did = "did:web:" + self.config.web_hosts[(number + 1) // every - 1].replace(":", "%3A")
        actor = _Actor(number, did, f"{name}{number}.devrelay.test", self._rng.randrange(1024))
        self._actors.append(actor)
        seq, t = self._clock()
        self._emit(Event(IDENTITY, seq, t, actor.did, handle=actor.handle))
        seq, t = self._clock()
        self._emit(Event(ACCOUNT, seq, t, actor.did, active=True))
        seq, t = self._clock()
        profile = self._profile_record(actor, t, avatar=self._rng.random() < 0.7)
        self._commit(actor, seq, t, [("create", PROFILE, "self", profile)])

    def _actor(self) -> Optional[_Actor]:
        """A random active account; earlier accounts are busier (a long-tailed activity)."""
        for _ in range(8):
            actor = self._actors[int(len(self._actors) * self._rng.random() ** 1.6)]
            if actor.active:
                return actor
        return None

    def _other(self, actor: _Actor) -> Optional[_Actor]:
        if len(self._actors) < 2:
            return None
        while True:
            other = self._actors[int(len(self._actors) * self._rng.random())]
            if other is not actor:
                return other

    # -- records ------------------------------------------------------------------------------

    def _commit(
        self, actor: _Actor, seq: int, t: int, writes: list[tuple[str, str, str, Optional[dict[str, Any]]]]
    ) -> list[Optional[CID]]:
        """Emit one commit of ``writes`` (action, collection, rkey, record); returns the CIDs."""
        ops: list[Op] = []
        cids: list[Optional[CID]] = []
        for action, collection, rkey, record in writes:
            path = f"{collection}/{rkey}"
            if record is None:
                ops.append((action, path, None, None))
                actor.bag(collection).remove(rkey)
                cids.append(None)
            else:
                cid = CID.for_block(dagcbor.encode(record))
                ops.append((action, path, cid, record))
                actor.bag(collection).add(rkey)
                cids.append(cid)
        since = self.state.account(actor.did).rev
        event = Event(COMMIT, seq, t, actor.did, rev=self._rkey(actor, t), since=since, ops=tuple(ops))
        if self.config.sign:
            event.frame = self._signed_frame(actor, event)
        self._emit(event)
        return cids

    def _signed_frame(self, actor: _Actor, event: Event) -> bytes:
        """The sync 1.1 frame of a commit: signed by the actor's key, with ``prevData`` and the
        MST nodes that invert its operations (built now: the tree is the actor's as of this commit)."""
        tree = actor.tree
        if actor.root is None:
            actor.root, actor.nodes = mst.build({})
        partial = PartialTree(actor.nodes, actor.root, written=actor.nodes)
        specs: list[tuple[Any, ...]] = []
        blobs: list[CID] = []
        for action, path, cid, record in event.ops:
            prev = tree.get(path)
            if action == "delete":
                tree.pop(path, None)
                partial.delete(path)
            elif cid is not None:
                tree[path] = cid
                partial.put(path, cid)
            if record is not None:
                collect_blobs(record, blobs)
            specs.append((action, path, cid, record, prev) if prev is not None else (action, path, cid, record))
        key = account_key(self.config.seed, actor.did, actor.key_gen)
        prev_data, actor.root = actor.root, partial.root_cid()
        frame = frames.encode_commit(
            event.seq,
            event.did,
            event.rev or "",
            event.since,
            format_time(event.time_us),
            specs,
            prev_data=prev_data,
            data=actor.root,
            nodes=actor.nodes,
            blobs=blobs,
            sign=key.sign,
            inductive=True,
        )
        if len(actor.nodes) > 2 * len(tree) + 64:
            # Drop the nodes of earlier trees: build this one again (the same root), now and then.
            actor.nodes = mst.build(tree)[1]
        return frame

    def _rkey(self, actor: _Actor, t: int, offset: int = 0) -> str:
        """The TID of time ``t`` on the actor's clock (the commit rev uses offset 0 too)."""
        key = (t, (actor.clock_id + offset) % 1024)
        if self._last_tid[0] != key:
            self._last_tid = (key, syntax.tid_from_time(*key))
        return self._last_tid[1]

    def _text(self, low: int = 3, high: int = 28) -> str:
        return " ".join(self._rng.choices(_WORDS, k=self._rng.randint(low, high)))

    def _blob(self, mime: str = "image/jpeg") -> dict[str, Any]:
        self._blob_counter += 1
        data = self._rng.randbytes(24) + self._blob_counter.to_bytes(8, "big")
        return {
            "$type": "blob",
            "ref": CID.for_block(data, codec=RAW),
            "mimeType": mime,
            "size": self._rng.randint(20_000, 900_000),
        }

    def _profile_record(self, actor: _Actor, t: int, *, avatar: bool) -> dict[str, Any]:
        record: dict[str, Any] = {
            "$type": PROFILE,
            "displayName": f"{actor.handle.split('.')[0].title()} {self._rng.choice(_WORDS)}",
            "description": self._text(2, 16),
            "createdAt": format_time(t),
        }
        if avatar:
            record["avatar"] = self._blob()
        return record

    def _pick_post(self) -> Optional[str]:
        """A live post, usually a recent one (engagement follows freshness)."""
        for _ in range(6):
            if self._recent and self._rng.random() < 0.7:
                uri = self._recent[int(len(self._recent) * self._rng.random())]
            elif self._posts:
                uri = self._posts.choice(self._rng)
            else:
                return None
            if uri in self._post_refs:
                return uri
        return None

    def _ref(self, uri: str) -> dict[str, str]:
        return {"uri": uri, "cid": self._post_refs[uri][0]}

    def _post_record(self, actor: _Actor, t: int, *, parent: Optional[str] = None) -> dict[str, Any]:
        record: dict[str, Any] = {
            "$type": POST,
            "text": self._text(),
            "createdAt": format_time(t),
            "langs": [self._rng.choice(_LANGS)],
        }
        roll = self._rng.random()
        if parent is None and roll < 0.35:
            parent = self._pick_post()
        if parent is not None:
            _cid, root_uri, root_cid = self._post_refs[parent]
            record["reply"] = {"root": {"uri": root_uri, "cid": root_cid}, "parent": self._ref(parent)}
        roll = self._rng.random()
        if roll < 0.08:
            quoted = self._pick_post()
            if quoted is not None:
                record["embed"] = {"$type": "app.bsky.embed.record", "record": self._ref(quoted)}
        elif roll < 0.23:
            images = []
            for _ in range(self._rng.randint(1, 4)):
                images.append(
                    {
                        "alt": self._text(0, 6),
                        "image": self._blob(self._rng.choice(("image/jpeg", "image/png", "image/webp"))),
                        "aspectRatio": {"width": self._rng.randint(200, 4000), "height": self._rng.randint(200, 4000)},
                    }
                )
            record["embed"] = {"$type": "app.bsky.embed.images", "images": images}
        return record

    def _register_post(self, actor: _Actor, rkey: str, cid: str, record: dict[str, Any]) -> None:
        uri = f"at://{actor.did}/{POST}/{rkey}"
        reply = record.get("reply")
        if reply:
            root = reply["root"]
            self._post_refs[uri] = (cid, root["uri"], root["cid"])
        else:
            self._post_refs[uri] = (cid, uri, cid)
        self._posts.add(uri)
        self._recent.append(uri)

    # -- actions ------------------------------------------------------------------------------

    def _post(self) -> None:
        actor = self._actor()
        if actor is None:
            return self._reactivate()
        seq, t = self._clock()
        rkey = self._rkey(actor, t)
        record = self._post_record(actor, t)
        (cid,) = self._commit(actor, seq, t, [("create", POST, rkey, record)])
        self._register_post(actor, rkey, str(cid), record)

    def _thread(self) -> None:
        """Several posts in one commit, each replying to the one before."""
        actor = self._actor()
        if actor is None:
            return
        seq, t = self._clock()
        writes: list[tuple[str, str, str, Optional[dict[str, Any]]]] = []
        parent: Optional[str] = None
        for part in range(self._rng.randint(2, 4)):
            rkey = self._rkey(actor, t, part)
            record = self._post_record(actor, t, parent=parent)
            cid = str(CID.for_block(dagcbor.encode(record)))
            self._register_post(actor, rkey, cid, record)
            parent = f"at://{actor.did}/{POST}/{rkey}"
            writes.append(("create", POST, rkey, record))
        self._commit(actor, seq, t, writes)

    def _subject_toggle(self, collection: str, field: str) -> None:
        """Like or repost a post; doing it twice undoes it (a delete)."""
        actor = self._actor()
        uri = self._pick_post()
        if actor is None or uri is None:
            return
        done: dict[str, str] = getattr(actor, field)
        seq, t = self._clock()
        if uri in done:
            rkey = done.pop(uri)
            self._commit(actor, seq, t, [("delete", collection, rkey, None)])
            return
        rkey = self._rkey(actor, t)
        record = {"$type": collection, "subject": self._ref(uri), "createdAt": format_time(t)}
        self._commit(actor, seq, t, [("create", collection, rkey, record)])
        done[uri] = rkey

    def _graph_toggle(self, collection: str, field: str) -> None:
        """Follow or block an account; doing it twice undoes it."""
        actor = self._actor()
        if actor is None:
            return
        other = self._other(actor)
        if other is None:
            return
        done: dict[str, str] = getattr(actor, field)
        seq, t = self._clock()
        if other.did in done:
            rkey = done.pop(other.did)
            self._commit(actor, seq, t, [("delete", collection, rkey, None)])
            return
        rkey = self._rkey(actor, t)
        record = {"$type": collection, "subject": other.did, "createdAt": format_time(t)}
        self._commit(actor, seq, t, [("create", collection, rkey, record)])
        done[other.did] = rkey

    def _delete(self) -> None:
        actor = self._actor()
        if actor is None:
            return
        collection = self._rng.choice((POST, POST, LIKE, LIKE, REPOST, FOLLOW, BLOCK))
        bag = actor.keys.get(collection)
        if not bag:
            return
        rkey = bag.choice(self._rng)
        seq, t = self._clock()
        self._commit(actor, seq, t, [("delete", collection, rkey, None)])
        if collection == POST:
            uri = f"at://{actor.did}/{POST}/{rkey}"
            self._post_refs.pop(uri, None)
            self._posts.remove(uri)
        else:
            table: dict[str, str] = {
                LIKE: actor.likes,
                REPOST: actor.reposts,
                FOLLOW: actor.follows,
                BLOCK: actor.blocks,
            }[collection]
            for subject, key in list(table.items()):
                if key == rkey:
                    del table[subject]
                    break

    def _profile_update(self) -> None:
        actor = self._actor()
        if actor is None:
            return
        seq, t = self._clock()
        current = self.state.account(actor.did).records.get(f"{PROFILE}/self")
        record = self._profile_record(actor, t, avatar=self._rng.random() < 0.8)
        if current is not None and "createdAt" in current[1]:
            record["createdAt"] = current[1]["createdAt"]
        action = "update" if current is not None else "create"
        self._commit(actor, seq, t, [(action, PROFILE, "self", record)])

    def _post_edit(self) -> None:
        actor = self._actor()
        if actor is None:
            return
        bag = actor.keys.get(POST)
        if not bag:
            return
        rkey = bag.choice(self._rng)
        _cid, old = self.state.account(actor.did).records[f"{POST}/{rkey}"]
        record = dict(old)
        record["text"] = self._text()
        seq, t = self._clock()
        (new_cid,) = self._commit(actor, seq, t, [("update", POST, rkey, record)])
        cid = str(new_cid)
        uri = f"at://{actor.did}/{POST}/{rkey}"
        _old_cid, root_uri, root_cid = self._post_refs[uri]
        if root_uri == uri:
            root_cid = cid
        self._post_refs[uri] = (cid, root_uri, root_cid)

    def _handle_change(self) -> None:
        actor = self._actor()
        if actor is None:
            return
        actor.handle_changes += 1
        name = _NAMES[(actor.number + actor.handle_changes) % len(_NAMES)]
        actor.handle = f"{name}{actor.number}-{actor.handle_changes}.devrelay.test"
        seq, t = self._clock()
        self._emit(Event(IDENTITY, seq, t, actor.did, handle=actor.handle))

    def _rotate_key(self) -> None:
        actor = self._actor()
        if actor is None:
            return
        actor.key_gen += 1
        seq, t = self._clock()
        self._emit(Event(IDENTITY, seq, t, actor.did, handle=actor.handle, key_gen=actor.key_gen))

    def _deactivate(self) -> None:
        actor = self._actor()
        if actor is None or sum(1 for a in self._actors if a.active) <= 1:
            return
        actor.active = False
        seq, t = self._clock()
        self._emit(Event(ACCOUNT, seq, t, actor.did, active=False, status="deactivated"))

    def _reactivate(self) -> None:
        inactive = [a for a in self._actors if not a.active and not a.final]
        if not inactive:
            return
        actor = inactive[int(len(inactive) * self._rng.random())]
        actor.active = True
        seq, t = self._clock()
        self._emit(Event(ACCOUNT, seq, t, actor.did, active=True))
