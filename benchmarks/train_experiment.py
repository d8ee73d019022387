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

    def progress(epoch, batch, n_batches, loss):
        if batch % 10 == 0 or batch == n_batches:
            print(f"  epoch {epoch + 1} batch {batch}/{n_batches} loss {loss:.4f} "
                  f"t={time.time() - t0:.0f}s", flush=True)

    result = api.train(data, hidden, trainer, epochs=epochs, seed=seed, config=cfg,
                       progress=progress, max_train=int(max_train) if max_train else None)
    for h in result.history:
        print(json.dumps(h), flush=True)
    test = result.model.error_rate(data.x_test, data.y_test)
    print("RESULT", json.dumps({"trainer": trainer, "cfg": vars(cfg), "epochs": epochs,
                                "hidden": hidden, "test_error": test,
                                "seconds": round(result.seconds, 1),
                                "best_val": min(h["val_error"] for h in result.history)}),
          flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
