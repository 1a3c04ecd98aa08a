"""Store primitives: the durable journal and the in-memory tables that the services' stores use."""

from shared.store.journal import Journal, StoreCorrupt, StoreLocked
from shared.store.tables import Change, Tables

__all__ = ["Change", "Journal", "StoreCorrupt", "StoreLocked", "Tables"]
