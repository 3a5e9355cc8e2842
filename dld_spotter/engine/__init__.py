from .hooks import SaveOnInterruptHook
from .trainer import TextSpotterTrainer

__all__ = ["SaveOnInterruptHook", "TextSpotterTrainer"]
