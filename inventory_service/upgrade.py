"""What an older inventory left in its JSON journal, brought up to date in one write as the journal
is opened (`make_docs(..., upgrade=upgrade)`), before the catalog's order is built from it: books
without a position get one (in their stored order) and an ISBN entry, and the generated-id counter
its new form. Redis never held the older layout."""

from __future__ import annotations

from typing import Any

from inventory_service.documents import BOOKS, GENERATED, ISBNS, POSITION
from inventory_service.domain import FIRST_GENERATED_ID, isbn_key
from shared.store import Change, Tables

SEQ = "seq"  # where the in-process tables keep their counters (`TablesDocs.next_number`)
OLD_GENERATED = "book_id"  # what an older JSON store kept instead: the last generated id itself


def upgrade(tables: Tables) -> None:
    books = tables.table(BOOKS)
    stored = int(tables.get(SEQ, POSITION) or 0)
    last = max([stored] + [doc["pos"] for doc in books.values() if "pos" in doc])
    changes: list[Change] = []
    indexed: set[str] = set()
    for book_id, doc in books.items():
        if "pos" not in doc:
            last += 1
            changes.append((BOOKS, book_id, {**doc, "pos": last}))
        key = isbn_key(doc["isbn"])
        if tables.get(ISBNS, key) is None and key not in indexed:
            indexed.add(key)
            changes.append((ISBNS, key, book_id))
    if last != stored:
        changes.append((SEQ, POSITION, last))
    changes += _generated_counter(tables.get(SEQ, OLD_GENERATED))
    if changes:
        tables.write(changes)


def _generated_counter(old_generated: Any) -> list[Change]:
    """The counter of generated ids in its new form (how many were generated), the old one gone."""
    if old_generated is None:
        return []
    return [
        (SEQ, GENERATED, max(int(old_generated) - FIRST_GENERATED_ID + 1, 0)),
        (SEQ, OLD_GENERATED, None),
    ]
