"""The feed's registry and protocol: spreading pairs over connections, E1001
and E1002 refusals, batched requests and sorted text replies. Pure, no socket."""

from __future__ import annotations

import json
import socket
import struct
from itertools import islice

import pytest

from kit.broker.feed_protocol import (
    TextKind,
    correlation_ids,
    new_socket,
    read_text,
    requests_for,
)
from kit.broker.feed_subscriptions import NO_ROOM, SubKey, SubscriptionBook, sub_keys
from kit.broker.routes import Action, ExchangeType, Mode

LTP, QUOTE = int(Mode.LTP), int(Mode.QUOTE)
NSE, NFO = int(ExchangeType.NSE_CM), int(ExchangeType.NSE_FO)


def tokens(count: int, start: int = 100_000) -> list[str]:
    return [str(start + i) for i in range(count)]


def book(connections: int = 3, per_connection: int = 1000) -> SubscriptionBook:
    return SubscriptionBook(
        max_connections=connections, max_per_connection=per_connection
    )


# The registry and the spreading.


def test_keys_drop_duplicates_and_refuse_empty_tokens():
    assert sub_keys(["1", "2", "1"]) == [SubKey(LTP, NSE, "1"), SubKey(LTP, NSE, "2")]
    with pytest.raises(ValueError):
        sub_keys(["1", " "])


def test_the_registry_reads_mode_then_exchange_type_then_tokens():
    subs = book()
    subs.add(sub_keys(["1", "2"]))
    subs.add(sub_keys(["9"], Mode.QUOTE, ExchangeType.NSE_FO))

    assert subs.registry() == {LTP: {NSE: ("1", "2")}, QUOTE: {NFO: ("9",)}}


@pytest.mark.parametrize(
    ("count", "loads", "unplaced"),
    [
        (50, [50, 0, 0], 0),
        (1000, [1000, 0, 0], 0),
        (1001, [1000, 1, 0], 0),
        (3000, [1000, 1000, 1000], 0),
        (3005, [1000, 1000, 1000], 5),
    ],
)
def test_pairs_fill_one_connection_before_the_next(count, loads, unplaced):
    subs = book()

    left_over = subs.add(sub_keys(tokens(count)))

    assert subs.loads() == loads
    assert len(left_over) == unplaced
    assert all(why == NO_ROOM for why in subs.unplaced().values())


def test_the_same_token_in_two_modes_is_two_pairs():
    subs = book(per_connection=2)

    subs.add(sub_keys(["1", "2"], Mode.LTP))
    subs.add(sub_keys(["1"], Mode.QUOTE))

    assert subs.loads() == [2, 1, 0]


def test_waiting_pairs_take_the_room_an_unsubscribe_frees():
    subs = book(connections=1, per_connection=2)
    waiting = subs.add(sub_keys(["1", "2", "3"]))

    subs.remove(sub_keys(["1"]))

    assert waiting == [SubKey(LTP, NSE, "3")]
    assert subs.wanted(0) == frozenset(sub_keys(["2", "3"]))
    assert subs.unplaced() == {}


def test_every_change_moves_the_version_and_calls_back():
    calls = []
    subs = SubscriptionBook(
        max_connections=1, max_per_connection=5, on_change=lambda: calls.append(1)
    )
    before = subs.version

    subs.add(sub_keys(["1"]))
    subs.add(sub_keys(["1"]))  # nothing new
    subs.remove(sub_keys(["7"]))  # nothing there

    assert subs.version == before + 1
    assert calls == [1]


def test_an_e1002_lowers_the_capacity_and_moves_the_refused_pairs():
    subs = book(connections=2, per_connection=1000)
    first = sub_keys(tokens(15))
    second = sub_keys(tokens(15, start=200_000))
    subs.add(first + second)

    moved, unplaced = subs.refuse(0, second, "E1002", held=15)

    assert (len(moved), unplaced) == (15, [])
    assert subs.wanted(0) == frozenset(first)
    assert subs.wanted(1) == frozenset(second)
    assert subs.slots_in_use() == [0, 1]
    # The lowered capacity stays: a new pair goes to the second connection.
    subs.add(sub_keys(["999"]))
    assert SubKey(LTP, NSE, "999") in subs.wanted(1)


