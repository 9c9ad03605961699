"""The service's uuid5 derives exactly the ids of the standard library's."""

from __future__ import annotations

import random
import uuid

from service.domain.ids import IdDeriver, event_id, uuid5, uuid5_text


def test_the_same_ids_as_the_standard_uuid5() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        namespace = uuid.UUID(int=rng.getrandbits(128))
        name = "".join(rng.choice("ab:-é0129\U0001f3cb") for _ in range(rng.randrange(0, 60)))
        expected = uuid.uuid5(namespace, name)
        for derived in (uuid5(namespace, name), uuid5(namespace.bytes, name)):
            assert derived == expected
            assert str(derived) == str(expected)
            assert derived.version == 5
            assert hash(derived) == hash(expected)
            assert derived.is_safe is expected.is_safe
        assert uuid5_text(namespace.bytes, name) == str(expected)


def test_derivers_and_event_ids_keep_their_names() -> None:
    command_id, exercise_id = uuid.uuid4(), uuid.uuid4()
    ids = IdDeriver(command_id).for_operation(2)
    assert ids.prescription(exercise_id, 3) == uuid.uuid5(
        command_id, f"2:prescription:{exercise_id}:3"
    )
    assert ids.group() == uuid.uuid5(command_id, "2:group")
    assert event_id(command_id.bytes, "session", str(exercise_id)) == str(
        uuid.uuid5(command_id, f"event:session:{exercise_id}")
    )
