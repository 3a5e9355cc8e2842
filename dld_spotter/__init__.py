"""dld-spotter: Dynamic Low-resolution Distillation for end-to-end text spotting, on Detectron2.

Importing the package registers its meta-architectures, RoI heads, backbones and data sets.
"""
from . import data, model_zoo, modeling  # noqa: F401  (registration side effects)
from .charset import Charset, build_charset
from .config import add_dld_config, add_text_spotter_config

__all__ = ["Charset", "add_dld_config", "add_text_spotter_config", "build_charset"]
__version__ = "0.1.0"