def test_an_e1002_with_no_room_elsewhere_leaves_the_pairs_unplaced():
    subs = book(connections=1)
    keys = sub_keys(tokens(10))
    subs.add(keys)

    moved, unplaced = subs.refuse(0, keys[5:], "E1002", held=5)

    assert moved == [] and unplaced == keys[5:]
    assert set(subs.unplaced().values()) == {"E1002"}
    assert subs.wanted(0) == frozenset(keys[:5])


def test_an_e1001_sets_the_pairs_aside_for_good():
    subs = book()
    keys = sub_keys(["1", "2"], Mode.DEPTH, ExchangeType.NSE_FO)
    subs.add(keys)

    moved, unplaced = subs.refuse(0, keys, "E1001", held=0)
    subs.remove(sub_keys(["77"]))  # room frees: refused pairs stay aside

    assert moved == [] and unplaced == keys
    assert subs.wanted(0) == frozenset()
    assert subs.unplaced() == {key: "E1001" for key in keys}


def test_a_refusal_of_pairs_held_elsewhere_changes_nothing():
    subs = book()
    keys = sub_keys(["1"])
    subs.add(keys)

    assert subs.refuse(1, keys, "E1002", held=0) == ([], [])
    assert subs.wanted(0) == frozenset(keys)


# Requests and text replies.


def test_requests_are_batched_per_mode_with_a_list_per_exchange_type():
    keys = sub_keys(["1", "2"]) + sub_keys(["5"], exchange_type=ExchangeType.NSE_FO)
    keys += sub_keys(["3"], Mode.QUOTE)

    requests = requests_for(Action.SUBSCRIBE, keys, correlation_ids(1))

    bodies = [json.loads(r.text) for r in requests]
    assert bodies == [
        {"correlationID": "k100000001", "action": 1, "params": {"mode": 1,
         "tokenList": [{"exchangeType": 1, "tokens": ["1", "2"]},
                       {"exchangeType": 2, "tokens": ["5"]}]}},
        {"correlationID": "k100000002", "action": 1, "params": {"mode": 2,
         "tokenList": [{"exchangeType": 1, "tokens": ["3"]}]}},
    ]  # fmt: skip
    assert [len(r.keys) for r in requests] == [3, 1]


def test_correlation_ids_are_ten_alphanumeric_characters_and_wrap():
    ids = correlation_ids(3)
    first = list(islice(ids, 2))

    assert first == ["k300000001", "k300000002"]
    assert all(len(i) == 10 and i.isalnum() for i in first)


@pytest.mark.parametrize(
    ("payload", "kind", "code", "cid"),
    [
        (b"pong", TextKind.PONG, "", ""),
        (
            b'{"correlationID":"abcde12345","errorCode":"E1002",'
            b'"errorMessage":"Invalid Request. Subscription Limit Exceeded"}',
            TextKind.ERROR, "E1002", "abcde12345",
        ),
        (b'{"errorCode":"E1001","errorMessage":"x"}', TextKind.ERROR, "E1001", ""),
        (b"hello", TextKind.UNKNOWN, "", ""),
        (b"[1, 2]", TextKind.UNKNOWN, "", ""),
        (b'{"status": true}', TextKind.UNKNOWN, "", ""),
        (b"\xff\xfe", TextKind.UNKNOWN, "", ""),
    ],
)  # fmt: skip
def test_text_replies_are_sorted(payload, kind, code, cid):
    reply = read_text(payload)

    assert (reply.kind, reply.code, reply.correlation_id) == (kind, code, cid)


def _server_frame(opcode: int, payload: bytes) -> bytes:
    """A frame as a server sends it (unmasked)."""
    size = len(payload)
    if size < 126:
        return bytes([0x80 | opcode, size]) + payload
    return bytes([0x80 | opcode, 126]) + struct.pack("!H", size) + payload


def test_reading_ahead_keeps_every_frame_whole():
    payloads = [
        (2, bytes(range(51))), (1, b"pong"), (2, b"x" * 123), (1, b"y" * 10_000),
        (2, b"z" * 379), *[(2, bytes([i]) * 51) for i in range(200)],
    ]  # fmt: skip
    ours, theirs = socket.socketpair()
    ws = new_socket()
    ws.sock, ws.connected = ours, True
    try:
        theirs.sendall(b"".join(_server_frame(op, data) for op, data in payloads))
        received = [ws.recv_data() for _ in payloads]
    finally:
        ours.close()
        theirs.close()

    assert received == payloads
