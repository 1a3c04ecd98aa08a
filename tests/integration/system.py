"""The integration tests' system: `shared.system` (the benchmark starts the same one)."""

from shared.system import AUTH, LocalSystem, free_port_block

__all__ = ["AUTH", "LocalSystem", "free_port_block"]
