"""Safe loading of released models and of the attacker's training data.

Model files:

* ``.skops``: a scikit-learn estimator (or pipeline) saved with ``skops.io``.
  Only types skops trusts by default plus a short allow-list
  (:data:`TRUSTED_TYPES`) are loaded; anything else is refused, never run.
* ``.npz``: coefficient arrays, read with ``allow_pickle=False``.
* ``.json``: coefficients as numbers and nested lists.

Pickle and joblib files (``.pkl``, ``.pickle``, ``.joblib``…) are refused
outright: loading one runs whatever code its author put in it.

Coefficient files name their learner in a ``learner`` field (or the caller
passes one) and hold the entries that learner documents, e.g. ``coef`` and
``intercept``; :func:`save_coefficients` writes both formats.

Data files are CSV or Parquet with one target column; every other column is a
numeric feature (in the model's ``feature_names_in_`` order when it has one).
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audit.errors import (
    AuditError,
    DataFileError,
    ModelFileError,
    NonFiniteError,
    ShapeMismatchError,
    UnknownLearnerError,
    UnsafeModelError,
)
from tuner.bounded import check_file, check_zip, load_json, too_big

__all__ = [
    "PICKLE_SUFFIXES",
    "TRUSTED_TYPES",
    "LoadedModel",
    "load_data",
    "load_model",
    "save_coefficients",
]

TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        # MLP optimiser state: plain numbers and arrays, no code.
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        # hyperseal's own kernel logistic regression.
        "audit.classical.learners.kernel_logistic.KernelLogisticRegression",
    }
)
"""Types trusted on top of skops' defaults."""

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav", ".dill", ".cloudpickle")
"""Suffixes refused without being opened."""

_PICKLE_MAGIC = (b"\x80",)

MiB = 1 << 20
#: A model file (``.skops``, ``.npz``, ``.json``) as stored on disk.
MAX_MODEL_FILE_BYTES = 64 * MiB
#: What a ``.skops`` or ``.npz`` file may unpack to (declared member sizes and array shapes).
MAX_UNPACKED_BYTES = 64 * MiB  # skops holds a member's bytes and its array at once
#: Members of a ``.skops`` or ``.npz`` zip file.
MAX_ZIP_MEMBERS = 4096
#: A CSV or Parquet data file as stored on disk.
MAX_DATA_BYTES = 32 * MiB
#: Values (rows x columns) of a data file: counted from a CSV's separators or a Parquet
#: file's footer before parsing (each value takes 8 bytes, several times over, once read).
MAX_DATA_CELLS = 4_000_000


@dataclass(frozen=True)
class LoadedModel:
    """A released model as the audit sees it.

    Attributes:
        path: The file read.
        format: ``"skops"``, ``"npz"`` or ``"json"``.
        learner: The learner named in or inferred from the file (``None``: unknown).
        coefficients: Weights and settings for :func:`audit.steal_hyperparameters`
            (empty for a skops estimator until a learner extracts them).
        estimator: The loaded estimator (skops files only).
        declared: Hyperparameters the file stores outright; the file leaks
            these without any attack.
        feature_names: Feature columns the model expects, when it records them.
    """

    path: Path
    format: str
    learner: str | None
    coefficients: dict[str, Any] = field(default_factory=dict)
    estimator: Any = None
    declared: dict[str, float] = field(default_factory=dict)
    feature_names: list[str] | None = None


