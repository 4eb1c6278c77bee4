"""The asset watcher's cursor: new cases by updatedAt watermark, bounded state, safe restarts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from airflow_provider_nextsign.api.event_cursor import CLOCK_SKEW, EventCursor

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _item(case_id: str, minutes: float) -> dict:
    stamp = (T0 + timedelta(minutes=minutes)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"_id": case_id, "updatedAt": stamp}


def test_cases_signed_before_the_start_are_not_new_and_those_signed_during_the_first_sweep_are():
    cursor = EventCursor.start(T0)
    assert not cursor.take(_item("old", -60))  # signed an hour before the watcher started
    assert cursor.take(_item("during", 30))  # signed while the first (long) sweep was running
    assert not cursor.take(_item("during", 30))  # reported once


def test_a_completed_sweep_moves_the_watermark_and_forgets_older_ids():
    cursor = EventCursor.start(T0)
    assert cursor.take(_item("a", 1))
    cursor.index = 7
    cursor.sweep_done(T0 + timedelta(minutes=100))  # the sweep started at T0 and ran 100 minutes
    assert (cursor.watermark, cursor.index) == (T0 - CLOCK_SKEW, 0)
    assert "a" in cursor.reported
    cursor.sweep_done(T0 + timedelta(minutes=200))  # the next sweep started at T0+100 min
    assert cursor.watermark == T0 + timedelta(minutes=100) - CLOCK_SKEW
    assert cursor.reported == {}  # "a" is older than the watermark: no sweep can report it again
    assert not cursor.take(_item("a", 1))


def test_the_state_stays_small_however_many_cases_the_account_has():
    cursor = EventCursor.start(T0)
    for sweep in range(50):
        for n in range(100):  # 100 signatures per sweep, 5,000 in all
            cursor.take(_item(f"s{sweep}-{n}", sweep * 60 + n * 0.5))
        cursor.sweep_done(T0 + timedelta(minutes=(sweep + 1) * 60))
    assert len(cursor.reported) <= 200
    assert len(json.dumps(cursor.dump())) < 64 * 1024  # Airflow's limit for one stored value


def test_dump_and_load_round_trip_and_older_formats_start_fresh():
    cursor = EventCursor.start(T0)
    cursor.take(_item("a", 2))
    cursor.index = 3
    again = EventCursor.load(json.loads(json.dumps(cursor.dump())))
    assert again == cursor
    assert EventCursor.load({"seen": ["a"], "primed": True}) is None
    assert EventCursor.load(None) is None


def test_items_without_updated_at_are_never_reported():
    cursor = EventCursor.start(T0)
    assert not cursor.take({"_id": "x"})
