"""One MNIST training run per invocation, for the measurements in docs/trainer.md.

    OPENBLAS_NUM_THREADS=1 python benchmarks/train_experiment.py epochs=14 init=hybrid \\
        rounds=4 [trainer=conntra|backprop|qat] [hidden=256] [seed=0] [max_train=N] \\
        [any ConntraConfig field=value]

Prints progress, one JSON line per epoch, and a RESULT line with the test error.
MNIST comes from $CONNTRA_DATA (or the default search path of conntra.datasets).
"""

import json
import sys
import time

from conntra import datasets
from conntra.events import Observer
from conntra.train import api, coordinate


def main(argv):
    args = dict(a.split("=", 1) for a in argv)
    epochs = int(args.pop("epochs", 5))
    hidden = [int(h) for h in args.pop("hidden", "256").split(",")]
    seed = int(args.pop("seed", 0))
    max_train = args.pop("max_train", None)
    trainer = args.pop("trainer", "conntra")
    cfg = coordinate.ConntraConfig()
    for key, value in args.items():
        cur = getattr(cfg, key)
        if isinstance(cur, bool) or cur is None:
            setattr(cfg, key, value in ("1", "true", "True"))
        else:
            setattr(cfg, key, type(cur)(value))
    data = datasets.load("mnist")
    t0 = time.time()

    class Log(Observer):
        def phase_start(self, name, total=None, unit="it"):
            self.name, self.total, self.done = name, total, 0

        def phase_advance(self, n=1, **info):
            self.done += n
            if "loss" in info and (self.done % 10 == 0 or self.done == self.total):
                print(
                    f"  {self.name} batch {self.done}/{self.total} loss {info['loss']:.4f} "
                    f"t={time.time() - t0:.0f}s",
                    flush=True,
                )

    result = api.train(
        data,
        hidden,
        trainer,
        epochs=epochs,
        seed=seed,
        config=cfg,
        observer=Log(),
        max_train=int(max_train) if max_train else None,
    )
    for h in result.history:
        print(json.dumps(h), flush=True)
    test = result.model.error_rate(data.x_test, data.y_test)
    print(
        "RESULT",
        json.dumps(
            {
                "trainer": trainer,
                "cfg": vars(cfg),
                "epochs": epochs,
                "hidden": hidden,
                "test_error": test,
                "seconds": round(result.seconds, 1),
                "best_val": min(h["val_error"] for h in result.history),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
