"""`make bench`: Nocturnal's load figures, each beside a baseline measured in the same run.

Run it as ``uv run python -m tools.bench`` (see ``--help`` and the README's "Benchmarks").
"""
