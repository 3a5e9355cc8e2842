"""Installs the ``dld_spotter`` package. Detectron2 and PyTorch are installed by
``scripts/setup.sh`` (see README): detectron2 has no PyPI release under its own name."""
from setuptools import find_packages, setup

setup(
    name="dld_spotter",
    version="0.1.0",
    description="Dynamic Low-resolution Distillation for cost-efficient end-to-end text spotting "
    "(a Detectron2 project)",
    packages=find_packages(include=["dld_spotter", "dld_spotter.*"]),
    python_requires=">=3.9",
    install_requires=[
        "numpy",
        "opencv-python-headless",
        "Pillow",
        "shapely",
        "scipy",
        "fvcore",
        "pycocotools",
        "tqdm",
        "font-roboto",
        "font-source-sans-pro",
        "font-source-serif-pro",
        "font-caladea",
    ],
    extras_require={"dev": ["pytest", "ruff"]},
)
