"""The development harness: `make run`'s launcher (the local topology of the gateway and the three
services), the local system that integration tests and the benchmark start, and a private
redis-server. It lives outside `shared/` because no image installs it: processes never need it."""
