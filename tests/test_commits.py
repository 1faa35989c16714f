"""Engine commits wake asyncio tasks (``zeitbus.commits``), from whichever thread committed."""

from __future__ import annotations

import asyncio

from zeitbus import Engine, Event, Subject
from zeitbus.commits import on_commit
from zeitbus.ontology import ACCESS_EVENT, USER_ACTIVITY


def _event(ts: int) -> Event:
    return Event(
        timestamp=ts,
        interpretation=ACCESS_EVENT,
        manifestation=USER_ACTIVITY,
        actor="application://vim.desktop",
        subjects=(Subject(uri=f"file:///{ts}"),),
    )


def test_a_commit_in_a_worker_thread_wakes_the_loop_until_stopped(engine: Engine) -> None:
    async def main() -> list[str]:
        woken = asyncio.Event()
        seen: list[str] = []

        def wake() -> None:
            seen.append("woken")
            woken.set()

        stop = on_commit(engine, wake)
        await asyncio.to_thread(engine.insert_events, [_event(1000)])
        await woken.wait()
        stop()
        await asyncio.to_thread(engine.insert_events, [_event(2000)])
        await asyncio.to_thread(engine.delete_events, [1])
        await asyncio.sleep(0)  # a wake-up already scheduled would run here
        return seen

    assert asyncio.run(main()) == ["woken"]


def test_removing_a_commit_hook_leaves_the_others(engine: Engine) -> None:
    calls: list[str] = []

    def first() -> None:
        calls.append("first")

    def second() -> None:
        calls.append("second")

    engine.add_commit_hook(first)
    engine.add_commit_hook(second)
    engine.remove_commit_hook(first)
    engine.remove_commit_hook(lambda: None)  # never added: ignored
    engine.insert_events([_event(1000)])
    assert calls == ["second"]
