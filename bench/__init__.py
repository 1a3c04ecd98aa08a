"""`make bench`: starts the system on free ports, loads it with wrk (or a Python fallback), and writes
docs/benchmarks.md and docs/benchmarks.png with every figure as a ratio to a baseline of the same run."""
