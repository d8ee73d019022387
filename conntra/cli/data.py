"""``conntra data``: where datasets are found, and downloading them.

data fetch mnist [--data-dir DIR] [--mirror URL ...]
    downloads the four MNIST IDX files (MD5-checked, atomic) unless present.
data list
    each dataset and where it is read from, or what is missing.
"""

from __future__ import annotations

import json
import os

from conntra import datasets
from conntra.cli.progress import TqdmObserver
from conntra.errors import ConntraError

FETCHABLE = ("mnist",)  # iris ships inside the package


def run_fetch(args) -> int:
    mirrors = args.mirror or (os.environ.get("CONNTRA_MNIST_MIRROR", "").split() or None)
    observer = TqdmObserver(enabled=not args.quiet)
    try:
        report = datasets.fetch_mnist(args.data_dir, mirrors=mirrors, observer=observer)
    finally:
        observer.close()
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    for r in report.values():
        verb = "already present" if r["status"] == "present" else f"downloaded from {r['url']}"
        print(f"{r['path']}: {verb}")
    print(f"MNIST is ready in {datasets.mnist_data_dir(args.data_dir)}")
    return 0


def run_list(args) -> int:
    rows = {"iris": {"status": "packaged", "where": str(datasets._IRIS_PATH)}}
    try:
        files = datasets._find_mnist_files(args.data_dir)
        rows["mnist"] = {"status": "found", "where": sorted(str(p) for p in files.values())}
    except ConntraError:
        rows["mnist"] = {
            "status": "missing",
            "where": [str(d) for d in datasets._mnist_search_dirs(args.data_dir)],
            "hint": "conntra data fetch mnist",
        }
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 0
    for name, r in rows.items():
        where = r["where"] if isinstance(r["where"], str) else ", ".join(r["where"])
        if r["status"] == "missing":
            print(f"{name:<6} missing (searched {where}); run: {r['hint']}")
        else:
            print(f"{name:<6} {r['status']}: {where}")
    return 0


def _data_dir_option(p) -> None:
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder of the dataset files (default: $CONNTRA_DATA, else ~/.cache/conntra)",
    )


def register(sub) -> None:
    p = sub.add_parser(
        "data",
        help="find and download datasets",
        description="Where conntra finds its datasets, and downloading them.",
    )
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    f = data_sub.add_parser(
        "fetch",
        help="download a dataset's files",
        description="Download a dataset's files, check their MD5 and "
        "write them atomically; files already present and "
        "correct are kept.",
    )
    f.add_argument("dataset", choices=FETCHABLE, help="dataset to download")
    _data_dir_option(f)
    f.add_argument(
        "--mirror",
        action="append",
        default=None,
        metavar="URL",
        help="base URL holding the .gz files, tried in the order given "
        "(repeatable; default: $CONNTRA_MNIST_MIRROR, else "
        + ", ".join(datasets.MNIST_MIRRORS)
        + ")",
    )
    f.add_argument("--quiet", action="store_true", help="no progress bars on stderr")
    f.add_argument("--json", action="store_true", help="print where each file is, as JSON")
    f.set_defaults(func=run_fetch, check_environment=False)

    ls = data_sub.add_parser(
        "list",
        help="where each dataset is found",
        description="Each dataset and the files it is read from.",
    )
    _data_dir_option(ls)
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=run_list, check_environment=False)
