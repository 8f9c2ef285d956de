"""The CDNOW data set (Fader, Hardie & Lee 2005) as shipped inside the ``lifetimes`` wheel.

Every purchase of the 23,570 customers who made their first purchase at CDNOW in the first quarter of
1997, followed to the end of June 1998.  Two text files, whitespace separated, one row per purchase:

* ``CDNOW_master.txt``: a header row, then ``customer_id date number_of_cds dollar_value``
  (``00001 19970101 1 11.77``);
* ``CDNOW_sample.txt`` (the 1/10th sample used in the paper): no header,
  ``customer_id sample_id date number_of_cds dollar_value`` (``00004 0001 19970101 2 29.33``), where
  ``customer_id`` is the master id and ``sample_id`` renumbers the 2,357 sampled customers.

Several rows can share a customer and a date: they are separate purchases and are kept as such.
"""
from __future__ import annotations

import importlib.resources
import logging
from pathlib import Path
from typing import Literal

import pandas as pd

from ltv.errors import ConfigError

log = logging.getLogger(__name__)

Which = Literal["master", "sample"]
_FILES = {"master": "CDNOW_master.txt", "sample": "CDNOW_sample.txt"}
_COLUMNS = {
    "master": ["customer_id", "date", "number_of_cds", "dollar_value"],
    "sample": ["customer_id", "sample_id", "date", "number_of_cds", "dollar_value"],
}


def _resource_path(file_name: str) -> Path:
    resource = importlib.resources.files("lifetimes") / "datasets" / file_name
    path = Path(str(resource))
    if not path.is_file():
        raise FileNotFoundError(
            f"{file_name} not found in the installed lifetimes package ({path}); reinstall lifetimes==0.11.3"
        )
    return path


def cdnow_master_path() -> Path:
    """Path of ``lifetimes/datasets/CDNOW_master.txt`` (69,659 purchases of 23,570 customers)."""
    return _resource_path(_FILES["master"])


def cdnow_sample_path() -> Path:
    """Path of ``lifetimes/datasets/CDNOW_sample.txt`` (6,919 purchases of 2,357 customers)."""
    return _resource_path(_FILES["sample"])


def _check_which(which: str) -> None:
    if which not in _FILES:
        raise ConfigError(f"unknown CDNOW file {which!r}: use 'master' or 'sample'")


def load_cdnow(
    which: Which = "master", business_line: str = "music", *, with_transaction_id: bool = False
) -> pd.DataFrame:
    """CDNOW purchases in the ltv input contract, one row per purchase.

    Columns: ``customer_id`` (string, the master id as written in the file, e.g. ``"00004"``, in both
    files so the sample joins to the master), ``event_ts`` (``Timestamp`` at 00:00 UTC of the purchase
    date; CDNOW has no time of day), ``amount`` (float, US dollars, 80 rows of the master are 0.00) and
    ``business_line``.  Rows keep the file's order.

    By default there is no ``transaction_id`` (the platform derives one).  Note that 255 master rows
    (21 sample rows) repeat an earlier row exactly (same customer, day and amount) and are still separate
    purchases; ``with_transaction_id=True`` adds ``transaction_id = "cdnow-<which>-<row number>"`` as the
    first column so that an id derived from row content cannot merge them.
    """
    _check_which(which)
    path = cdnow_master_path() if which == "master" else cdnow_sample_path()
    raw = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        skiprows=1 if which == "master" else 0,
        names=_COLUMNS[which],
        dtype={"customer_id": str, "sample_id": str, "date": str},
    )
    frame = pd.DataFrame({
        "customer_id": raw["customer_id"].astype(str),
        "event_ts": pd.to_datetime(raw["date"], format="%Y%m%d", utc=True),
        "amount": raw["dollar_value"].astype(float),
        "business_line": business_line,
    })
    if with_transaction_id:
        frame.insert(0, "transaction_id", [f"cdnow-{which}-{i:05d}" for i in range(1, len(frame) + 1)])
    log.debug("loaded %d CDNOW %s rows from %s", len(frame), which, path)
    return frame


def write_cdnow_csv(
    out_path: str | Path,
    which: Which = "master",
    business_line: str = "music",
    *,
    with_transaction_id: bool = False,
) -> Path:
    """Write :func:`load_cdnow` as a CSV in the input contract (``event_ts`` as ``YYYY-MM-DD``, UTC).

    Creates the parent directory; returns the path written.
    """
    frame = load_cdnow(which, business_line, with_transaction_id=with_transaction_id)
    frame["event_ts"] = frame["event_ts"].dt.strftime("%Y-%m-%d")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, lineterminator="\n")
    return out
