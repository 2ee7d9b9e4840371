"""Compatibility layers: other tools' file formats, translated into ann2snn's."""
