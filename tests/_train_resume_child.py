"""Child process of the SIGKILL and SIGINT resume tests: trains on a small synthetic set.

argv: checkpoint_dir out_path resume(0/1) slow(0/1)
"""

import sys
import time

import numpy as np

from conntra.datasets import Dataset
from conntra.events import Observer
from conntra.train import api
from conntra.train.coordinate import ConntraConfig


def synthetic():
    rng = np.random.default_rng(5)
    centers = rng.integers(0, 256, (4, 48))
    y = rng.integers(0, 4, 1600)
    x = np.clip(centers[y] + rng.normal(0, 60, (1600, 48)), 0, 255).astype(np.uint8)
    x.flags.writeable = False
    return Dataset("synthetic", x[:1400], y[:1400], x[1400:], y[1400:], 4, None, "image")


def main():
    folder, out, resume, slow = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
    # batch_start: the batch grows from 64 to 256 over the epochs, so a resume
    # mid-epoch must find the batch of that epoch again
    cfg = ConntraConfig(
        batch=256,
        batch_start=64,
        budget=256,
        rounds=2,
        init="random",
        checkpoint_every=2,
        patience=10,
    )

    class Slow(Observer):
        def phase_advance(self, n=1, **info):
            time.sleep(0.15)  # leaves time for the parent to stop this process mid-run

    result = api.train(
        synthetic(),
        [16],
        "conntra",
        epochs=4,
        seed=11,
        config=cfg,
        checkpoint_dir=folder,
        resume=resume,
        observer=Slow() if slow else None,
    )
    result.model.save(out)


if __name__ == "__main__":
    main()
