"""The Store contract on both stores: positions, state documents, candles,
health snapshots, and what every store says about itself."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from kit.clock import IST
from kit.errors import StoreError
from kit.market.candles import Provenance, VolumeBasis
from kit.store import HealthRecord
from tests.store.samples import MINUTE, START, candle, health, position

# The store itself.


def test_a_store_answers_a_ping_and_names_itself_without_secrets(store, stores):
    store.ping()

    kind, where = store.name.split(":", 1)
    assert kind == stores.kind
    assert where == (
        str(stores.folder / "kit.sqlite3") if kind == "sqlite" else stores.project
    )


# Positions.


def test_positions_are_kept_per_mode_by_symbol_and_read_back_exactly(store):
    saved = [position("TCS-EQ"), position("INFY-EQ", quantity=3, target=1500.0)]
    for record in saved:
        store.save_position(record)
    store.save_position(position("SBIN-EQ", mode="live"))

    assert store.positions("paper") == [saved[1], saved[0]]
    assert store.positions("live") == [position("SBIN-EQ", mode="live")]
    assert store.positions("paper")[1].realised_pnl == 0.1 + 0.2


def test_a_position_is_replaced_then_deleted(store):
    store.save_position(position("SBIN-EQ"))
    store.save_position(position("SBIN-EQ", quantity=0, realised_pnl=-12.5, stop=None))

    assert store.positions("paper") == [
        position("SBIN-EQ", quantity=0, realised_pnl=-12.5, stop=None)
    ]
    store.delete_position("paper", "SBIN-EQ")
    store.delete_position("paper", "never-held")
    assert store.positions("paper") == []


@pytest.mark.parametrize("symbol", ["M&M-EQ", "A/B", ".", "..", "__x__", "NIFTY 50"])
def test_symbols_with_any_characters_are_kept_apart(store, symbol):
    store.save_position(position(symbol))
    store.save_position(position("plain"))

    assert [p.symbol for p in store.positions("paper")] == sorted([symbol, "plain"])
    store.delete_position("paper", symbol)
    assert [p.symbol for p in store.positions("paper")] == ["plain"]


def test_a_position_of_an_unknown_mode_or_with_nan_is_refused(store):
    with pytest.raises(StoreError, match="paper or live"):
        store.save_position(position(mode="demo"))
    with pytest.raises(StoreError, match="finite"):
        store.save_position(position(avg_price=math.nan))
    with pytest.raises(StoreError, match="paper or live"):
        store.positions("demo")
    assert store.positions("paper") == []


def test_a_position_keeps_the_ordertag_of_its_last_fill(store, stores):
    tagged = position("SBIN-EQ", mode="live", last_ordertag="kit-0mhx2k1c9q4z7w1e")
    store.save_position(tagged)
    store.save_position(position("TCS-EQ", mode="live"))

    assert stores.open().positions("live") == [
        tagged,
        position("TCS-EQ", mode="live", last_ordertag=""),
    ]
    store.save_position(
        replace(tagged, quantity=0, last_ordertag="kit-0mhx2k1d00000000")
    )
    assert store.positions("live")[0].last_ordertag == "kit-0mhx2k1d00000000"


def test_a_position_whose_last_ordertag_is_not_text_is_refused(store):
    with pytest.raises(StoreError, match="last_ordertag"):
        store.save_position(position(last_ordertag=None))
    assert store.positions("paper") == []


# State documents.


def test_a_state_document_is_saved_replaced_and_loaded_exactly(store):
    document = {
        "pnl": {"realised": 0.1 + 0.2, "trades": 3},
        "state": "ACTIVE",
        "grid": [[1, 2], [3.5, None]],
        "flags": [True, False],
        "name": "niftyé ✓",
        "big": 2**53 + 1,
    }
    assert store.load_state("daily_pnl") is None

    store.save_state("daily_pnl", {"old": 1})
    store.save_state("daily_pnl", document)
    store.save_state("trading/state", {"state": "HALTED"})

    assert store.load_state("daily_pnl") == document
    assert store.load_state("trading/state") == {"state": "HALTED"}
    assert store.load_state("trading") is None


def test_a_state_document_json_cannot_hold_is_refused(store):
    with pytest.raises(StoreError, match="JSON"):
        store.save_state("bad", {"x": math.inf})
    with pytest.raises(StoreError, match="JSON"):
        store.save_state("bad", {"x": object()})
    assert store.load_state("bad") is None


# Candles.


def test_candles_round_trip_exactly_with_provenance_basis_and_ticks(store):
    written = [
        candle(0),
        candle(
            1, provenance=Provenance.BROKER, volume_basis=VolumeBasis.EXACT, ticks=0
        ),
        candle(2, provenance=Provenance.MIXED, volume_basis=VolumeBasis.NONE, volume=0),
        candle(3, open=0.1 + 0.2, high=1e9, low=1e-9, close=812.05),
    ]
    assert store.load_candles("3045") == []

    store.save_candles("3045", list(reversed(written)))
    got = store.load_candles("3045")

    assert got == written
    assert all(c.start.utcoffset() == timedelta(hours=5, minutes=30) for c in got)
    assert [type(c.provenance) for c in got] == [Provenance] * 4


def test_a_candle_saved_again_replaces_the_one_of_its_minute(store):
    store.save_candles("3045", [candle(0), candle(1)])

    revised = candle(1, provenance=Provenance.BROKER, close=1.0, ticks=0)
    store.save_candles("3045", [revised])

    assert store.load_candles("3045") == [candle(0), revised]


def test_candles_are_kept_per_token_and_read_between_bounds(store):
    store.save_candles("3045", [candle(m) for m in range(5)])
    store.save_candles("1594", [candle(m, token_price=1500.0) for m in range(2)])
    start = START + 1 * MINUTE

    assert store.load_candles("3045", since=start) == [candle(m) for m in (1, 2, 3, 4)]
    assert store.load_candles("3045", until=start + 2 * MINUTE) == [
        candle(0),
        candle(1),
        candle(2),
    ]
    between = store.load_candles("3045", since=start, until=start + MINUTE)
    assert between == [candle(1)]
    just_after = start + timedelta(microseconds=1)
    assert store.load_candles("3045", since=just_after, until=start + MINUTE) == []
    assert len(store.load_candles("1594")) == 2
    assert store.load_candles("9999") == []


def test_bounds_in_another_timezone_mean_the_same_instants(store):
    store.save_candles("3045", [candle(m) for m in range(3)])
    utc_start = (START + MINUTE).astimezone(datetime.now().astimezone().tzinfo)

    assert store.load_candles("3045", since=utc_start) == [candle(1), candle(2)]


def test_more_candles_than_one_batch_are_all_written(store):
    day = [candle(m) for m in range(501)]

    store.save_candles("3045", day)

    assert store.load_candles("3045") == day


def test_a_batch_with_a_bad_candle_writes_nothing(store):
    with pytest.raises(StoreError, match="finite"):
        store.save_candles("3045", [candle(0), candle(1, high=math.nan)])
    with pytest.raises(StoreError, match="timezone"):
        store.save_candles("3045", [candle(0, start=datetime(2026, 12, 3, 11, 0))])

    assert store.load_candles("3045") == []


def test_nothing_saved_is_nothing_written(store):
    store.save_candles("3045", [])
    store.append_events([])

    assert store.load_candles("3045") == [] and store.events() == []


# Health snapshots.


def test_health_snapshots_are_read_between_bounds_oldest_first(store):
    snapshots = [
        health(60 * n, "GOOD", rss_mb=150.5 + n, feed={"up": True}) for n in range(4)
    ]
    assert store.health() == []
    for record in reversed(snapshots):
        store.save_health(record)

    assert store.health() == snapshots
    since, until = snapshots[1].at, snapshots[3].at
    assert store.health(since=since, until=until) == snapshots[1:3]
    assert store.health(since=until + timedelta(microseconds=1)) == []
    assert all(h.at.tzinfo is not None for h in store.health())


def test_a_snapshot_of_the_same_instant_replaces_the_earlier_one(store):
    store.save_health(health(0, "GOOD", errors=0))
    store.save_health(health(0, "DEGRADED", errors=3))

    assert store.health() == [health(0, "DEGRADED", errors=3)]


def test_a_health_record_with_a_naive_time_is_refused(store):
    with pytest.raises(StoreError, match="timezone"):
        store.save_health(HealthRecord(datetime(2026, 12, 3, 11, 0), "GOOD", {}))
    assert store.health() == []


def test_health_keeps_microseconds_and_returns_times_in_ist(store):
    at = datetime(2026, 12, 3, 5, 30, 0, 123456, tzinfo=IST)
    store.save_health(HealthRecord(at, "EXCELLENT", {"threads": 12}))

    (got,) = store.health()

    assert got.at == at and got.at.tzinfo is not None
    assert got.at.utcoffset() == timedelta(hours=5, minutes=30)
