"""Helpers the benchmark scripts share: results folder, machine line, tables, plots.

Benchmarks print ratios measured side by side in one run (medians over seeds
or rounds); timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import importlib.metadata as _metadata
import json
import math
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
#: Where CSVs, plots and JSON go (ignored by git).
RESULTS_DIR = BENCH_DIR / "results"

#: Okabe-Ito: a palette that stays distinguishable with the common colour-vision deficiencies.
OKABE_ITO = (
    "#000000",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
)
LINESTYLES = ("-", "--", ":", "-.")


def pythonpath(paths: str = "") -> str:
    """``paths`` (a PYTHONPATH value) with the repository root first: the ``benchmarks``
    package (and this checkout's own packages) importable in a child process."""
    if str(REPO_ROOT) in paths.split(os.pathsep):
        return paths
    return os.pathsep.join(p for p in (str(REPO_ROOT), paths) if p)


def importable() -> None:
    """Let workers this process starts (process pools, Dask) import ``benchmarks.*`` by name,
    whatever their working folder."""
    os.environ["PYTHONPATH"] = pythonpath(os.environ.get("PYTHONPATH", ""))


def shared_cache() -> None:
    """Synthetic scenes in one cache for every benchmark run (unless HYPERSEAL_CACHE says
    where): decoded once, not once per run."""
    os.environ.setdefault("HYPERSEAL_CACHE", str(Path(tempfile.gettempdir()) / "hyperseal-bench"))


def cuda_sync(device: Any = None) -> None:
    """Wait for the work queued on the GPU (``device``, default the current one), so that
    a timing ends with it; nothing without CUDA or for a CPU ``device``."""
    import torch

    if device is not None and torch.device(device).type != "cuda":
        return
    if torch.cuda.is_available():
        torch.cuda.synchronize(device)


def results_dir(path: Path | None = None) -> Path:
    """The results folder (created)."""
    folder = Path(path) if path is not None else RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def one_thread() -> None:
    """One torch (and BLAS) thread in this process: trials are CPU-bound and run side by side."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import torch

    torch.set_num_threads(1)
    try:  # numpy may already be loaded with its BLAS pool: shrink that too
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - comes with scikit-learn
        pass


#: The search libraries whose versions a search's figures depend on.
_SEARCHERS = ("nevergrad", "optuna", "smac")


def machine() -> dict[str, Any]:
    """Where a figure came from: CPU model, cores, load, versions, date."""
    info: dict[str, Any] = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    for package in _SEARCHERS:  # the searches' figures move with these
        try:
            info[package] = _metadata.version(package)
        except _metadata.PackageNotFoundError:
            info[package] = None
    if hasattr(os, "getloadavg"):
        info["load_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


def synthetic_training(
    arch: str, backbone: str, size: int, images: int, batch: int, device: str
) -> tuple[Any, Any, Any]:
    """The GPU benchmark's training setting: synthetic scenes decoded in memory (the train
    split), the detector's spec and a 1-epoch config; cuDNN autotuning on for CUDA."""
    import torch

    from tuner.data.dataset import DetectionDataset
    from tuner.data.resolve import resolve_data
    from tuner.detectors import ModelSpec
    from tuner.train import TrainConfig

    splits = resolve_data("synthetic", images=images, size=size, seed=0)
    train_set = DetectionDataset(splits.train)
    train_set.preload()
    spec = ModelSpec(arch, backbone, size, tuple(splits.train.class_names))
    config = TrainConfig(epochs=1, batch_size=batch, lr=0.005, warmup_epochs=0.0)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    return train_set, spec, config


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test (ties already dropped): P(a split at least this uneven)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def won_lost(theirs: Sequence[float], ours: Sequence[float]) -> tuple[int, int]:
    """Pairs where ``theirs`` is higher, and where it is lower (ties in neither)."""
    pairs = list(zip(theirs, ours, strict=True))
    return sum(t > o for t, o in pairs), sum(t < o for t, o in pairs)


@functools.cache
def run_site() -> str:
    """What a logged training run's figures depend on besides its own job: the CPU model
    and the versions of torch and the search libraries. On another CPU model training
    rounds differently in the last digits, and a search that reads those scores takes
    another path (docs/benchmarks.md, "what the machine alone moves")."""
    info = machine()
    cpu = str(info.get("cpu") or platform.machine() or "unknown CPU")
    return "; ".join([cpu, *(f"{p} {info.get(p) or '-'}" for p in ("torch", *_SEARCHERS))])


def load_logged(path: Path | None, key: str) -> dict[str, dict[str, Any]]:
    """The rows of a JSON-lines run log by their ``key`` field ({} without a log), those of
    this run site only (:func:`run_site`).

    A line that is not a whole row (a run killed while it wrote) is skipped with a
    warning: that run is simply run again. So are rows logged on another CPU model or
    with other versions (or before rows said where they ran), with one note: a figure
    that pairs them with this machine's runs would carry the machine's share.
    """
    if path is None or not path.exists():
        return {}
    rows: dict[str, dict[str, Any]] = {}
    elsewhere: dict[str | None, int] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            ident = row[key]
        except (json.JSONDecodeError, KeyError, TypeError):
            print(
                f"warning: {path}:{number} is not a whole run; it will run again", file=sys.stderr
            )
            continue
        if row.get("site") != run_site():
            elsewhere[row.get("site")] = elsewhere.get(row.get("site"), 0) + 1
            continue
        rows[ident] = row
    for site, count in elsewhere.items():
        where = "with no run site" if site is None else f"on {site}"
        print(
            f"note: {count} runs of {path} were logged {where}, not here ({run_site()});"
            " they will run again here, since a search's scores change with the machine",
            file=sys.stderr,
        )
    return rows


def append_logged(path: Path, row: dict[str, Any]) -> None:
    """Append ``row`` to a JSON-lines run log as one line, on a line of its own even when
    the log ends in a line cut off by a killed run; the row gets this run site
    (:func:`run_site`) as ``site`` unless it says where it ran."""
    row = {"site": run_site(), **row}
    with path.open("a+b") as f:  # "a": every write goes to the end
        size = f.seek(0, os.SEEK_END)
        cut = False
        if size:
            f.seek(size - 1)
            cut = f.read(1) != b"\n"
        f.write((("\n" if cut else "") + json.dumps(row) + "\n").encode())


def median(values: Iterable[float]) -> float:
    """Median of the finite values (NaN when there are none)."""
    finite = [v for v in values if v == v]
    return statistics.median(finite) if finite else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: text left-aligned, numbers right-aligned (3 significant digits)."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            if v != v:
                return "-"
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)

    numeric = [
        all(isinstance(r[i], (int, float)) for r in rows) if rows else False
        for i in range(len(headers))
    ]
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


def parse_with_quick(
    parser: argparse.ArgumentParser, argv: list[str] | None, quick: str
) -> argparse.Namespace:
    """Add the options ``--quick`` (``quick`` says what it runs) and ``--json``, then parse
    ``argv``."""
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def write_json(path: Path | None, data: dict[str, Any]) -> None:
    """Write ``data`` (with the machine line) as JSON when ``path`` is given."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2, default=_plain))


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
