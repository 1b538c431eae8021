"""Reading the metrics a command reports, while it runs.

Two sources, both read incrementally so that pruning can act after each epoch:

- :class:`JsonLinesReader`: the file named by ``$HYPERSEAL_METRICS``, or a
  ``--metrics-file`` ending in ``.jsonl``/``.ndjson``: one JSON object of
  numbers per line; a line with an ``epoch`` is an epoch's report, the last
  line is the result.
- :class:`CsvReader`: a ``--metrics-file`` ending in ``.csv`` that the program
  writes itself (Ultralytics' ``results.csv``): one row per epoch, its numeric
  columns the metrics (names and cells stripped of spaces).

Neither quotes a line in its errors: a line may hold a hyperparameter.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Protocol

from tuner.errors import ConfigError

#: Bounds on what is read from a program: a line, a file, metrics per line.
MAX_LINE_BYTES = 64 * 1024
MAX_FILE_BYTES = 16 * 1024**2
MAX_METRICS = 1000

Metrics = dict[str, float]
_EXAMPLE = 'e.g. {"epoch": EPOCH, "mAP": VALUE}'


class MetricsError(ConfigError):
    """A metrics line or file is not what the protocol says (docs/tuning.md)."""


class MetricsReader(Protocol):
    def poll(self) -> list[Metrics]:
        """The metrics lines or rows that are complete and not read yet."""
        ...

    def finish(self) -> list[Metrics]:
        """Whatever is left once the program has exited (a last line without newline)."""
        ...


class JsonLinesReader:
    """Reads new complete lines of a JSON-lines file each time it is polled."""

    def __init__(self, path: Path, where: str) -> None:
        self.path, self.where = path, where
        self._offset = 0
        self._line = 0
        self._partial = b""

    def poll(self) -> list[Metrics]:
        return self._read(final=False)

    def finish(self) -> list[Metrics]:
        return self._read(final=True)

    def _read(self, final: bool) -> list[Metrics]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read(MAX_FILE_BYTES + 1 - self._offset)
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        if self._offset > MAX_FILE_BYTES:
            raise MetricsError(f"{self.where} grew past {MAX_FILE_BYTES // 1024**2} MiB")
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = b"" if final else lines.pop()
        out = []
        for raw in lines:
            self._line += 1
            if raw.strip():
                out.append(self._parse(raw))
        return out

    def _parse(self, raw: bytes) -> Metrics:
        at = f"line {self._line} of {self.where}"
        if len(raw) > MAX_LINE_BYTES:
            raise MetricsError(f"{at} is longer than {MAX_LINE_BYTES // 1024} KiB")
        try:
            value = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise MetricsError(
                f"{at} is not JSON; write one JSON object per line, {_EXAMPLE}"
            ) from None
        return checked_metrics(value, at)


def checked_metrics(value: object, at: str) -> Metrics:
    """``value`` as metrics: an object of finite-or-NaN numbers (booleans refused)."""
    if not isinstance(value, dict):
        raise MetricsError(f"{at} is not a JSON object; {_EXAMPLE}")
    if len(value) > MAX_METRICS:
        raise MetricsError(f"{at} has more than {MAX_METRICS} metrics")
    out: Metrics = {}
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise MetricsError(f"{at}: metric {str(name)[:60]!r} is not a number")
        out[str(name)] = float(number)
    return out


class CsvReader:
    """Reads the rows of a CSV file the program rewrites or appends to (one row per epoch)."""

    def __init__(self, path: Path, where: str) -> None:
        self.path, self.where = path, where
        self._rows = 0

    def poll(self) -> list[Metrics]:
        return self._new(final=False)

    def finish(self) -> list[Metrics]:
        return self._new(final=True)

    def _new(self, final: bool) -> list[Metrics]:
        rows = self._all(final)
        new, self._rows = rows[self._rows :], max(self._rows, len(rows))
        return new

    def _all(self, final: bool) -> list[Metrics]:
        try:
            if self.path.stat().st_size > MAX_FILE_BYTES:
                raise MetricsError(f"{self.where} is larger than {MAX_FILE_BYTES // 1024**2} MiB")
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        if not final and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]  # a row still being written
        rows = list(csv.reader(io.StringIO(text)))
        if len(rows) < 2:
            return []
        names = [n.strip() for n in rows[0]]
        out = []
        for number, row in enumerate(rows[1:], start=1):
            metrics: Metrics = {}
            for name, cell in zip(names, row, strict=False):
                try:
                    metrics[name] = float(cell.strip())
                except ValueError:
                    continue  # a text column (a name, a date)
            if "epoch" not in metrics:
                metrics["epoch"] = float(number)
            out.append(metrics)
        return out


def reader_for(path: Path, where: str) -> MetricsReader:
    """The reader a metrics file's extension calls for."""
    if path.suffix.lower() == ".csv":
        return CsvReader(path, where)
    return JsonLinesReader(path, where)


def epoch_of(metrics: Metrics) -> int | None:
    """The epoch a metrics line reports, if it reports one."""
    epoch = metrics.get("epoch")
    if epoch is None or not math.isfinite(epoch):
        return None
    return int(epoch)
