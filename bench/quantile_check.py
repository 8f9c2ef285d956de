"""Issue #17's acceptance on simulated lines: are the quantiles calibrated, per model family?

Used by ``oracle_check.py``. Each (seed, line) entry carries every candidate's window-0 quantile
metrics as ``train_line`` computed them (``ltv.evaluation.quantiles``; for the boosted models on
quantiles calibrated on the OTHER back-test windows, as the gate sees them). The realised values
are the simulator's realised spend in the window (the lake's labels; ``oracle_check`` checks the two
agree). Criterion, per model family over every pair:

* for tau in 0.1 / 0.5 / 0.9: share(realised < q_tau) <= tau + 0.03 and share(realised <= q_tau) >= tau - 0.03;
* coverage of [p10, p90] among buyers within 5 points of the coverage the model implies
  (``buyer_coverage_gap``);
* the champion's mean pinball loss <= the baseline's on every line.
"""
from __future__ import annotations

import math

LEVELS = (0.1, 0.5, 0.9)
SHARE_SLACK = 0.03
BUYER_GAP_LIMIT = 0.05
FAMILIES = {"baseline": "baseline", "bgnbd_gg": "btyd", "pareto_gg": "btyd", "xgboost": "boosted",
            "hybrid": "boosted"}


def family(model: str) -> str:
    return FAMILIES.get(model.rsplit(":", 1)[-1], "other")


def model_misses(metrics: dict[str, float]) -> dict[str, float]:
    """How far one model's quantiles are from their levels on one pair (positive = a miss)."""
    above = [metrics[f"below_p{round(t * 100)}"] - t for t in LEVELS]
    under = [t - metrics[f"at_or_below_p{round(t * 100)}"] for t in LEVELS]
    gap = metrics.get("buyer_coverage_gap", math.nan)
    return {"below_excess": max(above), "at_or_below_deficit": max(under),
            "abs_buyer_gap": abs(gap) if gap is not None else math.nan, "pinball": metrics.get("pinball", math.nan)}


def quantile_summary(entries: list[dict]) -> dict:
    """Worst misses per model and per family over ``entries``, and the champion-vs-baseline pinball count."""
    per_model: dict[str, dict[str, float]] = {}
    champion_pinball = []
    for entry in entries:
        models = entry["models"]
        for name, m in models.items():
            q = m.get("quantiles") or {}
            if not q or any(q.get(f"below_p{round(t * 100)}") is None for t in LEVELS):
                continue
            misses = model_misses(q)
            worst = per_model.setdefault(name, {"pairs": 0, "below_excess": -math.inf, "at_or_below_deficit": -math.inf,
                                                "abs_buyer_gap": -math.inf})
            worst["pairs"] += 1
            for key in ("below_excess", "at_or_below_deficit", "abs_buyer_gap"):
                if math.isfinite(misses[key]):
                    worst[key] = max(worst[key], misses[key])
        champion = entry.get("champion")
        base = (models.get("baseline") or {}).get("quantiles") or {}
        mine = (models.get(champion) or {}).get("quantiles") or {}
        if champion and base.get("pinball") is not None and mine.get("pinball") is not None:
            champion_pinball.append({"seed": entry["seed"], "line": entry["line"], "champion": champion,
                                     "champion_pinball": mine["pinball"], "baseline_pinball": base["pinball"],
                                     "ok": mine["pinball"] <= base["pinball"]})
    for worst in per_model.values():
        worst["pass"] = (worst["below_excess"] <= SHARE_SLACK and worst["at_or_below_deficit"] <= SHARE_SLACK
                         and worst["abs_buyer_gap"] <= BUYER_GAP_LIMIT)
    families: dict[str, dict] = {}
    for name, worst in per_model.items():
        fam = families.setdefault(family(name), {"models": [], "pass": True})
        fam["models"].append(name)
        fam["pass"] = fam["pass"] and worst["pass"]
    return {
        "criterion": (f"per level share(y < q) <= tau + {SHARE_SLACK} and share(y <= q) >= tau - {SHARE_SLACK}; "
                      f"|buyer coverage - implied| <= {BUYER_GAP_LIMIT}; champion pinball <= baseline's"),
        "per_model": per_model,
        "families": families,
        "champion_pinball": champion_pinball,
        "champion_pinball_pass": bool(champion_pinball) and all(c["ok"] for c in champion_pinball),
    }


def quantile_markdown(summary: dict) -> str:
    """The per-model worst misses and the pinball comparison as markdown."""
    out = ["| model | family | pairs | worst share(y < q) - tau | worst tau - share(y <= q) | worst abs(buyer gap) | pass |",
           "|---|---|---:|---:|---:|---:|---|"]
    for name, w in sorted(summary["per_model"].items()):
        out.append(f"| `{name}` | {family(name)} | {w['pairs']} | {w['below_excess']:+.3f} | {w['at_or_below_deficit']:+.3f} | "
                   f"{w['abs_buyer_gap']:.3f} | {'yes' if w['pass'] else 'NO'} |")
    worse = [c for c in summary["champion_pinball"] if not c["ok"]]
    out += ["", f"Champion pinball <= baseline pinball on {len(summary['champion_pinball']) - len(worse)} of "
                f"{len(summary['champion_pinball'])} pairs"
            + ("" if not worse else ": not on " + ", ".join(f"{c['seed']}/{c['line']} ({c['champion']})" for c in worse))]
    return "\n".join(out)
