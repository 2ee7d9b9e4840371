"""Backends: read a spiking Graph and deploy it (C source, ...)."""
