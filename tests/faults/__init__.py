"""Faults injected into the real system (killed processes, a stopped Redis, a failing payment
provider, a slow link between services) and what clients and the books show under each."""
