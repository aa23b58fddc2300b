"""The fault harnesses' writers (bench/writers.py) against a live server: a write whose answer shows an earlier
acknowledged write gone is flagged, and the check (bench/promises.py) reports it, so a loss that a later write runs
into is not missed. The losses are made by hand here, behind the writer's back."""

from __future__ import annotations

import requests

from bench.promises import EXISTS, REMEMBER, REPLACE, check
from bench.writers import check_spaces, send_lifecycle_step, send_write

STEPS = 5  # create, three memories, delete


def test_a_replace_of_a_memory_deleted_behind_the_writers_back_is_a_loss(server, unique):
    space = f"{unique}-w"
    with requests.Session() as session:
        stored = send_write(session, server.url, space, REMEMBER, "m1", 0)
        requests.delete(f"{server.url}/api/v1/spaces/{space}/memories/m1", timeout=10).raise_for_status()
        replaced = send_write(session, server.url, space, REPLACE, "m1", 1)
    assert stored.acknowledged and not stored.contradicts
    assert replaced.acknowledged and replaced.contradicts  # 201, but "replaced": false
    findings, leaks = check_spaces(server.url, [space], [stored, replaced])
    assert [(f.memory_id, f.kind) for f in findings] == [("m1", "contradicted")] and leaks == []


def test_a_write_to_a_space_deleted_behind_the_writers_back_is_a_loss(server, unique):
    space = f"{unique}-l"
    with requests.Session() as session:
        created = send_lifecycle_step(session, server.url, space, 0, STEPS, "m", 1, None)
        requests.delete(f"{server.url}/api/v1/spaces/{space}", timeout=10).raise_for_status()
        refused = send_lifecycle_step(session, server.url, space, 1, STEPS, "m", 1, EXISTS)
    assert created.acknowledged and not created.contradicts
    assert refused.code == "MEMORY_SPACE_DELETED" and refused.contradicts
    listed = {space: {}}  # the space is gone
    kinds = sorted(f.kind for f in check(listed, [created, refused], checked_from=refused.received))
    assert kinds == ["contradicted", "missing"]  # the answer, and the listing: the acknowledged create is undone


def test_a_create_that_finds_the_space_still_there_after_its_delete_is_a_loss(server, unique):
    space = f"{unique}-c"
    requests.post(f"{server.url}/api/v1/spaces", json={"id": space}, timeout=10).raise_for_status()
    with requests.Session() as session:
        again = send_lifecycle_step(session, server.url, space, 0, STEPS, "m", 2, "absent")  # "its delete was acked"
    assert again.acknowledged and again.contradicts  # 200: it existed already
