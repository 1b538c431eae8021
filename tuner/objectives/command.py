"""A command as the objective: one process per trial, its config in a private file.

The protocol (docs/tuning.md, "Tuning a command"):

- The trial runs in a fresh private working folder (0700), removed afterwards.
- Its config is a 0600 file there, ``config.json`` (or ``config.yaml`` when the
  command says ``{config.yaml}``); ``{config}`` / ``{config.yaml}`` in the command
  become its path, which is also in ``$HYPERSEAL_CONFIG``. No value is ever on argv.
  ``{trial_dir}`` becomes the working folder's path (``$HYPERSEAL_TRIAL_DIR``).
- The program appends JSON lines to ``$HYPERSEAL_METRICS`` (or writes the
  ``--metrics-file`` hyperseal reads): lines with an ``epoch`` are epoch reports
  that pruning judges; the last line is the result.
- Exit code 0 is success; anything else is a failed trial whose reason is the
  last lines of stderr, numbers and the trial's text values masked.
- A pruned or timed-out trial's process group gets SIGTERM, then SIGKILL after
  the grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner.errors import ConfigError
from tuner.objectives.metrics import MetricsReader, epoch_of, reader_for
from tuner.objectives.workdir import new_trial_dir, remove
from tuner.search.trial import TrialContext, TrialPruned, masked_reason

CONFIG_PLACEHOLDERS = {"{config}": "json", "{config.json}": "json", "{config.yaml}": "yaml"}
TRIAL_DIR_PLACEHOLDER = "{trial_dir}"
#: Variables set for the program.
CONFIG_VARIABLE = "HYPERSEAL_CONFIG"
METRICS_VARIABLE = "HYPERSEAL_METRICS"
TRIAL_VARIABLE = "HYPERSEAL_TRIAL"
TRIAL_DIR_VARIABLE = "HYPERSEAL_TRIAL_DIR"
DEVICE_VARIABLE = "HYPERSEAL_DEVICE"
#: Never inherited by the program.
SECRET_VARIABLES = ("HYPERSEAL_PASSPHRASE", "HYPERSEAL_NEW_PASSPHRASE")
STDERR_LINES = 5


class CommandFailedError(RuntimeError):
    """The program exited with a non-zero code (its masked stderr tail is the message)."""


class TrialTimeoutError(RuntimeError):
    """The program ran past the trial timeout and was stopped."""


@dataclass(frozen=True)
class CommandObjective:
    """Run ``argv`` (with its config placeholder) once per trial; picklable.

    Args:
        argv: The command's words; relative paths already made absolute.
        metrics_file: A file the program writes, relative to the trial folder
            (``.csv`` or JSON lines); None: ``$HYPERSEAL_METRICS`` only.
        artifacts: Files or folders (relative to the trial folder) kept as ``best/``.
        timeout: Seconds a trial may run (None: no limit).
        grace: Seconds between SIGTERM and SIGKILL.
    """

    argv: tuple[str, ...]
    metrics_file: str | None = None
    artifacts: tuple[str, ...] = ()
    timeout: float | None = None
    grace: float = 10.0
    poll_seconds: float = 0.2

    @property
    def config_format(self) -> str:
        for word in self.argv:
            for placeholder, kind in CONFIG_PLACEHOLDERS.items():
                if placeholder in word:
                    return kind
        return "json"

    def __call__(self, params: dict[str, Any], trial: TrialContext) -> dict[str, float]:
        workdir = new_trial_dir(trial.number)
        trial.workdir = str(workdir)
        try:
            return self._run(params, trial, workdir)
        finally:
            remove(workdir)

    def _run(self, params: dict[str, Any], trial: TrialContext, workdir: Path) -> dict[str, float]:
        from tuner.objectives.artifacts import pack
        from tuner.vault.atomic import open_new

        config = workdir / f"config.{self.config_format}"
        _write_config(config, params, self.config_format)
        metrics_path = workdir / "metrics.jsonl"
        _write_private(metrics_path, b"")
        readers: list[MetricsReader] = [reader_for(metrics_path, f"${METRICS_VARIABLE}")]
        if self.metrics_file:
            readers.append(
                reader_for(workdir / self.metrics_file, f"--metrics-file {self.metrics_file}")
            )
        env = _environment(trial, config, metrics_path, workdir)
        argv = [_substitute(word, str(config), str(workdir)) for word in self.argv]
        stderr_path = workdir / "stderr.log"
        with open_new(workdir / "stdout.log") as out, open_new(stderr_path) as err:
            process = subprocess.Popen(
                argv,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
            try:
                last, stopped = self._watch(process, readers, trial)
            finally:
                _stop(process, self.grace)
        if stopped == "timeout":
            raise TrialTimeoutError(f"the command ran past the {self.timeout:g} s trial timeout")
        if stopped == "pruned":
            if last is None:
                raise TrialPruned
            return last
        if process.returncode != 0:
            raise CommandFailedError(_failure(process.returncode, stderr_path, params))
        if last is None:
            raise CommandFailedError(
                f"the command exited with 0 but reported no metrics: append a JSON line to"
                f" ${METRICS_VARIABLE}"
                + (f" or write {self.metrics_file}" if self.metrics_file else "")
            )
        if self.artifacts:
            trial.artifacts["files"] = pack(self.artifacts, workdir)
        return last

    def _watch(
        self, process: subprocess.Popen[bytes], readers: list[MetricsReader], trial: TrialContext
    ) -> tuple[dict[str, float] | None, str | None]:
        """Follow the program until it exits, is pruned or times out; the last metrics."""
        started = time.monotonic()
        last: dict[str, float] | None = None
        while True:
            done = process.poll() is not None
            for reader in readers:
                for metrics in reader.finish() if done else reader.poll():
                    last = {k: v for k, v in metrics.items() if k != "epoch"}
                    epoch = epoch_of(metrics)
                    if epoch is not None and not done and trial.report(epoch, last):
                        return last, "pruned"
                    if epoch is not None and done:  # recorded; it ran to the end regardless
                        pruned = trial.pruned
                        trial.report(epoch, last)
                        trial.pruned = pruned
            if done:
                return last, None
            if self.timeout is not None and time.monotonic() - started > self.timeout:
                return last, "timeout"
            time.sleep(self.poll_seconds)


def _substitute(word: str, config: str, workdir: str) -> str:
    for placeholder in CONFIG_PLACEHOLDERS:
        word = word.replace(placeholder, config)
    return word.replace(TRIAL_DIR_PLACEHOLDER, workdir)


def _write_private(path: Path, data: bytes) -> None:
    from tuner.errors import OutputError
    from tuner.vault.atomic import atomic_write

    atomic_write(path, data, error=OutputError, durable=False)


def _write_config(path: Path, params: dict[str, Any], kind: str) -> None:
    if kind == "yaml":
        import yaml

        text = yaml.safe_dump(params, sort_keys=False)
    else:
        text = json.dumps(params, indent=2) + "\n"
    _write_private(path, text.encode("utf-8"))


def _environment(trial: TrialContext, config: Path, metrics: Path, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}
    env.update(
        {
            CONFIG_VARIABLE: str(config),
            METRICS_VARIABLE: str(metrics),
            TRIAL_VARIABLE: str(trial.number),
            TRIAL_DIR_VARIABLE: str(workdir),
            DEVICE_VARIABLE: trial.device,
        }
    )
    return env


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """Stop the program's whole process group: SIGTERM, then SIGKILL after ``grace`` s."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    _signal_group(process.pid, signal.SIGKILL)  # children left behind by the program
    process.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _failure(code: int, stderr: Path, params: dict[str, Any]) -> str:
    """``command exited with code N: <last stderr lines>``, numbers and text values masked."""
    try:
        with open(stderr, "rb") as handle:
            handle.seek(max(0, stderr.stat().st_size - 8192))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        tail = ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()][-STDERR_LINES:]
    text = " | ".join(lines)
    for value in params.values():
        if isinstance(value, str) and len(value) > 2:
            text = text.replace(value, "…")
    reason = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
    return f"command {reason}" + (f": {masked_reason(text)[:600]}" if text else "")


def resolve_command(command: str) -> tuple[str, ...]:
    """Split ``command`` into words; the program and every word naming an existing file
    (relative to this folder) become absolute paths, since trials run elsewhere.

    Raises:
        ConfigError: the command is empty, cannot be split, or its program is not found.
    """
    import shlex

    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(
            f"--command cannot be split into words ({exc}); check its quotes"
        ) from None
    if not words:
        raise ConfigError("--command is empty; e.g. --command 'python train.py --config {config}'")
    program = words[0]
    if os.sep in program:
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            raise ConfigError(
                f"--command: program {program!r} is not an executable file; check the path"
            )
        words[0] = os.path.abspath(program)
    else:
        found = shutil.which(program)
        if found is None:
            raise ConfigError(
                f"--command: program {program!r} was not found on PATH; install it or give its path"
            )
    for i, word in enumerate(words[1:], start=1):
        if not word.startswith("-") and "{" not in word and os.path.exists(word):
            words[i] = os.path.abspath(word)
    return tuple(words)
