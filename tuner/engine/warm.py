"""Warm start: the best configs of earlier runs, run first in a new one.

Each earlier run's journal is read with the new run's key (:func:`load_journal`,
as ``load_results`` reads it); its finished trials are ranked by fitness (trials
that ran to the end first; a recorded fitness is higher-is-better whatever the
run's direction), and the top :func:`warm_start_count` distinct configs of all
the runs together are projected onto the new space
(:meth:`~tuner.search.space.SearchSpace.project`). Only configs are taken: the
earlier fitness values were measured on other data, so the optimizer hears only
what the new run measures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.engine.checkpoint import load_journal
from tuner.engine.folder import JOURNAL_FILE, RUN_FILE, journal_start, read_run_info, run_journal
from tuner.errors import ConfigError
from tuner.search.optimizers import point_key
from tuner.search.trial import OK, PRUNED, TrialResult
from tuner.vault.errors import VaultError, WrongKeyError

if TYPE_CHECKING:
    from tuner.search.space import SearchSpace
    from tuner.vault import KeySource

#: The most configs a warm start takes, over all its runs together.
MAX_WARM_CONFIGS = 5


@dataclass(frozen=True)
class WarmStart:
    """The configs taken (points of the new space, best first) and from how many runs."""

    configs: list[dict[str, Any]]
    runs: int


def warm_start_count(budget: int) -> int:
    """How many configs a run of ``budget`` trials takes: a quarter of it, 1 to 5."""
    return max(1, min(MAX_WARM_CONFIGS, budget // 4))


def read_warm_start(
    run_dirs: Sequence[Path], key: KeySource, space: SearchSpace, budget: int
) -> WarmStart:
    """The best configs of the runs in ``run_dirs`` (read with ``key``) as points of ``space``.

    Raises:
        ConfigError: a folder that is not a tuning run's.
        WrongKeyError: ``key`` does not open a run's journal.
        and the errors of :func:`load_journal` (a damaged journal, a missing vault).
    """
    folders = list(dict.fromkeys(Path(d) for d in run_dirs))  # a folder given twice counts once
    trials = [t for folder in folders for t in earlier_trials(folder, key)]
    return WarmStart(warm_configs(trials, space, warm_start_count(budget)), len(folders))


def earlier_trials(run_dir: Path, key: KeySource) -> list[TrialResult]:
    """The finished trials of the run in ``run_dir``, read from its sealed journal."""
    if run_journal(run_dir) is None or read_run_info(run_dir) is None:
        raise ConfigError(
            f"--warm-start {run_dir}: not a hyperseal tuning run folder (no readable {RUN_FILE}"
            f" and {JOURNAL_FILE}); give the folder of an earlier `hyperseal tune` run"
        )
    try:
        records = load_journal(run_dir, key)
    except WrongKeyError:
        raise WrongKeyError(
            f"--warm-start {run_dir}: the key given for the new run does not open this earlier"
            " run; warm start with the key that sealed it (the same --passphrase-file, --key-file"
            " or --identity), or drop this --warm-start"
        ) from None
    except VaultError as exc:  # damaged, truncated, tampered, locked: said in context
        raise _in_context(exc, run_dir) from None
    if journal_start(records) is None:
        raise ConfigError(
            f"--warm-start {run_dir}: its journal does not start like a tuning run's; give the"
            " folder of an earlier `hyperseal tune` run"
        )
    return [TrialResult.from_record(r) for r in records if r.get("type") == "trial"]


def _in_context(exc: VaultError, run_dir: Path) -> VaultError:
    """``exc`` again (same class and exit code), its message naming the ``--warm-start``."""
    message = f"--warm-start {run_dir}: {exc}; or warm start from another earlier run"
    try:
        return type(exc)(message)
    except TypeError:  # a class whose constructor needs more than the message
        error = VaultError(message)
        error.exit_code = exc.exit_code
        return error


def ranked(trials: Iterable[TrialResult]) -> list[TrialResult]:
    """Finished trials best first: those that ran to the end, then pruned ones, each by
    fitness (failed trials and non-finite fitness left out)."""
    done = [t for t in trials if t.status in (OK, PRUNED) and math.isfinite(t.fitness)]
    return sorted(done, key=lambda t: (t.status != OK, -t.fitness))


def warm_configs(trials: Iterable[TrialResult], space: SearchSpace, k: int) -> list[dict[str, Any]]:
    """The configs of the ``k`` best ``trials`` projected onto ``space``, best first; a
    projection equal to the default config or to a better one is skipped."""
    seen = {point_key(space.complete(space.defaults()))}
    configs: list[dict[str, Any]] = []
    for trial in ranked(trials):
        if len(configs) == k:
            break
        point = space.project(trial.params)
        key = point_key(point)
        if key not in seen:
            seen.add(key)
            configs.append(point)
    return configs
