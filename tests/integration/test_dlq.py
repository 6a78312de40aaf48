"""`dunning dlq list|replay`: dead letters are visible and go back to their topic exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from tests.conftest import Infra
from tests.support.kafka import TopicTap

from dunning.common.events.topics import dlq_topic
from dunning.common.kafka import ensure_topics, make_producer

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


async def dunning(infra: Infra, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "DUNNING_DATABASE_URL": infra.database_url,
        "DUNNING_KAFKA_BOOTSTRAP": infra.bootstrap,
        "DUNNING_SECRET_KEY": infra.secret_key,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dunning.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def dead_letter(producer: AIOKafkaProducer, topic: str, n: int) -> None:
    await producer.send_and_wait(
        dlq_topic(topic),
        value=json.dumps({"n": n}).encode(),
        key=f"ten_1:in_{n}".encode(),
        headers=[
            ("content-type", b"application/cloudevents+json"),
            ("dlq.topic", topic.encode()),
            ("dlq.error.class", b"RuntimeError"),
            ("dlq.error.message", f"boom {n}".encode()),
            ("dlq.attempts", b"5"),
        ],
    )


async def test_list_shows_why_and_replay_puts_records_back_once(infra: Infra) -> None:
    topic = f"test.dlq.{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.bootstrap, [topic, dlq_topic(topic)], partitions=1)
    producer = make_producer(infra.bootstrap, enable_idempotence=False, client_id="t")
    await producer.start()
    try:
        for n in range(3):
            await dead_letter(producer, topic, n)
    finally:
        await producer.stop()

    code, out, err = await dunning(infra, "dlq", "list", topic)
    assert code == 0, err
    letters = [json.loads(line) for line in out.splitlines()]
    assert [item["headers"]["dlq.error.message"] for item in letters] == ["boom 0", "boom 1", "boom 2"]
    assert json.loads(letters[0]["value"]) == {"n": 0}

    async with TopicTap(infra.bootstrap, topic) as tap:
        code, out, err = await dunning(infra, "dlq", "replay", topic)
        assert code == 0, err
        assert out.strip() == "replayed 3 record(s)"
        back = await tap.read(at_least=3)
        code, out, _ = await dunning(infra, "dlq", "replay", dlq_topic(topic))
        assert out.strip() == "replayed 0 record(s)"
    assert [json.loads(r.value)["n"] for r in back] == [0, 1, 2]
    assert [r.key for r in back] == [b"ten_1:in_0", b"ten_1:in_1", b"ten_1:in_2"]
    headers = dict(back[0].headers)
    assert headers["content-type"] == b"application/cloudevents+json"
    assert not any(k.startswith("dlq.error") for k in headers)
    assert headers["dlq.replayed_from"] == f"{dlq_topic(topic)}/0/0".encode()
