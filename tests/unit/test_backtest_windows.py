"""Rolling-origin back-test windows of young lines, on a tiny line in Spark."""
from __future__ import annotations

import datetime as dt

from ltv.config import FeatureSettings
from ltv.training.backtest import backtest_windows
from ltv.training.data import KnownData

AS_OF, HORIZON, STEP = dt.date(2024, 12, 31), 91, 91


def _known(spark, start: dt.date) -> KnownData:
    rows = []
    for c in range(6):
        for k in range(0, 300, 20 + 7 * c):
            day = start + dt.timedelta(days=k + c)
            if day <= AS_OF:
                rows.append((f"t{c}-{k}", "shop", f"c{c}", dt.datetime(day.year, day.month, day.day, 12), 10.0 + c))
    tx = spark.createDataFrame(rows, "transaction_id string, business_line string, customer_id string, "
                                     "event_ts timestamp, amount double")
    return KnownData.from_frames("shop", AS_OF, tx, None, FeatureSettings())


def test_older_windows_without_supervised_history_are_skipped_for_every_candidate(spark):
    known = _known(spark, dt.date(2024, 3, 1))
    try:  # window 2 is fitted at 2024-04-02: customers exist, but examples would need labels from 2024-01-02
        plain, skipped = backtest_windows(known, AS_OF, HORIZON, 3, STEP)
        assert [w.index for w in plain] == [0, 1, 2] and skipped == []
        judged, skipped = backtest_windows(known, AS_OF, HORIZON, 3, STEP, supervised=True)
        assert [w.index for w in judged] == [0, 1]
        assert len(skipped) == 1 and skipped[0].startswith("window 2 (2024-04-02, 2024-07-02]: supervised")
        assert all(len(w.rows) == w.customers > 0 for w in judged)
    finally:
        known.release()


def test_when_even_the_newest_window_lacks_supervised_history_nothing_is_skipped_for_it(spark):
    known = _known(spark, dt.date(2024, 8, 1))
    try:  # window 0 fitted at 2024-10-01 (history from 2024-07-02: none); window 1 has no customers yet
        windows, skipped = backtest_windows(known, AS_OF, HORIZON, 3, STEP, supervised=True)
        assert [w.index for w in windows] == [0]  # the supervised candidates fail there, recorded by the gate
        assert len(skipped) == 2 and all("no customers before" in why for why in skipped)
    finally:
        known.release()
