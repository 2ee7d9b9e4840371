"""The Brian2 backend: a converted network run by Brian2 with synaptic delay 1.

backend.py declares and checks it (registered lazily as "brian2" in backends/__init__.py,
so nothing here imports brian2 until a network runs); build.py makes the Brian2 objects
of a graph; runner.py runs batches through them behind the simulator's interface; sops.py counts
the synaptic operations (with ../replay_sops.py); trace.py records a trace for ``ann2snn diff``.
"""
