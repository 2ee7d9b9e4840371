"""Simulators: the float IF simulator (simulator.py) and the integer one (integer.py).

They share the window loop (windows.py); their per-node ops are registries (ops.py,
integer_ops.py); the IF dynamics are in functional.py and integer.py, the input
encodings in encoders.py, the float simulator's fast pooling in pooling.py.
"""
