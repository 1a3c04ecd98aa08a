"""Fill the sales store with confirmed orders in bulk, straight through the store (sales stopped), as
100,000 orders placed over HTTP would have left it, only in seconds instead of minutes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sales_service.domain import Order, OrderLine
from sales_service.settings import SalesSettings
from sales_service.store import ORDERS, DocSalesStore
from shared.store.docs import TablesDocs, make_docs
from shared.store.redis_docs import RedisDocs

_CHUNK = 1000


def _order(n: int, created: datetime) -> Order:
    line = OrderLine(("123", "456", "789")[n % 3], 1, Decimal("15.99"))
    return Order(f"order_{n}", f"cust_{n % 100}", (line,), "credit_card", created, "Confirmed", "Paid")


async def preload_orders(store: str, data_dir: Path, redis_url: str | None, count: int) -> None:
    """`count` confirmed orders, numbered from 1, and the order counter past them."""
    settings = SalesSettings(store=store, data_dir=data_dir, redis_url=redis_url or SalesSettings().redis_url)
    docs = make_docs(settings, "sales")
    orders_store = DocSalesStore(docs)  # registers the order table's ordering and indexes, as sales does
    created = datetime.now(UTC)
    await orders_store.open()
    try:
        for first in range(1, count + 1, _CHUNK):
            orders = [_order(n, created) for n in range(first, min(first + _CHUNK, count + 1))]
            if isinstance(docs, TablesDocs):
                docs.tables.write([(ORDERS, o.order_id, o.to_doc()) for o in orders])
            elif isinstance(docs, RedisDocs):
                async with docs.redis.pipeline(transaction=False) as pipe:
                    for o in orders:
                        docs.queue_write(pipe, ORDERS, o.order_id, None, o.to_doc())
                    await pipe.execute()
        if isinstance(docs, TablesDocs):
            docs.tables.write([("seq", "order", count)])
        elif isinstance(docs, RedisDocs):
            await docs.redis.set(f"{docs.prefix}~seq:order", count)
    finally:
        await docs.close()
