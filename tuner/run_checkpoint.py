"""Moved to :mod:`tuner.engine.checkpoint`; kept while ``tuner.vault.cli`` imports it here."""

from tuner.engine.checkpoint import (
    RunCheckpoint,
    find_run_checkpoint,
    read_run_info,
    read_run_journal,
)

__all__ = ["RunCheckpoint", "find_run_checkpoint", "read_run_info", "read_run_journal"]
