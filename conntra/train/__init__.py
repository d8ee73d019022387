"""Trainers on the integer contract: CoNNTrA (coordinate descent with exact
incremental checks in the C core) and its baselines (float backprop, ternary
QAT, optional PyTorch). docs/trainer.md describes the algorithm and defaults.

    from conntra.train import train, ConntraConfig
    result = train(conntra.datasets.load("iris"), [8], "conntra", epochs=30)
    result.model.save("iris.ctm")
"""

from conntra.train.api import TRAINERS, TrainResult, prepare, train
from conntra.train.coordinate import ConntraConfig

__all__ = ["TRAINERS", "ConntraConfig", "TrainResult", "prepare", "train"]
