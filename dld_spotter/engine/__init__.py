from .hooks import SaveOnInterruptHook
from .predictor import TextPredictor, to_bgr_uint8
from .trainer import TextSpotterTrainer

__all__ = ["SaveOnInterruptHook", "TextPredictor", "TextSpotterTrainer", "to_bgr_uint8"]
