"""The Nengo backend (docs/backends.md, "Nengo"): a converted network as a
``nengo.Network`` of ann2snn's IF neurons, simulated by Nengo's reference simulator.

backend.py (the registered backend; imports no nengo), runner.py (NengoSNN: an SNN
whose batches run in Nengo), build.py (the network), neuron.py (the neuron type).
"""
