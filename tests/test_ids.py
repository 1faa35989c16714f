"""Uids are UUIDv7: time-ordered, unique, and valid UUIDs."""

from __future__ import annotations

import time
import uuid

from hypothesis import given
from hypothesis import strategies as st

from zeitbus.ids import UidGenerator, uid_from_str, uid_to_str


@given(st.lists(st.integers(0, 5000), min_size=1, max_size=4))
def test_uids_increase_across_batches_and_are_version_7_rfc_4122(sizes: list[int]) -> None:
    generator = UidGenerator()
    before = time.time_ns() // 1_000_000
    uids = [uid for size in sizes for uid in generator.batch(size)]
    assert all(len(uid) == 16 for uid in uids)
    assert uids == sorted(set(uids))  # strictly increasing
    for raw in uids:
        parsed = uuid.UUID(bytes=raw)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        # The first 48 bits are the time in ms; a spent counter may borrow ahead.
        assert int.from_bytes(raw[:6], "big") >= before


def test_a_batch_larger_than_the_counter_borrows_later_milliseconds_in_order() -> None:
    uids = UidGenerator().batch(3 * 4096 + 7)
    assert uids == sorted(set(uids))
    assert len({uid[:6] for uid in uids}) >= 4


def test_the_random_part_differs_between_uids_of_one_millisecond() -> None:
    uids = UidGenerator().batch(64)
    assert len({uid[8:] for uid in uids}) == 64


def test_text_form_round_trips() -> None:
    raw = UidGenerator().batch(1)[0]
    assert uid_from_str(uid_to_str(raw)) == raw


@given(st.binary(min_size=16, max_size=16))
def test_a_uid_prints_as_uuid_prints_it(raw: bytes) -> None:
    assert uid_to_str(raw) == str(uuid.UUID(bytes=raw))
    assert uid_from_str(uid_to_str(raw)) == raw


@given(st.uuids())
def test_a_uid_reads_back_from_any_text_form_uuid_accepts(value: uuid.UUID) -> None:
    """The quick path for the canonical form gives what uuid.UUID gives, and so do the others."""
    for text in (str(value), str(value).upper(), value.hex, "{" + str(value) + "}"):
        assert uid_from_str(text) == value.bytes
