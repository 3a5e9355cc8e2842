"""Installs the ``dld_spotter`` package. Detectron2 and PyTorch are installed by
``scripts/setup.sh`` (see README): detectron2 has no PyPI release under its own name."""
import os

from setuptools import find_packages, setup

# The model zoo ships the configs (as detectron2 does, through a link to configs/) and the
# trained weights of dld_spotter/model_zoo/weights/.
_ZOO_CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dld_spotter",
                            "model_zoo", "configs")
if not os.path.exists(_ZOO_CONFIGS):
    os.symlink(os.path.join("..", "..", "configs"), _ZOO_CONFIGS)

setup(
    name="dld_spotter",
    version="0.1.0",
    description="Dynamic Low-resolution Distillation for cost-efficient end-to-end text spotting "
    "(a Detectron2 project)",
    packages=find_packages(include=["dld_spotter", "dld_spotter.*"]),
    package_data={"dld_spotter.model_zoo": ["configs/*.yaml", "configs/*/*.yaml",
                                             "configs/*/*/*.yaml", "weights/*.pth"]},
    python_requires=">=3.9",
    install_requires=[
        "numpy",
        "opencv-python-headless",
        "Pillow",
        "shapely",
        "rapidfuzz",
        "scipy",
        "fvcore",
        "pycocotools",
        "tqdm",
        "font-roboto",
        "font-source-sans-pro",
        "font-source-serif-pro",
        "font-caladea",
    ],
    extras_require={
        "dev": ["pytest", "ruff"],
        # python -m dld_spotter.export and OnnxTextPredictor (torch.onnx writes with onnx)
        "export": ["onnx", "onnxruntime"],
    },
)
