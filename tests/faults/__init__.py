"""Faults injected on the wire between real processes (a slow link), and what clients see meanwhile."""
