"""What every run is given besides its objective, and the checks made before any work.

:class:`RunOptions` holds the settings a detector run (:class:`tuner.tune.TuneOptions`)
and a run of your own code (:class:`tuner.objectives.ObjectiveOptions`) share: the
search settings, where trials run and where the results go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.engine.folder import VAULT_FILE
from tuner.errors import ConfigError
from tuner.outputs import folder_name
from tuner.search.study import StudySettings

if TYPE_CHECKING:
    from tuner.search.space import SearchSpace
    from tuner.vault import KeySource


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """The non-secret settings every run has (keyword-only in the options classes).

    Args:
        epochs: Epochs of a full trial (the pruner's rungs; fixed in a detector's space).
        settings: Optimizer, budget, fitness, direction, pruning, freezing (default: those
            of ``hyperseal tune``, 20 trials).
        workers: Trials run at once.
        executor: ``local``, ``dask-local`` or ``dask://HOST:PORT``.
        device: Where trials run: ``auto`` (CUDA when present), ``cpu``, ``cuda``
            (every GPU) or ``cuda:N``.
        vault: Vault file for the best config (default ``RUN_DIR/vault.hsv``).
        entry: Vault entry name (default: the run folder's name).
        export: Also write the best config and the trial table in plaintext.
        warm_start: Earlier run folders whose best configs run first (``--warm-start``):
            read with the new run's key, projected onto its space, sealed in its journal.
    """

    epochs: int = 4
    settings: StudySettings = field(default_factory=lambda: StudySettings(budget=20))
    workers: int = 1
    executor: str = "local"
    device: str = "auto"
    vault: Path | None = None
    entry: str | None = None
    export: bool = False
    warm_start: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        folders = self.warm_start
        if isinstance(folders, (str, Path)):  # one folder given alone
            folders = (folders,)
        object.__setattr__(self, "warm_start", tuple(Path(f) for f in folders))

    def run_record(self) -> dict[str, Any]:
        """These fields as the journal's objective record stores them (no ``settings``:
        the journal's ``run`` record holds those; no ``warm_start``: its configs are in
        the settings, and a resume does not read the earlier runs again)."""
        return {
            "epochs": self.epochs,
            "workers": self.workers,
            "executor": self.executor,
            "device": self.device,
            "vault": str(self.vault) if self.vault else None,
            "entry": self.entry,
            "export": self.export,
        }

    @staticmethod
    def from_run_record(record: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments :meth:`run_record` stored, for an options class."""
        return {
            "epochs": int(record.get("epochs", 4)),
            "workers": int(record["workers"]),
            "executor": str(record["executor"]),
            "device": str(record.get("device", "cpu")),
            "vault": Path(record["vault"]) if record.get("vault") else None,
            "entry": record.get("entry"),
            "export": bool(record.get("export")),
        }


def check_epochs(epochs: int) -> None:
    """A full trial has at least one epoch."""
    if epochs < 1:
        raise ConfigError("--epochs must be 1 or more")


def check_run_options(options: Any, space: SearchSpace) -> None:
    """Check what every run has: pruner, workers, optimizer, executor (and devices).

    Raises:
        ConfigError: the first problem found, in one line.
    """
    from tuner.search.executors import check_executor, slot_devices
    from tuner.search.optimizers import check_optimizer
    from tuner.search.pruning import Pruner

    s = options.settings
    Pruner(s.pruner, s.max_epochs, s.reduction, s.min_epochs)
    if options.workers < 1:
        raise ConfigError("--workers must be 1 or more")
    trials_per_gpu = getattr(options, "trials_per_gpu", 1)
    if trials_per_gpu < 1:
        raise ConfigError("--trials-per-gpu must be 1 or more")
    parametrization = space.parametrization(seed=s.seed)
    check_optimizer(s.optimizer, parametrization, s.budget, options.workers, s.optimizer_options)
    slot_devices(options.workers, trials_per_gpu, options.device)
    check_executor(options.executor)


def check_destination(
    vault: Path | None, entry: str | None, run_dir: Path, key: KeySource | None
) -> tuple[Path, str]:
    """Where a new run's best config goes: ``(vault, entry)``, checked before any work.

    The entry must be a valid name the vault (when it exists) does not hold yet, opening
    an existing vault checks ``key``, and a new vault's folder must exist. With ``key``
    None, only what needs no key is checked (the name, the folder).

    Raises:
        ConfigError: a bad or taken entry name, or no folder for a new ``--vault``.
        and the vault's errors (a wrong key, a damaged vault).
    """
    vault_path = Path(vault) if vault else Path(run_dir) / VAULT_FILE
    entry = entry or folder_name(run_dir)
    if vault and not vault_path.exists() and not vault_path.parent.is_dir():
        raise ConfigError(
            f"--vault {vault_path}: there is no folder {vault_path.parent} to create it in;"
            " create the folder or choose another --vault"
        )
    _check_new_entry(vault_path, entry, key)
    return vault_path, entry


def _check_new_entry(vault_path: Path, entry: str, key: KeySource | None) -> None:
    """A new run's entry: a valid name, and not one the vault (when it exists) already holds.

    Opening an existing vault here also checks the key before anything is written.
    """
    from tuner.vault import Vault
    from tuner.vault.codec import NAME_RE, NAME_RULE

    if NAME_RE.fullmatch(entry) is None:
        raise ConfigError(
            f"vault entry name {entry!r} (--entry, default the run folder's name) is not valid:"
            f" use {NAME_RULE}"
        )
    if key is None or not vault_path.exists():
        return
    vault = Vault.open(vault_path, key)
    if vault.can_read and entry in vault:
        raise ConfigError(
            f"vault {vault_path} already has an entry {entry!r}; pick another --entry"
            " (or --resume the run that wrote it)"
        )
