"""Export of a spotter (teacher or DLD student) to ONNX, and :class:`OnnxTextPredictor`,
which runs the export with onnxruntime (``pip install -e .[export]``)::

    python -m dld_spotter.export --config-file configs/synth/teacher_tiny.yaml \\
        MODEL.WEIGHTS dld_spotter://teacher_tiny.pth --output output/teacher_tiny/onnx

    predictor = OnnxTextPredictor("output/teacher_tiny/onnx")
    outputs = predictor(cv2.imread("image.jpg"))  # TextPredictor's: {"instances": ...}

What runs where, for each image (the host code is the PyTorch path's own, not a copy):

- host: the test resize, normalisation and padding (``TextPredictor``, detectron2);
- ``selector.onnx`` (DLD student): the Dynamic Resolution Selector on the image's thumbnail
  (the thumbnail, the argmax of its scores and the resize to that scale: host,
  ``modeling.drs.thumbnails`` and ``modeling.rescale.resize_image_list``);
- ``detector.onnx``: backbone, RPN, box head with its NMS and containment filter, mask head
  and RoI-Masking: boxes, scores, classes, mask probabilities and the recognition features
  ``F_roi`` (8×32) of the detections;
- ``encoder.onnx``: the recognizer's convs and BiLSTM; ``decoder_start.onnx``: the attention
  decoder's initial state and keys;
- host: greedy or beam-search decoding (``AttentionDecoder``'s own loops), each step one call
  of ``decoder_step.onnx``; the characters of the classes; the masks pasted into the image
  and the boxes mapped to its size (detectron2's ``detector_postprocess``).

:func:`export_model` traces each graph on a sample image and runs it with onnxruntime on the
same inputs: a part that cannot be traced, or whose graph gives other outputs than PyTorch,
is an :class:`ExportError` that names the part. Measured speed: docs/benchmarks/export.md.
"""
from .exporter import ExportError, export_model
from .runtime import OnnxTextPredictor

__all__ = ["ExportError", "OnnxTextPredictor", "export_model"]
