"""Reproduce Wang & Gong's experiments and write their tables for the reports.

``reproduce()`` runs the four experiments of :mod:`audit.classical.tables`
(``estimation``, ``tolerance``, ``defences``, ``train_steal_retrain``) and
returns (and writes, as CSV and Parquet, with a ``manifest.json``) one
:class:`pandas.DataFrame` each. :func:`median_errors` and :func:`status_counts`
summarise the estimation table.

Column meanings are in :data:`COLUMNS`; ``docs/audit.md`` shows them too.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from audit.classical.tables import (
    COLUMNS,
    SETTINGS,
    ReproduceConfig,
    defence_table,
    estimation_table,
    tolerance_summary,
    tolerance_table,
    tsr_table,
)
from audit.errors import AuditOptionError
from audit.output import check_output_folder, remove_earlier_reports
from tuner.vault.atomic import atomic_write

__all__ = [
    "COLUMNS",
    "ReproduceConfig",
    "ReproduceResult",
    "median_errors",
    "reproduce",
    "status_counts",
]


@dataclass(frozen=True)
class ReproduceResult:
    """The tables, the seconds each took, and where they were written."""

    tables: dict[str, Any]
    seconds: dict[str, float]
    out_dir: Path | None
    files: tuple[Path, ...] = ()


def _check(config: ReproduceConfig) -> None:
    unknown = [lr for lr in config.learners if lr not in SETTINGS]
    if unknown:
        raise AuditOptionError(
            f"unknown learner(s) {', '.join(unknown)}; choose from {', '.join(SETTINGS)}"
        )


def reproduce(
    out_dir: str | Path | None = None,
    *,
    quick: bool = False,
    config: ReproduceConfig | None = None,
    progress: Any = None,
    tables: Sequence[str] = ("estimation", "tolerance", "defences", "train_steal_retrain"),
    blas_threads: int | None = 1,
    force: bool = False,
) -> ReproduceResult:
    """Run the paper's experiments and write the tables.

    Args:
        out_dir: Folder for ``<table>.csv``, ``<table>.parquet`` and
            ``manifest.json`` (created if missing); ``None`` writes nothing.
            Checked before any experiment runs.
        quick: Use :meth:`ReproduceConfig.quick` (ignored when ``config`` is given).
        config: What to run; defaults to the full or quick preset.
        progress: A :class:`tuner.progress.Progress`, or ``None``.
        tables: Which experiments to run.
        blas_threads: BLAS threads while running (``None``: leave as is). The
            problems are small: on a shared two-core machine one thread ran the
            quick preset 10x faster than the default thread pool.
        force: Write into a non-empty ``out_dir`` (tables of the same names are
            replaced); by default it is refused.

    Returns:
        The :class:`ReproduceResult`.

    Raises:
        AuditOptionError: An unknown learner or table, or an ``out_dir`` that
            is a file, cannot be written, or is not empty (without ``force``).
    """
    config = config or (ReproduceConfig.quick() if quick else ReproduceConfig.full())
    _check(config)
    makers = {
        "estimation": estimation_table,
        "tolerance": tolerance_table,
        "defences": defence_table,
        "train_steal_retrain": tsr_table,
    }
    unknown = [t for t in tables if t not in makers]
    if unknown:
        raise AuditOptionError(f"unknown table(s) {', '.join(unknown)}; choose from {list(makers)}")
    if out_dir is not None:
        check_output_folder(out_dir, force=force)
    out: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    from threadpoolctl import threadpool_limits

    try:
        limit = threadpool_limits(limits=blas_threads) if blas_threads else nullcontext()
        with limit:
            for name in tables:
                start = time.perf_counter()
                out[name] = makers[name](config, progress)
                seconds[name] = time.perf_counter() - start
                if name == "tolerance":
                    out["tolerance_summary"] = tolerance_summary(out[name])
    finally:
        if progress is not None:
            progress.finish()
    files: list[Path] = []
    folder = None
    if out_dir is not None:
        folder = Path(out_dir)
        files = _write(folder, out, seconds, config)
        remove_earlier_reports(folder)
    return ReproduceResult(out, seconds, folder, tuple(files))


def median_errors(table: Any) -> Any:
    """Median errors per learner over the ``ok`` rows of an estimation table, with counts.

    The one summary the CLI, the reports and the docs quote: rows with any other
    status (:mod:`audit.classical.status`) are left out and counted in ``not_ok``.

    Returns:
        A DataFrame indexed by learner (in table order) with columns
        ``median_relative_error``, ``median_log10_error``, ``ok`` and ``not_ok``.
    """
    import pandas as pd

    rows = []
    for learner, group in table.groupby("learner", sort=False):
        ok = group[group["status"] == "ok"]
        rows.append(
            {
                "learner": learner,
                "median_relative_error": float(ok["relative_error"].median())
                if len(ok)
                else float("nan"),
                "median_log10_error": float(ok["log10_error"].median())
                if len(ok) and "log10_error" in ok
                else float("nan"),
                "ok": len(ok),
                "not_ok": len(group) - len(ok),
            }
        )
    columns = ["learner", "median_relative_error", "median_log10_error", "ok", "not_ok"]
    return pd.DataFrame(rows, columns=columns).set_index("learner")


def status_counts(table: Any) -> dict[str, int]:
    """Rows per status, ``ok`` first, then in :data:`audit.classical.status.STATUSES` order."""
    from audit.classical.status import STATUSES

    counts = table["status"].value_counts()
    order = [s for s in STATUSES if s in counts] + [s for s in counts.index if s not in STATUSES]
    return {str(s): int(counts[s]) for s in order}


def _preset(config: ReproduceConfig) -> str:
    if config == ReproduceConfig.quick():
        return "quick"
    return "full" if config == ReproduceConfig.full() else "custom"


def _write(
    folder: Path,
    tables: dict[str, Any],
    seconds: dict[str, float],
    config: ReproduceConfig,
) -> list[Path]:
    """Write each table (CSV + Parquet) and ``manifest.json`` to ``folder``.

    Raises:
        AuditOptionError: The folder cannot be created or a file cannot be
            written (a disk that fills up or turns read-only after the check).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for name, frame in tables.items():
            files += _write_table(folder, name, frame)
        path = folder / "manifest.json"
        text = json.dumps(_manifest(tables, seconds, config), indent=2, default=float)
        atomic_write(path, text.encode("utf-8"), error=AuditOptionError)
    except OSError as exc:
        where = exc.filename or folder
        raise AuditOptionError(
            f"cannot write the tables to {folder}: {where}: {exc.strerror or exc}; "
            "check the folder's permissions and free disk space"
        ) from None
    files.append(path)
    return files


def _write_table(folder: Path, name: str, frame: Any) -> list[Path]:
    """Write one table as ``<name>.csv`` and ``<name>.parquet``; return the paths."""
    import io

    csv = folder / f"{name}.csv"
    atomic_write(csv, frame.to_csv(index=False).encode("utf-8"), error=AuditOptionError)
    files = [csv]
    try:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        pq = folder / f"{name}.parquet"
        atomic_write(pq, buffer.getvalue(), error=AuditOptionError)
        files.append(pq)
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    return files


def _manifest(
    tables: dict[str, Any], seconds: dict[str, float], config: ReproduceConfig
) -> dict[str, Any]:
    """The reproduction's ``manifest.json``: preset, seconds, columns, config, versions."""
    import sklearn

    return {
        "paper": "Wang & Gong, Stealing Hyperparameters in Machine Learning, IEEE S&P 2018",
        "preset": _preset(config),
        "seconds": seconds,
        "tables": {
            name: {"rows": len(frame), "columns": COLUMNS.get(name, {})}
            for name, frame in tables.items()
        },
        "config": {k: v for k, v in asdict(replace(config)).items() if k != "extra"},
        "versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
    }
