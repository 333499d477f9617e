"""Group commit: concurrent notifications share transactions; one refused notification fails alone."""

from __future__ import annotations

import asyncio

import pytest

from augur.server.intake.group_commit import GroupCommitter
from augur.server.intake.grouping import GroupingPolicy
from augur.server.intake.ingest import IngestResult
from augur.server.intake.webhook import WebhookPayload, parse_payload
from augur.server.store.database import Store
from tests.fixtures.alerts import alert, notification
from tests.server.test_webhook import _episodes


def _payload(name: str, n: int = 3) -> WebhookPayload:
    import json

    return parse_payload(json.dumps(notification([alert(name, shard=str(i)) for i in range(n)])).encode())


def test_notifications_arriving_together_are_written_in_shared_transactions(store: Store) -> None:
    committer = GroupCommitter(store, GroupingPolicy())

    async def storm() -> list[IngestResult]:
        return await asyncio.gather(*(committer.submit(_payload(f"A{i}")) for i in range(10)))

    results = asyncio.run(storm())
    assert [r.new_episodes for r in results] == [3] * 10
    assert len(_episodes(store)) == 30
    assert sum(committer.batches) == 10
    assert max(committer.batches) > 1, f"expected batching, got batches {committer.batches}"


def test_a_refused_notification_does_not_fail_its_batch(store: Store) -> None:
    class Picky(GroupCommitter):
        def _write(self, payloads: list[WebhookPayload]) -> list[IngestResult]:
            if any(p.group_key.endswith('"Bad"}') for p in payloads):
                raise RuntimeError("refused by the store")
            return super()._write(payloads)

    committer = Picky(store, GroupingPolicy())

    async def storm() -> list[IngestResult | BaseException]:
        names = ["Ok1", "Ok2", "Bad", "Ok3", "Ok4"]
        return await asyncio.gather(*(committer.submit(_payload(n)) for n in names), return_exceptions=True)

    outcomes = asyncio.run(storm())
    assert [isinstance(o, RuntimeError) for o in outcomes] == [False, False, True, False, False]
    assert len(_episodes(store)) == 12


@pytest.mark.parametrize("n", [1])
def test_a_lone_notification_is_written_at_once(store: Store, n: int) -> None:
    committer = GroupCommitter(store, GroupingPolicy())
    asyncio.run(committer.submit(_payload("Solo", n)))
    assert committer.batches == [1]
