"""The producer's partitioner caches key hashes and places every key where Kafka's default
partitioner does (aiokafka's, the Java client's murmur2), so keyed topics stay consistent with
the other clients on them."""

from __future__ import annotations

import random
import uuid

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from service.publish.kafka import murmur2, partition_for


def test_keys_land_where_the_default_partitioner_puts_them() -> None:
    default = DefaultPartitioner()
    rng = random.Random(3)
    for count in (1, 3, 4, 12):
        every = list(range(count))
        for _ in range(300):
            key = rng.choice(
                [uuid.UUID(int=rng.getrandbits(128)).bytes, str(rng.random()).encode(), b""]
            )
            expected = default(key, every, every)
            assert partition_for(key, every, every) == expected
            assert partition_for(key, every, every) == expected, "again, from the cache"


def test_an_unkeyed_record_goes_to_an_available_partition() -> None:
    assert partition_for(None, [0, 1, 2], [2]) == 2
    assert partition_for(None, [0, 1, 2], []) in {0, 1, 2}


def test_murmur2_is_aiokafkas() -> None:
    rng = random.Random(11)
    for length in [*range(0, 80), 36, 36, 36]:
        for _ in range(50):
            key = rng.randbytes(length)
            assert murmur2(key) == aiokafka_murmur2(key)
