"""Data sets of dld-spotter. Importing this package registers the built-in data sets."""
from .build import build_text_test_loader, build_text_train_loader
from .datasets import load_text_json, register_text_dataset
from .lexicons import load_lexicon, sample_lexicons, vocabulary_word
from .mixed import MixedTrainingSampler, build_mixed_train_loader

__all__ = ["load_text_json", "register_text_dataset", "load_lexicon", "sample_lexicons",
           "vocabulary_word", "MixedTrainingSampler",
           "build_mixed_train_loader", "build_text_train_loader", "build_text_test_loader"]
