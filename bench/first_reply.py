"""How long the first result copy on a `reply-to` topic that did not exist yet takes, alone and
right after a command whose `reply-to` is `..` (a name Kafka refuses), on a fresh embedded stack.

`python bench/first_reply.py`; with `PYTHONPATH=<another checkout>` it times that checkout's
service (the service runs in this process, from whatever `service` package is first on the path).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

import service
from devstack.postgres import EmbeddedPostgres
from devstack.stack import choose_broker, local_broker
from service.clients.client import ServiceClient
from service.config import Settings
from service.process.app import Service
from service.storage.migrations import migrate


async def first_reply(
    settings: Settings, client: ServiceClient, topic: str, after: str | None = None
) -> float:
    """Seconds from sending a command with `reply-to: topic` to its copy's arrival there; with
    `after`, a command with `reply-to: after` is sent right before it."""
    requester = ServiceClient.of(
        settings, tenant_id="bench", follow=[topic], from_beginning=True, topic_timeout=60
    )
    arrived: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def received(record: object, value: object, at: float) -> None:
        if not arrived.done():
            arrived.set_result(at)

    requester.received = received  # type: ignore[method-assign]
    joining = asyncio.create_task(requester.start())  # finds the topic once the copy made it
    if after is not None:
        poison = client.command("program.create", str(uuid.uuid4()), name="before")
        await client.send(poison, [("reply-to", after.encode())])
    command = client.command("program.create", str(uuid.uuid4()), name="first reply")
    sent = time.perf_counter()
    await client.send(command, [("reply-to", topic.encode())])
    await joining
    try:
        return await asyncio.wait_for(arrived, 90) - sent
    finally:
        await requester.stop()


async def main() -> None:
    print(f"service from {Path(service.__file__).parent}")
    with tempfile.TemporaryDirectory() as folder:
        broker = local_broker(choose_broker(), Path(folder)).start()
        postgres = EmbeddedPostgres(data_dir=Path(folder) / "pgdata").start()
        try:
            connection = await asyncpg.connect(postgres.url)
            await migrate(connection, Path(service.__file__).parents[1] / "migrations")
            await connection.close()
            settings = Settings(
                kafka_bootstrap_servers=broker.bootstrap_servers,
                database_url=postgres.url,
                topic_prefix="first-reply",
                kafka_enable_idempotence=broker.idempotent,
                http_port=0,
            )
            running = Service(settings)
            await running.app.start()
            client = ServiceClient.of(settings, tenant_id="bench")
            await client.start()
            try:
                alone = await first_reply(settings, client, "first-reply.fresh-1")
                after = await first_reply(settings, client, "first-reply.fresh-2", after="..")
            finally:
                await client.stop()
                await running.app.stop()
            print(f"first reply on a new topic, alone:            {alone * 1000:8.0f} ms")
            print(f"first reply on a new topic, right after '..': {after * 1000:8.0f} ms")
        finally:
            postgres.stop()
            broker.stop()


if __name__ == "__main__":
    asyncio.run(main())
