"""Online lookups: a customer's latest features and scores from the Feast online store.

No Spark: a lookup reads the registry (cached in memory by Feast) and the online store only.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ltv.config import validate_name
from ltv.errors import LTVError
from ltv.serving.definitions import JOIN_KEY, ONLINE_SERVICE, entity_key
from ltv.serving.store import quiet_feast

# The feature that is never null for a customer present in the online store.
_PRESENCE_FEATURE = "customer_id"


class CustomerNotFound(LTVError):
    """The customer has no row in the online store (exit code 1)."""

    exit_code = 1


def _service(store, service):
    """The ``FeatureService`` (cached on the store object: one registry lookup per process)."""
    if service is not None and not isinstance(service, str):
        return service
    name = service or ONLINE_SERVICE
    cache = store.__dict__.setdefault("_ltv_services", {})
    if name not in cache:
        cache[name] = store.get_feature_service(name)
    return cache[name]


def _rows(response: dict[str, list[Any]], count: int) -> list[dict[str, Any] | None]:
    names = [k for k in response if k != JOIN_KEY]
    out: list[dict[str, Any] | None] = []
    for i in range(count):
        if response[_PRESENCE_FEATURE][i] is None:
            out.append(None)
            continue
        row: dict[str, Any] = {JOIN_KEY: response[JOIN_KEY][i]}
        row.update({name: response[name][i] for name in names})
        out.append(row)
    return out


def lookup_many(
    store,
    customers: Sequence[tuple[str, str]],
    service=None,
) -> list[dict[str, Any] | None]:
    """Features and latest scores of several customers in one online read.

    Args:
        store: ``feast.FeatureStore`` (see :func:`ltv.serving.store.feature_store`, ``apply=False``).
        customers: ``(business_line, customer_id)`` pairs.
        service: feature service (name or object); default ``ltv_online`` (features + scores).

    Returns:
        One dict per pair, in order (None for a customer not in the online store): ``entity_key``,
        every feature and score field (score fields None before the customer is scored) and
        ``features_as_of`` (ISO date of the served snapshot).
    """
    keys = [entity_key(validate_name(line, "business line"), str(cid)) for line, cid in customers]
    if not keys:
        return []
    with quiet_feast():
        response = store.get_online_features(
            features=_service(store, service),
            entity_rows={JOIN_KEY: keys},
        ).to_dict()
    return _rows(response, len(keys))


def lookup(store, customer_id: str, business_line: str = "default", service=None) -> dict[str, Any]:
    """Latest features and scores of one customer (see :func:`lookup_many` for the fields).

    Raises:
        CustomerNotFound: the customer is not in the online store.
    """
    row = lookup_many(store, [(business_line, customer_id)], service=service)[0]
    if row is None:
        raise CustomerNotFound(
            f"customer {customer_id} not found in business line {business_line} online store; "
            "run `ltv materialize`"
        )
    return row
