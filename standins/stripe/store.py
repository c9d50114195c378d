"""Everything the stand-in knows, as plain JSON-able records: one table per kind of object, the meter
events it received, and the counters that must survive a restart. Records are the stand-in's own shape
(render.py turns them into Stripe's, per API version); keys starting with `_` never leave the server.

With a data dir the whole store is one JSON file, rewritten atomically (temporary file, fsync, rename)
after every change: it is small, and `make dev` keeps customers and subscriptions across restarts.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("standins.stripe.store")

TABLES = ("customers", "products", "prices", "payment_methods", "checkout_sessions", "portal_configurations",
          "portal_sessions", "subscriptions", "invoices", "invoice_items", "meters", "webhook_endpoints", "events")

# Which table an id belongs to, by its prefix (longest first: `price_` before `pm_`, etc. do not clash).
PREFIXES = {"cus_": "customers", "prod_": "products", "price_": "prices", "pm_": "payment_methods",
            "cs_": "checkout_sessions", "bpc_": "portal_configurations", "bps_": "portal_sessions",
            "sub_": "subscriptions", "in_": "invoices", "ii_": "invoice_items", "mtr_": "meters",
            "we_": "webhook_endpoints", "evt_": "events"}

FILE_NAME = "stripe.json"


def table_of(object_id: str) -> str | None:
    for prefix, table in PREFIXES.items():
        if object_id.startswith(prefix):
            return table
    return None


class Store:
    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict]] = {name: {} for name in TABLES}
        # Every meter event received, accepted or not, in order of arrival (see routes_billing).
        self.meter_events: list[dict] = []
        self.identifier_submissions: dict[str, int] = {}
        self.sequence = 0  # insertion order, which breaks ties between objects created in the same second

    def __getattr__(self, name: str) -> dict[str, dict]:
        tables = self.__dict__.get("tables")
        if tables is not None and name in tables:
            return tables[name]
        raise AttributeError(name)

    def add(self, table: str, record: dict) -> dict:
        self.sequence += 1
        record["_seq"] = self.sequence
        self.tables[table][record["id"]] = record
        return record

    def get(self, table: str, object_id: str) -> dict | None:
        return self.tables[table].get(object_id)

    def find(self, object_id: str) -> tuple[str, dict] | None:
        table = table_of(object_id)
        if table is None:
            return None
        record = self.tables[table].get(object_id)
        return (table, record) if record is not None else None

    def newest_first(self, table: str) -> list[dict]:
        return sorted(self.tables[table].values(), key=lambda r: (r.get("created", 0), r["_seq"]), reverse=True)

    # --- persistence
    def dump(self) -> dict[str, Any]:
        return {"tables": self.tables, "meter_events": self.meter_events,
                "identifier_submissions": self.identifier_submissions, "sequence": self.sequence}

    def load(self, data: dict[str, Any]) -> None:
        for name in TABLES:
            self.tables[name] = dict(data.get("tables", {}).get(name, {}))
        self.meter_events = list(data.get("meter_events", []))
        self.identifier_submissions = dict(data.get("identifier_submissions", {}))
        self.sequence = int(data.get("sequence", 0))


def read_file(data_dir: Path) -> dict | None:
    path = data_dir / FILE_NAME
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as error:  # a hand-edited or truncated file: start empty rather than not at all
        log.error("Stripe stand-in state in %s is unreadable (%s); starting empty", path, error)
        return None


def write_file(data_dir: Path, data: dict) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / FILE_NAME
    temporary = path.with_suffix(".json.tmp")
    with open(temporary, "w") as handle:
        json.dump(data, handle, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