def load_model(path: str | Path) -> LoadedModel:
    """Load a model file safely (see the module docstring for the formats).

    Raises:
        UnsafeModelError: A pickle/joblib file, a skops file holding untrusted
            types, or an ``.npz`` holding pickled objects.
        ModelFileError: The file is missing, unreadable or of an unknown format.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise UnsafeModelError(
            f"refusing to load {path}: pickle/joblib files run code when loaded; "
            "save the model with skops.io.dump or export its coefficients to .npz"
        )
    _check_file(path, "model file", ".skops, .npz or .json", MAX_MODEL_FILE_BYTES, ModelFileError)
    if suffix in (".skops", ".npz") and zipfile.is_zipfile(path):
        check_zip(
            path,
            max_members=MAX_ZIP_MEMBERS,
            max_bytes=MAX_UNPACKED_BYTES,
            what="the model file",
            error=ModelFileError,
        )
    with path.open("rb") as fh:
        head = fh.read(2)
    if head[:1] in _PICKLE_MAGIC:
        raise UnsafeModelError(
            f"refusing to load {path}: it is a pickle stream whatever its name; "
            "save the model with skops.io.dump or export its coefficients to .npz"
        )
    if suffix == ".skops":
        return _load_skops(path)
    if suffix == ".npz":
        return _load_npz(path)
    if suffix == ".json":
        return _load_json(path)
    raise ModelFileError(
        f"unknown model format '{suffix or path.name}' for {path}; "
        "use .skops (scikit-learn), .npz or .json (coefficients)"
    )


def _load_skops(path: Path) -> LoadedModel:
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"cannot read {path} as a skops file ({type(exc).__name__}); re-export it "
            "with skops.io.dump"
        ) from None
    refused = sorted(set(untrusted) - TRUSTED_TYPES)
    if refused:
        raise UnsafeModelError(
            f"refusing to load {path}: it holds types not on the trusted list "
            f"({', '.join(refused[:5])}); export the coefficients to .npz instead"
        )
    try:
        estimator = sio.load(path, trusted=sorted(untrusted))
    except Exception as exc:  # skops raises many kinds on malformed content
        raise ModelFileError(
            f"cannot load {path} with skops ({type(exc).__name__}: {exc}); "
            "re-export it with skops.io.dump"
        ) from None
    from audit.classical.learners import learner_for
    from audit.classical.steal import final_step

    final = final_step(estimator)
    try:
        lrn = learner_for(final)
    except UnknownLearnerError:
        lrn = None
    names = getattr(estimator, "feature_names_in_", None)
    return LoadedModel(
        path=path,
        format="skops",
        learner=lrn.name if lrn is not None else None,
        estimator=estimator,
        declared=lrn.declared(final) if lrn is not None else {},
        feature_names=[str(n) for n in names] if names is not None else None,
    )


def _from_mapping(path: Path, fmt: str, raw: Mapping[str, Any]) -> LoadedModel:
    coefs = dict(raw)
    learner = coefs.pop("learner", None)
    if learner is not None:
        learner = str(np.asarray(learner).reshape(-1)[0]) if np.ndim(learner) else str(learner)
    names = coefs.pop("feature_names", None)
    declared: dict[str, float] = {}
    for key in ("alpha", "C", "l1_ratio", "weight_decay"):
        if key in coefs:
            with contextlib.suppress(TypeError, ValueError):
                declared[key] = float(np.asarray(coefs.pop(key)).reshape(-1)[0])
    return LoadedModel(
        path=path,
        format=fmt,
        learner=learner,
        coefficients=coefs,
        declared=declared,
        feature_names=[str(n) for n in np.asarray(names).reshape(-1)]
        if names is not None
        else None,
    )


def _load_npz(path: Path) -> LoadedModel:
    try:
        with np.load(path, allow_pickle=False) as data:
            raw = {key: data[key] for key in data.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise UnsafeModelError(
                f"refusing to load {path}: it holds pickled object arrays; "
                "store plain numeric or string arrays only"
            ) from None
        raise ModelFileError(f"cannot read {path} as .npz ({exc}); re-export it") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(f"cannot read {path} as .npz ({exc}); re-export it") from None
    out = {}
    for key, value in raw.items():
        out[key] = value.item() if value.ndim == 0 and value.dtype.kind in "biufU" else value
    return _from_mapping(path, "npz", out)


def _load_json(path: Path) -> LoadedModel:
    raw = load_json(path, MAX_MODEL_FILE_BYTES, "the model file", ModelFileError)
    if not isinstance(raw, dict):
        raise ModelFileError(f"{path} holds a JSON {type(raw).__name__}, expected an object")
    out = {k: (_json_array(path, k, v) if isinstance(v, list) else v) for k, v in raw.items()}
    return _from_mapping(path, "json", out)


def _json_array(path: Path, name: str, value: list[Any]) -> np.ndarray:
    """The JSON list ``value`` of field ``name`` as an array; ragged nesting is refused."""
    try:
        return np.asarray(value)
    except ValueError:
        raise ModelFileError(
            f"{path}: field '{name}' is a ragged list (rows of different lengths); "
            "give a flat list or equal-length rows"
        ) from None


def save_coefficients(
    path: str | Path,
    learner: str,
    coefficients: Mapping[str, Any],
    *,
    feature_names: Sequence[str] | None = None,
) -> Path:
    """Write coefficients to ``.npz`` or ``.json`` (by suffix), named with their learner.

    Only numbers, strings, booleans, ``None`` and arrays of them are written.
    """
    path = Path(path)
    payload: dict[str, Any] = {"learner": learner, **dict(coefficients)}
    if feature_names is not None:
        payload["feature_names"] = list(feature_names)
    if path.suffix.lower() == ".npz":
        arrays = {}
        for key, value in payload.items():
            if value is None:
                continue
            arr = np.asarray(value)
            if arr.dtype == object:
                arr = arr.astype(str)
            arrays[key] = arr
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        data = buffer.getvalue()
    elif path.suffix.lower() == ".json":
        data = json.dumps(payload, default=_json_default).encode("utf-8")
    else:
        raise ModelFileError(f"cannot write coefficients to {path}; use a .npz or .json name")
    from tuner.vault.atomic import atomic_write

    atomic_write(path, data, error=ModelFileError)
    return path


def _check_csv(path: Path) -> None:
    """Refuse a CSV file with more than :data:`MAX_DATA_CELLS` values (separators counted
    in chunks before pandas parses it; a quoted comma counts too)."""
    cells = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            cells += chunk.count(b",") + chunk.count(b"\n")
    if cells > MAX_DATA_CELLS:
        raise DataFileError(
            f"{path}: the data file holds about {cells} values, over the limit of "
            f"{MAX_DATA_CELLS}; check that this is the right file"
        )


def _check_parquet(path: Path) -> None:
    """Refuse a Parquet file whose footer declares more than :data:`MAX_DATA_CELLS` values
    or :data:`MAX_UNPACKED_BYTES` of decompressed pages (compression hides its real size)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    cells = meta.num_rows * meta.num_columns
    if cells > MAX_DATA_CELLS:
        raise DataFileError(
            f"{path}: the data file holds {meta.num_rows} rows x {meta.num_columns} columns, "
            f"over the limit of {MAX_DATA_CELLS} values; check that this is the right file"
        )
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if unpacked > MAX_UNPACKED_BYTES:
        raise DataFileError(too_big(path, "the data file (unpacked)", unpacked, MAX_UNPACKED_BYTES))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.generic,)):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def load_data(
    path: str | Path, target: str, *, feature_names: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read training data: ``(X, y, feature names)`` from a CSV or Parquet file.

    Args:
        path: A ``.csv`` or ``.parquet`` file.
        target: The target column.
        feature_names: The model's feature columns, in order; by default every
            column but the target, in file order.

    Raises:
        DataFileError: Unreadable file, unknown format, no such target column,
            or non-numeric feature columns.
        ShapeMismatchError: A feature column the model expects is missing.
        NonFiniteError: Missing values or infinities in the features or target.
    """
    path = Path(path)
    frame = _read_frame(path)
    if target not in frame.columns:
        raise DataFileError(
            f"{path} has no target column '{target}'; columns are: "
            f"{', '.join(list(frame.columns)[:12])}"
        )
    columns = _feature_columns(path, frame, target, feature_names)
    return _features(path, frame, columns), _target(path, frame, target), columns


def _check_file(path: Path, what: str, formats: str, limit: int, error: type[AuditError]) -> None:
    """Refuse a folder, a missing file, or one over ``limit`` bytes, as ``error``."""
    if path.is_dir():
        raise error(f"{what} {path} is a folder, not a file; pass the {formats} file")
    if not path.exists():
        raise error(f"{what} {path} does not exist; check the path")
    check_file(path, limit, f"the {what}", error)


def _read_frame(path: Path) -> Any:
    """The data file as a DataFrame with string column names, its size checked first."""
    import pandas as pd

    _check_file(path, "data file", ".csv or .parquet", MAX_DATA_BYTES, DataFileError)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            _check_csv(path)
            frame = pd.read_csv(path)
        elif suffix in (".parquet", ".pq"):
            _check_parquet(path)
            frame = pd.read_parquet(path)
        else:
            raise DataFileError(
                f"unknown data format '{suffix or path.name}' for {path}; use .csv or .parquet"
            )
    except DataFileError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many kinds on bad files
        raise DataFileError(f"cannot read {path} ({type(exc).__name__}); check the file") from None
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _feature_columns(
    path: Path, frame: Any, target: str, feature_names: Sequence[str] | None
) -> list[str]:
    """The model's feature columns, all present; by default every column but the target."""
    if feature_names is not None:
        if target in feature_names:
            raise DataFileError(
                f"target column '{target}' of {path} is one of the model's input features; "
                "pass the column the model predicts as --target"
            )
        missing = [c for c in feature_names if c not in frame.columns]
        if missing:
            raise ShapeMismatchError(
                f"{path} lacks feature column(s) {', '.join(missing[:5])} the model was "
                "trained on; pass the model's training data"
            )
        columns = list(feature_names)
    else:
        columns = [c for c in frame.columns if c != target]
    if not columns:
        raise DataFileError(f"{path} has no feature columns besides '{target}'")
    return columns


def _features(path: Path, frame: Any, columns: list[str]) -> np.ndarray:
    """The feature matrix: numeric columns, every value finite."""
    import pandas as pd

    features = frame[columns]
    bad = [c for c in columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise DataFileError(
            f"{path}: feature column(s) {', '.join(bad[:5])} are not numeric; encode them first"
        )
    X = features.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(X)):
        rows, cols = np.nonzero(~np.isfinite(X))
        raise NonFiniteError(
            f"{path}: {len(rows)} missing or infinite feature value(s), first in column "
            f"'{columns[cols[0]]}' row {rows[0]}; clean the data first"
        )
    return X


def _target(path: Path, frame: Any, target: str) -> np.ndarray:
    """The target column: no missing or infinite value; text labels as ``str``."""
    import pandas as pd

    y = frame[target].to_numpy()
    if pd.isna(frame[target]).any():
        raise NonFiniteError(f"{path}: the target column '{target}' has missing values")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise NonFiniteError(f"{path}: the target column '{target}' has infinite values")
    if y.dtype == object:
        y = y.astype(str)
    return y
