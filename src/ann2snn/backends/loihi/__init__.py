"""The Loihi backend (docs/backends.md, "Loihi"): an integer-mode network on Intel's
Loihi 1, run in nengo-loihi's emulator (the chip's integer arithmetic, no hardware).

chip.py (Loihi 1's registers and per-core limits, as nengo-loihi states them), profile.py
(the quantization target "loihi" and its check), resources.py (cores, compartments,
synapses and axons: ``ann2snn info --target loihi``), backend.py (the registered
backend; imports no nengo-loihi), build.py (the LoihiBlocks), runner.py (LoihiSNN).
"""
