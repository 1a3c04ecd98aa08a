"""Where the gateway forwards to: each public path prefix (`Route`) and the upstream that serves it."""

from __future__ import annotations

from dataclasses import dataclass

from shared.http import Upstream

# Sub-resources kept in route templates; any other path below an id is one label, so no client can
# make a time series per path.
_ACTIONS = frozenset({"stock", "cancel"})


@dataclass(frozen=True, slots=True)
class Route:
    """A public path prefix and the upstream (`shared.http.Upstream`) whose instances serve it."""

    prefix: str
    upstream: Upstream

    def matches(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    def template(self, path: str) -> str:
        """The route label of `path`: ids replaced, e.g. `/api/orders/{id}/cancel`."""
        rest = path[len(self.prefix) + 1 :]
        if not rest:
            return self.prefix
        _, _, tail = rest.partition("/")
        if not tail:
            return self.prefix + "/{id}"
        return f"{self.prefix}/{{id}}/{tail if tail in _ACTIONS else '*'}"
