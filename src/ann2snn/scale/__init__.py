"""Beyond one process: distributed evaluation (distributed.py), the batch store that makes
runs resumable (store.py), and settings sweeps (sweep*.py). docs/scale-out.md."""
