"""ltv.datasets.cdnow: the CDNOW files shipped in the lifetimes wheel, in the ltv input contract."""
from __future__ import annotations

import pandas as pd
import pytest

from ltv.datasets.cdnow import cdnow_master_path, cdnow_sample_path, load_cdnow, write_cdnow_csv
from ltv.errors import ConfigError

CONTRACT = ["customer_id", "event_ts", "amount", "business_line"]


@pytest.fixture(scope="module")
def master() -> pd.DataFrame:
    return load_cdnow("master")


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_cdnow("sample")


def test_paths_point_at_the_lifetimes_files():
    assert cdnow_master_path().name == "CDNOW_master.txt" and cdnow_master_path().is_file()
    assert cdnow_sample_path().name == "CDNOW_sample.txt" and cdnow_sample_path().is_file()


@pytest.mark.parametrize(("which", "rows", "customers"), [("master", 69_659, 23_570), ("sample", 6_919, 2_357)])
def test_counts_dates_and_types(which, rows, customers, request):
    frame = request.getfixturevalue(which)
    assert list(frame.columns) == CONTRACT
    assert len(frame) == rows
    assert frame["customer_id"].nunique() == customers
    assert frame["customer_id"].map(type).eq(str).all()
    assert str(frame["event_ts"].dt.tz) == "UTC"
    assert (frame["event_ts"] == frame["event_ts"].dt.normalize()).all()  # midnight UTC
    assert frame["event_ts"].min() == pd.Timestamp("1997-01-01", tz="UTC")
    assert frame["event_ts"].max() == pd.Timestamp("1998-06-30", tz="UTC")
    assert pd.api.types.is_float_dtype(frame["amount"])
    assert frame["amount"].notna().all() and (frame["amount"] >= 0).all()
    assert (frame["business_line"] == "music").all()


def test_known_rows_and_same_day_purchases_are_kept(master):
    first = master.iloc[0]
    assert (first["customer_id"], first["event_ts"], first["amount"]) == (
        "00001", pd.Timestamp("1997-01-01", tz="UTC"), 11.77)
    customer_2 = master[master["customer_id"] == "00002"]
    assert customer_2["amount"].tolist() == [12.00, 77.00]  # two purchases on 1997-01-12, both real
    assert customer_2["event_ts"].nunique() == 1
    assert master["amount"].sum() == pytest.approx(2_500_315.63, abs=0.01)


def test_sample_uses_master_ids_and_is_a_subset(master, sample):
    keys = ["customer_id", "event_ts", "amount"]
    sample_keys = sample[keys].value_counts()
    master_keys = master[keys].value_counts().reindex(sample_keys.index)
    assert (master_keys >= sample_keys).all()
    assert sample["customer_id"].iloc[0] == "00004"


def test_optional_transaction_ids_keep_exact_duplicates_apart(master):
    assert master.duplicated().sum() == 255  # same customer, day and amount: separate real purchases
    with_ids = load_cdnow("master", with_transaction_id=True)
    assert list(with_ids.columns) == ["transaction_id", *CONTRACT]
    assert with_ids["transaction_id"].is_unique and with_ids["transaction_id"].iloc[0] == "cdnow-master-00001"
    assert with_ids.drop(columns="transaction_id").equals(master)


def test_business_line_is_configurable():
    assert (load_cdnow("sample", business_line="cds")["business_line"] == "cds").all()


def test_unknown_file_names_the_choices():
    with pytest.raises(ConfigError, match="'master' or 'sample'"):
        load_cdnow("full")  # type: ignore[arg-type]


def test_write_csv_round_trips(tmp_path, sample):
    path = write_cdnow_csv(tmp_path / "out" / "cdnow.csv", which="sample")
    back = pd.read_csv(path, dtype={"customer_id": str})
    assert list(back.columns) == CONTRACT
    assert back["event_ts"].str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    assert (pd.to_datetime(back["event_ts"], utc=True) == sample["event_ts"]).all()
    assert back["customer_id"].equals(sample["customer_id"])
    assert back["amount"].equals(sample["amount"])
