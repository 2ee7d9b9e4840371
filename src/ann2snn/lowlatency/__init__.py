"""Low-latency conversion (docs/low-latency.md): accurate spiking networks in a few steps."""

from .calibrate import calibrate  # noqa: F401
