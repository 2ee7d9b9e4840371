"""C runtime templates (package data): snn_kernels.c, main.c, Makefile."""
