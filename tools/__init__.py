"""Developer and CI tooling: the local dev stack runner, the demo scenario, load tests."""
