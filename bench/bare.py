"""The baseline a user would pick instead of this system (issue 16): a bare FastAPI app serving the
same book dict from one async route, under the same uvicorn with uvloop and httptools, one worker,
no access log. `make bench` starts it in every run and reports every throughput as a ratio to it.

    BENCH_BARE_PORT=8100 python -m bench.bare
"""

from __future__ import annotations

import os
from typing import Any

import uvicorn
from fastapi import FastAPI

from devtools.launch import ProcessSpec

BOOK: dict[str, Any] = {
    "id": "123",
    "title": "The Great Gatsby",
    "author": "F. Scott Fitzgerald",
    "price": 15.99,
    "stock": 50,
    "isbn": "9780743273565",
}

app = FastAPI()


@app.get("/api/books/{book_id}")
async def get_book(book_id: str) -> dict[str, Any]:
    return BOOK


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def spec(port: int) -> ProcessSpec:
    """How `devtools.launch` starts it beside the system under test."""
    return ProcessSpec("bare", "bench.bare", port, {"BENCH_BARE_PORT": str(port)})


if __name__ == "__main__":
    uvicorn.run(
        "bench.bare:app",
        host="127.0.0.1",
        port=int(os.environ["BENCH_BARE_PORT"]),
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_level="warning",
        server_header=False,
    )
