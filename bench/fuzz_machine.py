"""A hypothesis state machine that drives a live server with random sequences of space and memory operations and
checks every answer against an in-memory model of what each space must hold.

The rules: create and delete a space, remember (valid and invalid space ids, memory ids shared by every space), get,
delete, list, and recall by exact content. An unknown space reads as empty, a deleted space is 410 until it is
created again (then empty), an invalid space id is 400, and no space ever shows a memory of another (the same ids
live in several spaces with different contents). Failing examples are kept in tests/hypothesis-regressions
(committed), so a divergence found once, by the tests or by bench/fuzz.py, is replayed first by every later run.
tests/live/test_stateful_fuzz.py runs it at the default budget; bench/fuzz.py at any budget for the evidence suite.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import quote

import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

REGRESSIONS = Path(__file__).resolve().parent.parent / "tests" / "hypothesis-regressions"


def budget(sequences: int = 25, steps: int = 30) -> settings:
    """Hypothesis settings for ``sequences`` runs of at most ``steps`` steps, replaying the saved regressions first."""
    return settings(
        max_examples=sequences,
        stateful_step_count=steps,
        deadline=None,
        database=DirectoryBasedExampleDatabase(str(REGRESSIONS)),
        suppress_health_check=[HealthCheck.too_slow],
    )


SETTINGS = budget()

SPACE_SLOTS = ("a", "b", "c")  # names in the model; each machine run maps them to fresh server spaces
MEMORY_IDS = ("m1", "m2", "shared", "mem_00000001")  # every space uses the same ids: collisions on purpose
INVALID_SPACES = ("AB", "x", "Bad-Space", "bad.id", "a" * 65, "sp ace", "tenant%7")
ABSENT, ACTIVE, DELETED = "absent", "active", "deleted"

spaces = st.sampled_from(SPACE_SLOTS)
memory_ids = st.sampled_from(MEMORY_IDS)
words = st.sampled_from(("apple", "river", "lamp", "orbit", "quartz"))


class SpacesMachine(RuleBasedStateMachine):
    url = ""  # the live server's base URL, set before a run
    counts = {"sequences": 0, "requests": 0}  # over every machine since the caller last reset them

    def __init__(self) -> None:
        super().__init__()
        self.http = requests.Session()
        prefix = f"fz{uuid.uuid4().hex[:8]}"
        self.names = {slot: f"{prefix}-{slot}" for slot in SPACE_SLOTS}
        self.state = dict.fromkeys(SPACE_SLOTS, ABSENT)
        self.memories: dict[str, dict[str, str]] = {slot: {} for slot in SPACE_SLOTS}
        self.writes = 0
        SpacesMachine.counts["sequences"] += 1

    # -- helpers ---------------------------------------------------------------------------------------------

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        SpacesMachine.counts["requests"] += 1
        return self.http.request(method, f"{self.url}/api/v1{path}", timeout=30, **kwargs)

    def path(self, slot: str) -> str:
        return f"/spaces/{self.names[slot]}"

    def expect(self, response: requests.Response, status: int, code: str | None = None) -> dict:
        assert response.status_code == status, (response.request.method, response.request.url, response.text)
        body = response.json()
        if code is not None:
            assert body["error"]["code"] == code, body
        return body

    def expect_deleted(self, response: requests.Response) -> None:
        self.expect(response, 410, "MEMORY_SPACE_DELETED")

    # -- spaces ----------------------------------------------------------------------------------------------

    @rule(slot=spaces)
    def create_space(self, slot: str) -> None:
        response = self.call("POST", "/spaces", json={"id": self.names[slot]})
        self.expect(response, 200 if self.state[slot] == ACTIVE else 201)
        if self.state[slot] != ACTIVE:
            self.state[slot], self.memories[slot] = ACTIVE, {}

    @rule(slot=spaces)
    def delete_space(self, slot: str) -> None:
        response = self.call("DELETE", self.path(slot))
        if self.state[slot] == ABSENT:
            self.expect(response, 404, "MEMORY_SPACE_NOT_FOUND")
        elif self.state[slot] == DELETED:
            self.expect_deleted(response)
        else:
            self.expect(response, 200)
            self.state[slot], self.memories[slot] = DELETED, {}

    # -- memories --------------------------------------------------------------------------------------------

    @rule(slot=spaces, memory_id=memory_ids, word=words)
    def remember(self, slot: str, memory_id: str, word: str) -> None:
        self.writes += 1
        content = f"{self.names[slot]} {memory_id} {word} {self.writes}"  # names its space: a leak shows
        response = self.call("POST", f"{self.path(slot)}/memories", json={"id": memory_id, "content": content})
        if self.state[slot] == DELETED:
            self.expect_deleted(response)
            return
        assert self.expect(response, 201)["memory_id"] == memory_id
        self.state[slot] = ACTIVE  # a write to a valid unknown space creates it
        self.memories[slot][memory_id] = content

    @rule(space=st.sampled_from(INVALID_SPACES), memory_id=memory_ids, operation=st.sampled_from(("write", "list")))
    def invalid_space_is_400(self, space: str, memory_id: str, operation: str) -> None:
        path = f"/spaces/{quote(space, safe='')}/memories"
        if operation == "write":
            response = self.call("POST", path, json={"id": memory_id, "content": "never stored"})
        else:
            response = self.call("GET", path)
        self.expect(response, 400, "INVALID_MEMORY_SPACE_ID")

    @rule(slot=spaces, memory_id=memory_ids)
    def get_memory(self, slot: str, memory_id: str) -> None:
        response = self.call("GET", f"{self.path(slot)}/memories/{memory_id}")
        if self.state[slot] == DELETED:
            self.expect_deleted(response)
        elif memory_id in self.memories[slot]:
            assert self.expect(response, 200)["content"] == self.memories[slot][memory_id]
        else:
            self.expect(response, 404, "MEMORY_NOT_FOUND")

    @rule(slot=spaces, memory_id=memory_ids)
    def delete_memory(self, slot: str, memory_id: str) -> None:
        response = self.call("DELETE", f"{self.path(slot)}/memories/{memory_id}")
        if self.state[slot] == DELETED:
            self.expect_deleted(response)
        elif memory_id in self.memories[slot]:
            self.expect(response, 200)
            del self.memories[slot][memory_id]
        else:
            self.expect(response, 404, "MEMORY_NOT_FOUND")

    @rule(slot=spaces)
    def list_memories(self, slot: str) -> None:
        response = self.call("GET", f"{self.path(slot)}/memories", params={"limit": 1000})
        if self.state[slot] == DELETED:
            self.expect_deleted(response)
            return
        listed = {m["id"]: m["content"] for m in self.expect(response, 200)["memories"]}
        assert listed == self.memories[slot]

    @precondition(lambda self: any(self.memories[slot] for slot in SPACE_SLOTS))
    @rule(data=st.data())
    def recall_exact_content(self, data: st.DataObject) -> None:
        slot = data.draw(st.sampled_from([s for s in SPACE_SLOTS if self.memories[s]]))
        memory_id = data.draw(st.sampled_from(sorted(self.memories[slot])))
        response = self.call("POST", f"{self.path(slot)}/recall", json={"query": self.memories[slot][memory_id]})
        memories = self.expect(response, 200)["memories"]
        recalled = [m for kind in ("vivid", "associated", "reconstructed") for m in memories.get(kind, [])]
        assert memory_id in {m["id"] for m in recalled}
        for memory in recalled:  # only this space's memories, with the contents it holds
            assert self.memories[slot].get(memory["id"]) == memory["content"], memory

    @invariant()
    def deleted_spaces_answer_410(self) -> None:
        for slot in SPACE_SLOTS:
            if self.state[slot] == DELETED:
                self.expect_deleted(self.call("GET", self.path(slot)))

    def teardown(self) -> None:
        for slot in SPACE_SLOTS:  # keep the shared server's registry small
            if self.state[slot] == ACTIVE:
                self.call("DELETE", self.path(slot))
        self.http.close()
