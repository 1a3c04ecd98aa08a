"""Garbage-collection pauses of every process during a run, from their /metrics (`gc_pause_seconds`,
shared/metrics.py): a suspect in the tail of order latency, counted instead of turned off."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

LONG = 0.005  # a pause longer than this (s) is counted apart: it shows in a p99 of tens of ms


@dataclass(frozen=True)
class Pauses:
    count: int = 0
    seconds: float = 0.0
    long: int = 0  # longer than LONG

    def __sub__(self, before: Pauses) -> Pauses:
        return Pauses(self.count - before.count, self.seconds - before.seconds, self.long - before.long)


def parse(text: str) -> Pauses:
    """All generations' pauses so far, from one process's /metrics text."""
    count = seconds = 0.0
    within = 0.0  # pauses no longer than LONG
    for family in text_string_to_metric_families(text):
        if family.name != "gc_pause_seconds":
            continue
        for s in family.samples:
            if s.name.endswith("_count"):
                count += s.value
            elif s.name.endswith("_sum"):
                seconds += s.value
            elif s.name.endswith("_bucket") and float(s.labels["le"]) == LONG:
                within += s.value
    return Pauses(int(count), seconds, int(count - within))


def scrape(urls: Mapping[str, str]) -> dict[str, Pauses]:
    found = {}
    for name, url in urls.items():
        with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
            found[name] = parse(response.read().decode())
    return found


def during(before: Mapping[str, Pauses], after: Mapping[str, Pauses]) -> dict[str, Pauses]:
    return {name: after[name] - before[name] for name in after if name in before}


def describe(pauses: Mapping[str, Pauses]) -> str:
    parts = [
        f"{name} {p.count} ({p.seconds * 1000:.0f} ms in all, {p.long} over {LONG * 1000:.0f} ms)"
        for name, p in pauses.items()
    ]
    return "; ".join(parts) if parts else "not measured"
