"""Data sets of dld-spotter. Importing this package registers the built-in data sets."""
from .datasets import load_text_json, register_text_dataset

__all__ = ["load_text_json", "register_text_dataset"]
