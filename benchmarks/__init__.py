"""The benchmark harness of graphsaver: `python -m benchmarks.run` (see benchmarks/run.py)."""
