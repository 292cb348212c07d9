"""pmrsim: a deterministic blockchain testbed for patient medical records."""

__version__ = "0.1.0"
