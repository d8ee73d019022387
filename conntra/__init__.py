"""conntra: ternary neural networks trained by CoNNTrA, run by a C core,
shipped as standalone C for microcontrollers."""

from conntra.errors import ConntraError
from conntra.layers import Flatten, MaxPool2D, TernaryConv2D
from conntra.model import FloatDense, FloatModel, TernaryDense, TernaryModel
from conntra.modelfile import load, save
from conntra.quant import InputQuant

__version__ = "0.1.0"

__all__ = [
    "ConntraError",
    "FloatDense",
    "FloatModel",
    "Flatten",
    "InputQuant",
    "MaxPool2D",
    "TernaryConv2D",
    "TernaryDense",
    "TernaryModel",
    "load",
    "save",
    "__version__",
]
