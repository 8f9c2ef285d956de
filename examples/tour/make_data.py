"""Regenerate the README tour's example export (``orders.csv``, ``clients.csv``).

They stand in for "your own data": a shop's order export with its own column names, mapped
to ltv's columns by ``ltv.yaml`` in this folder. Built from ltv's simulator (seed fixed), so
the files are reproducible:

    python examples/tour/make_data.py
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from ltv.datasets.simulate import simulate

HERE = Path(__file__).resolve().parent


def main() -> None:
    sim = simulate(customers=1000, business_lines=["shop"], seed=2024, start=dt.date(2022, 1, 1),
                   end=dt.date(2024, 9, 30), truth_as_of=dt.date(2024, 6, 30), truth_horizon_days=90)
    orders = sim.transactions.rename(columns={
        "transaction_id": "order_id", "customer_id": "client_id", "event_ts": "order_time",
        "amount": "order_total", "business_line": "store",
    })
    orders["client_id"] = orders["client_id"].str.replace("c", "C", regex=False)
    orders["order_time"] = orders["order_time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    orders = orders[["order_id", "client_id", "order_time", "order_total", "store"]]
    # two rows as real exports have them: ltv quarantines them with a reason instead of dropping them
    dirty = [
        {"order_id": "shop-x-1", "client_id": "", "order_time": "2023-03-01T10:00:00Z", "order_total": 12.5, "store": "shop"},
        {"order_id": "shop-x-2", "client_id": "C000001", "order_time": "31/02/2023", "order_total": 40.0, "store": "shop"},
    ]
    orders = pd.concat([orders, pd.DataFrame(dirty)], ignore_index=True)
    orders.to_csv(HERE / "orders.csv", index=False)
    clients = sim.customers.rename(columns={"customer_id": "client_id", "business_line": "store"})
    clients["client_id"] = clients["client_id"].str.replace("c", "C", regex=False)
    clients.to_csv(HERE / "clients.csv", index=False)
    print(f"{len(orders):,} order rows, {len(clients):,} clients -> {HERE}")


if __name__ == "__main__":
    main()
