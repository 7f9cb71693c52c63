"""Nocturnal operator tools: `python -m nocturnal.ops <group> <command>` (see `--help`)."""
