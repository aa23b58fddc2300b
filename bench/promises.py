"""What acknowledged writes promise about a space's contents, and the check of a listing against them.

The fault harnesses' writers (bench/chaos.py ``Writers``) send three kinds of write, each to ids of their own and one
at a time per space: ``remember`` (a new id), ``replace`` (a remember of an id the writer stored before, with the
next version of its content) and ``delete``. Every answer becomes an ``Outcome``. A 2xx acknowledges the write: from
then on, until a later write to the same id, the id must read as that write left it (present with that version's
content, or absent), whatever crashed in between. Any other answer, or none, leaves the write unknown: it may be
stored, and may even take effect after a later write of the id was acknowledged (a request whose client stopped
waiting can still be in a queue).

So a check that begins at ``checked_from`` accepts an id when it reads as the last write acknowledged by then left
it, or as any write of it not acknowledged by then left it. Anything else is an acknowledged write lost:
- ``missing``: acknowledged as stored, absent;
- ``stale``: holds an older version than the acknowledged one;
- ``resurrected``: acknowledged as deleted, present again;
- ``contradicted``: the answer to a later write showed an earlier acknowledged one lost: a ``replace`` answered
  ``replaced: false`` or a ``delete`` answered MEMORY_NOT_FOUND (writers only replace and delete ids whose every
  write so far was acknowledged), a space's create answered "existed already" after its delete was acknowledged, or
  a write to a space (or its delete) answered "no such space" after its create was acknowledged.

Spaces are written the same way: ``create_space`` and ``delete_space`` of a space (id ``SPACE_KEY``) leave it
existing or not, and a space's delete also deletes every memory written to it before (a space created again starts
empty: ``resurrected`` if its earlier incarnation's memories show). A space's delete is all or nothing: while its
answer is unknown, its memories may be gone only if the space is gone too (or was created again since).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

REMEMBER = "remember"
REPLACE = "replace"
DELETE = "delete"
CREATE_SPACE = "create_space"
DELETE_SPACE = "delete_space"
MEMORY_KINDS = (REMEMBER, REPLACE, DELETE)
KINDS = (*MEMORY_KINDS, CREATE_SPACE, DELETE_SPACE)
ABSENT = None
EXISTS = "(exists)"
"""The state of a space that exists: a listing holds it under the id ``SPACE_KEY`` (no memory id is empty)."""
SPACE_KEY = ""


class Outcome(msgspec.Struct, array_like=True):
    """One write and its answer, timed by the writer's monotonic clock."""

    space: str
    sent: float
    received: float
    code: str  # "OK" for a 2xx, else the error code (or "CONNECTION" when no HTTP answer came)
    memory_id: str = ""
    kind: str = REMEMBER
    version: int = 0  # the content's version: 0 for the first remember of an id, one more for each replace
    contradicts: bool = False  # the answer shows an earlier acknowledged write lost (see the module docstring)
    cascade: bool = False  # a memory's delete that its space's delete implied (``check`` adds these)

    @property
    def acknowledged(self) -> bool:
        return self.code == "OK"

    @property
    def key(self) -> str:
        return f"{self.space}/{self.memory_id}"

    def state(self) -> str | None:
        """The id's content as this write leaves it (``ABSENT`` after a delete); for a space's own writes
        (``memory_id`` ``SPACE_KEY``), ``EXISTS`` or ``ABSENT``."""
        if self.kind in (DELETE, DELETE_SPACE):
            return ABSENT
        return EXISTS if self.kind == CREATE_SPACE else content(self.space, self.memory_id, self.version)


class Finding(msgspec.Struct, array_like=True):
    """An acknowledged write that a listing (or a later answer) shows lost."""

    space: str
    memory_id: str
    kind: str  # "missing", "stale", "resurrected" or "contradicted"
    acknowledged_at: float  # the writer's clock when the lost write's acknowledgement came

    @property
    def key(self) -> str:
        return f"{self.space}/{self.memory_id}"


def acknowledged_by_kind(outcomes: Iterable[Outcome]) -> dict[str, int]:
    """Acknowledged writes per kind: the memories' kinds always, a space's own kinds where any was written."""
    counts = {kind: 0 for kind in KINDS}
    for outcome in outcomes:
        counts[outcome.kind] += outcome.acknowledged
    return {kind: count for kind, count in counts.items() if count or kind in MEMORY_KINDS}


def content(space: str, memory_id: str, version: int) -> str:
    """A write's content: it names its space first (so a listing shows another space's data), then id and version."""
    return f"{space} chaos write {memory_id}" + (f" v{version}" if version else "")


def check(
    listed: Mapping[str, Mapping[str, str]],
    outcomes: Iterable[Outcome],
    checked_from: float,
    excused: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[Finding]:
    """The acknowledged writes that ``listed`` (space -> id -> content, read after ``checked_from``; an existing
    space also holds ``SPACE_KEY``: ``EXISTS``) shows lost, or that an answer received by ``checked_from`` showed
    lost. ``excused`` holds "space/id" keys not to check (destroyed on purpose, or found lost before). Every space
    of ``outcomes`` must be in ``listed``."""
    by_key: dict[str, list[Outcome]] = {}
    findings = []
    for outcome in _with_space_deletes(outcomes):
        if outcome.key in excused:
            continue
        by_key.setdefault(outcome.key, []).append(outcome)
        if outcome.contradicts and outcome.received <= checked_from:
            findings.append(Finding(outcome.space, outcome.memory_id, "contradicted", outcome.received))
    answered = {finding.key for finding in findings}
    creates: dict[str, list[float]] = {}
    for outcome in outcomes:
        if outcome.kind == CREATE_SPACE:
            creates.setdefault(outcome.space, []).append(outcome.sent)

    def may_have_landed(write: Outcome) -> bool:
        """An unsettled write may have taken effect; a cascaded delete only if its space's delete did, which a
        space that exists with no create sent since that delete rules out (a space's delete is all or nothing)."""
        if not write.cascade or SPACE_KEY not in listed[write.space]:
            return True
        return any(sent > write.sent for sent in creates.get(write.space, ()))

    for key, writes in by_key.items():
        settled = [w for w in writes if w.acknowledged and w.received <= checked_from]
        if not settled or key in answered:
            continue
        last = settled[-1]
        unsettled = [w for w in writes if not (w.acknowledged and w.received <= checked_from)]
        allowed = {last.state()} | {w.state() for w in unsettled if may_have_landed(w)}
        found = listed[last.space].get(last.memory_id, ABSENT)
        if found not in allowed:
            findings.append(Finding(last.space, last.memory_id, _loss_kind(last, found), last.received))
    return findings


def _with_space_deletes(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """``outcomes`` in the order they were sent, each delete of a space followed by a delete (with its answer) of
    every memory id written to the space before it: a space created again must not show them."""
    expanded = []
    written: dict[str, dict[str, None]] = {}
    for outcome in sorted(outcomes, key=lambda o: o.sent):
        expanded.append(outcome)
        if outcome.kind == DELETE_SPACE:
            ids = written.pop(outcome.space, {})
            expanded += [
                msgspec.structs.replace(outcome, memory_id=i, kind=DELETE, contradicts=False, cascade=True) for i in ids
            ]
        elif outcome.memory_id != SPACE_KEY:
            written.setdefault(outcome.space, {})[outcome.memory_id] = None
    return expanded


def _loss_kind(last: Outcome, found: str | None) -> str:
    if last.kind in (DELETE, DELETE_SPACE):
        return "resurrected"
    return "missing" if found is ABSENT else "stale"
