"""The integration tests' system: `devtools.system` (the benchmark starts the same one)."""

from devtools.system import AUTH, LocalSystem, free_port_block

__all__ = ["AUTH", "LocalSystem", "free_port_block"]
