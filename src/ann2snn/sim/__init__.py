"""Simulators: the float IF simulator (simulator.py) and the integer one (integer.py)."""
