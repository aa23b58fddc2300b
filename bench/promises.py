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
- ``answered missing``: the answer to a later write showed an earlier one lost: a ``replace`` answered with
  ``replaced: false``, or a ``delete`` answered MEMORY_NOT_FOUND, of an id whose every write so far had been
  acknowledged (writers only replace and delete such ids).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

REMEMBER = "remember"
REPLACE = "replace"
DELETE = "delete"
KINDS = (REMEMBER, REPLACE, DELETE)
ABSENT = None


class Outcome(msgspec.Struct, array_like=True):
    """One write and its answer, timed by the writer's monotonic clock."""

    space: str
    sent: float
    received: float
    code: str  # "OK" for a 2xx, else the error code (or "CONNECTION" when no HTTP answer came)
    memory_id: str = ""
    kind: str = REMEMBER
    version: int = 0  # the content's version: 0 for the first remember of an id, one more for each replace
    showed_missing: bool = False  # acknowledged, but the answer says the id was not there (see the module docstring)

    @property
    def acknowledged(self) -> bool:
        return self.code == "OK"

    @property
    def key(self) -> str:
        return f"{self.space}/{self.memory_id}"

    def state(self) -> str | None:
        """The id's content as this write leaves it (``ABSENT`` after a delete)."""
        return ABSENT if self.kind == DELETE else content(self.space, self.memory_id, self.version)


class Finding(msgspec.Struct, array_like=True):
    """An acknowledged write that a listing (or a later answer) shows lost."""

    space: str
    memory_id: str
    kind: str  # "missing", "stale", "resurrected" or "answered missing"
    acknowledged_at: float  # the writer's clock when the lost write's acknowledgement came

    @property
    def key(self) -> str:
        return f"{self.space}/{self.memory_id}"


def content(space: str, memory_id: str, version: int) -> str:
    """A write's content: it names its space first (so a listing shows another space's data), then id and version."""
    return f"{space} chaos write {memory_id}" + (f" v{version}" if version else "")


def check(
    listed: Mapping[str, Mapping[str, str]],
    outcomes: Iterable[Outcome],
    checked_from: float,
    excused: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[Finding]:
    """The acknowledged writes that ``listed`` (space -> id -> content, read after ``checked_from``) shows lost, or
    that an answer received by ``checked_from`` showed lost. ``excused`` holds "space/id" keys not to check
    (destroyed on purpose, or found lost before). Every space of ``outcomes`` must be in ``listed``."""
    by_key: dict[str, list[Outcome]] = {}
    findings = []
    for outcome in sorted(outcomes, key=lambda o: o.sent):
        if outcome.key in excused:
            continue
        by_key.setdefault(outcome.key, []).append(outcome)
        if outcome.showed_missing and outcome.received <= checked_from:
            findings.append(Finding(outcome.space, outcome.memory_id, "answered missing", outcome.received))
    answered = {finding.key for finding in findings}
    for key, writes in by_key.items():
        settled = [w for w in writes if w.acknowledged and w.received <= checked_from]
        if not settled or key in answered:
            continue
        last = settled[-1]
        allowed = {last.state()} | {w.state() for w in writes if not (w.acknowledged and w.received <= checked_from)}
        found = listed[last.space].get(last.memory_id, ABSENT)
        if found not in allowed:
            findings.append(Finding(last.space, last.memory_id, _loss_kind(last, found), last.received))
    return findings


def _loss_kind(last: Outcome, found: str | None) -> str:
    if last.kind == DELETE:
        return "resurrected"
    return "missing" if found is ABSENT else "stale"
