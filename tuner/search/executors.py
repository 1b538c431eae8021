"""Where trials run: in this process, in local worker processes, or on a Dask cluster.

Every executor takes ``(objective, task)`` pairs and hands back
:class:`TrialResult` objects; the driver never sends a key to a worker, and no
worker starts with a passphrase in its environment (:mod:`tuner.secret_env`).
``make_executor`` reads the ``--executor`` value:

- ``local`` (default): this process for one worker, a pool of spawned
  processes for several;
- ``dask-local``: a Dask ``LocalCluster`` with one single-threaded process per worker;
- ``tls://HOST:PORT``: an existing Dask scheduler over TLS, with the certificates of
  Dask's own configuration (``distributed.comm.tls.*``);
- ``dask://HOST:PORT``: the same over TLS when Dask's configuration names certificates,
  else plain TCP;
- ``tcp://HOST:PORT``: plain TCP.

Plain TCP carries every trial's config (the recipe) and every result (the weights) in the
clear: it is refused for a scheduler that is not on this machine unless
``$HYPERSEAL_ALLOW_PLAINTEXT_CLUSTER=1`` says the network is trusted, and then warned about
(:class:`PlaintextClusterWarning`).
"""

from __future__ import annotations

import ipaddress
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager, suppress
from typing import Any, Protocol

from tuner import secret_env
from tuner.errors import ConfigError
from tuner.search.trial import Objective, TrialResult, TrialTask, run_trial


class Executor(Protocol):
    """Runs trials somewhere; ``slots`` is how many run at once."""

    slots: int
    name: str

    def submit(self, objective: Objective, task: TrialTask) -> Any: ...

    def wait_first(self, handles: list[Any]) -> list[Any]: ...

    def result(self, handle: Any) -> TrialResult: ...

    def shutdown(self, cancel: bool = False) -> None: ...


class InlineExecutor:
    """Runs each trial in this process when submitted (one slot)."""

    slots = 1
    name = "inline"

    def __init__(self) -> None:
        # The trials run here: whatever they start (a training command) starts without a
        # secret this command was given but has not read (it used a key file, say).
        secret_env.scrub()

    def submit(self, objective: Objective, task: TrialTask) -> Future:
        future: Future = Future()
        future.set_result(run_trial(objective, task))
        return future

    def wait_first(self, handles: list[Future]) -> list[Future]:
        return [h for h in handles if h.done()]

    def result(self, handle: Future) -> TrialResult:
        return handle.result()

    def shutdown(self, cancel: bool = False) -> None:
        return None


def exit_with_parent(parent: int, every: float = 1.0) -> None:
    """Make this worker process exit once ``parent`` is gone (checked every ``every`` s).

    A driver killed outright (SIGKILL, the OOM killer) cannot shut its pool down, and its
    spawned workers would wait for work for ever; a daemon thread watches the parent instead.
    """
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def start_pool_worker(parent: int) -> None:
    """Initializer of a local pool worker: no secret in its environment (its parent took
    them out before starting it; this catches one set by other means), and exit with
    ``parent``."""
    secret_env.drop_in_worker()
    exit_with_parent(parent)


class ProcessExecutor:
    """A pool of spawned local processes, one trial each at a time."""

    name = "local processes"

    def __init__(self, workers: int) -> None:
        import multiprocessing

        self.slots = workers
        # Spawned workers start with this process's environment (multiprocessing has no
        # other): the secrets leave it first, so no worker ever holds one.
        secret_env.scrub()
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=start_pool_worker,
            initargs=(os.getpid(),),
        )

    def submit(self, objective: Objective, task: TrialTask) -> Future:
        return self._pool.submit(run_trial, objective, task)

    def wait_first(self, handles: list[Future]) -> list[Future]:
        done, _ = wait_futures(handles, return_when=FIRST_COMPLETED)
        return [h for h in handles if h in done]

    def result(self, handle: Future) -> TrialResult:
        return handle.result()

    def shutdown(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


#: Dask settings of the local cluster hyperseal starts (an existing cluster keeps its own).
#: Trials are long, CPU-bound tasks, and every cycle the cluster's own timers take is a cycle
#: a trial waits for on a machine with as many cores as workers: the worker's sampling
#: profiler (every 10 ms, for a dashboard hyperseal does not start) and the GIL monitor are
#: off, and the event loops' health checks (every 20 ms), system statistics (500 ms) and the
#: nannies' memory checks (100 ms) run less often. On 2 cores with 2 workers the cluster's
#: own threads used about 1 CPU-second per 8-second search with Dask's defaults, about 0.2
#: with these (docs/benchmarks.md, Parallel scaling).
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "500ms",
}


class DaskExecutor:
    """Trials as tasks on a Dask cluster (an existing scheduler, or a local cluster).

    ``security`` (a ``distributed.Security``) is for a ``tls://`` scheduler from Python;
    without it, the certificates of Dask's configuration are used (:func:`tls_security`).
    """

    def __init__(self, address: str | None, workers: int, security: Any = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError(
                "the Dask executor needs dask[distributed]: pip install 'hyperseal[dask]'"
            ) from None
        self._cluster = None
        secret_env.scrub()  # the cluster's processes start with this environment
        if address is None:
            import dask

            with dask.config.set(LOCAL_CLUSTER_CONFIG):  # read as each part starts
                try:
                    self._cluster = LocalCluster(
                        n_workers=workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                    )
                except Exception as exc:  # e.g. workers that re-ran a script with no main guard
                    raise ConfigError(
                        f"could not start a Dask local cluster ({type(exc).__name__}: {exc});"
                        " from Python, call tune_run under if __name__ == '__main__':"
                    ) from None
                self._client = Client(self._cluster)
            self.name = f"Dask local cluster ({workers} workers)"
        else:
            if security is None and address.startswith("tls://"):
                security = tls_security(address)
            try:
                self._client = Client(address, timeout=10, security=security)
            except OSError:
                how = (
                    "; with TLS, also that its certificate is signed by your CA"
                    " (distributed.comm.tls.ca-file)"
                    if security is not None
                    else ""
                )
                raise ConfigError(
                    f"cannot reach the Dask scheduler at {address}; check the address and that "
                    f"it is running{how}"
                ) from None
            self.name = f"Dask scheduler {address}"
            self._warn_of_secrets_on_workers()
        self.slots = workers

    def _warn_of_secrets_on_workers(self) -> None:
        """A warning when a worker of an existing cluster holds a passphrase in its
        environment: hyperseal never sends one, so it was given by whoever started it."""
        try:
            found = self._client.run(secret_env.present)
        except Exception:  # a worker without hyperseal fails its trials with a clear reason
            return
        holders = sorted(worker for worker, names in found.items() if names)
        if holders:
            names = sorted({n for worker in holders for n in found[worker]})
            warnings.warn(
                f"Dask workers {', '.join(holders)} have {', '.join(names)} in their"
                " environment; workers never need a passphrase: start them without it",
                SecretOnWorkerWarning,
                stacklevel=3,
            )

    def submit(self, objective: Objective, task: TrialTask) -> Any:
        return self._client.submit(run_trial, objective, task, pure=False)

    def wait_first(self, handles: list[Any]) -> list[Any]:
        from distributed import wait

        done, _ = wait(handles, return_when="FIRST_COMPLETED")
        return [h for h in handles if h in done]

    def result(self, handle: Any) -> TrialResult:
        return handle.result()

    def shutdown(self, cancel: bool = False) -> None:
        if self._cluster is not None:
            # While a local cluster closes, a worker's heartbeat can race the scheduler's exit
            # and log a traceback after the search has finished; the cluster is ours, so its
            # worker processes go quiet first. (The scheduler and nannies live in this process,
            # whose logging is the caller's; an existing cluster's logs are its owner's.)
            with suppress(Exception):
                self._client.run(quiet_dask_logs)
        self._client.close()
        if self._cluster is not None:
            # On a loaded machine a worker can take longer than the nanny waits to exit, and
            # the nanny warns as it kills it; the search is over and the kill is what closing
            # means, so that warning stays out of the caller's log (for this close only).
            with _logger_quiet("distributed.nanny"):
                self._cluster.close()


@contextmanager
def _logger_quiet(name: str) -> Iterator[None]:
    """Silence logger ``name`` for the duration, then restore its level."""
    import logging

    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def quiet_dask_logs() -> None:
    """Silence every ``distributed`` logger of this process (run on a closing cluster's
    workers)."""
    import logging

    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "distributed"]
    for name in ["distributed", *names]:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


class PlaintextClusterWarning(UserWarning):
    """Trials go to a Dask scheduler on another machine over plain TCP (the user opted in)."""


class SecretOnWorkerWarning(UserWarning):
    """A worker of an existing Dask cluster holds a passphrase in its environment."""


#: ``--executor`` values that need no address.
LOCAL_EXECUTORS = ("local", "auto", "inline", "processes", "dask-local")
_DASK_PREFIXES = ("dask://", "tcp://", "tls://")
#: Set to 1 to let trials go to a scheduler on another machine over plain TCP.
PLAINTEXT_OPT_IN = "HYPERSEAL_ALLOW_PLAINTEXT_CLUSTER"
#: The Dask settings that give a client its TLS certificates.
TLS_SETTINGS = (
    "distributed.comm.tls.ca-file",
    "distributed.comm.tls.client.cert",
    "distributed.comm.tls.client.key",
)


def check_executor(spec: str) -> str | None:
    """Validate an ``--executor`` value; the scheduler's ``tls://`` or ``tcp://HOST:PORT``,
    or None if local.

    Raises:
        ConfigError: An unknown executor, a Dask address that is not HOST:PORT, or plain
            TCP to another machine without ``$HYPERSEAL_ALLOW_PLAINTEXT_CLUSTER=1``.
    """
    if spec in LOCAL_EXECUTORS:
        return None
    for prefix in _DASK_PREFIXES:
        if spec.startswith(prefix):
            address = _host_port(spec, spec[len(prefix) :])
            tls = prefix == "tls://" or (prefix == "dask://" and _tls_configured())
            if tls:
                return "tls://" + address
            if not _is_loopback(address) and not _plaintext_allowed():
                raise ConfigError(
                    f"--executor {spec}: plain TCP to another machine would send every trial's"
                    " config (the recipe) and its weights over the network in the clear; use"
                    f" tls://{address} with certificates in Dask's configuration"
                    " (docs/tuning.md, Dask over TLS), or, on a network you trust, set"
                    f" {PLAINTEXT_OPT_IN}=1"
                )
            return "tcp://" + address
    raise ConfigError(
        f"unknown executor {spec!r}; use local, dask-local, tls://HOST:PORT or dask://HOST:PORT"
    )


def plaintext_remote(address: str) -> bool:
    """Whether ``address`` (from :func:`check_executor`) is plain TCP to another machine."""
    return address.startswith("tcp://") and not _is_loopback(address[len("tcp://") :])


def _is_loopback(address: str) -> bool:
    """Whether ``HOST:PORT`` names this machine (``localhost`` or a loopback IP)."""
    host = address.rpartition(":")[0].strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _plaintext_allowed() -> bool:
    return os.environ.get(PLAINTEXT_OPT_IN, "").strip().lower() in ("1", "yes", "true")


def _tls_configured() -> bool:
    """Whether Dask's configuration names a CA and a client certificate."""
    try:
        import dask
    except ImportError:
        return False
    return all(dask.config.get(name, None) for name in TLS_SETTINGS[:2])


def tls_security(address: str) -> Any:
    """The ``distributed.Security`` for a ``tls://`` address, from Dask's configuration
    (``distributed.comm.tls.*``, e.g. ``DASK_DISTRIBUTED__COMM__TLS__CA_FILE``), with
    encryption required on every connection.

    Raises:
        ConfigError: no CA or client certificate configured, or a file that does not exist.
    """
    from distributed import Security

    security = Security(require_encryption=True)
    given = {
        TLS_SETTINGS[0]: security.tls_ca_file,
        TLS_SETTINGS[1]: security.tls_client_cert,
        TLS_SETTINGS[2]: security.tls_client_key,
    }
    for name, value in list(given.items())[:2]:
        if not value:
            raise ConfigError(
                f"--executor {address}: Dask's configuration names no TLS certificates ({name}"
                f" is not set); set {', '.join(TLS_SETTINGS)} in ~/.config/dask/*.yaml or as"
                " DASK_DISTRIBUTED__COMM__TLS__CA_FILE and so on (docs/tuning.md, Dask over TLS)"
            )
    for name, value in given.items():
        if value and "-----BEGIN" not in value and not os.path.isfile(value):
            raise ConfigError(f"--executor {address}: {name} names {value}: no such file")
    return security


def _host_port(spec: str, address: str) -> str:
    """``address`` checked to be ``HOST:PORT`` (a port from 1 to 65535)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"--executor {spec!r}: the scheduler address must be HOST:PORT with a port"
            " from 1 to 65535, e.g. dask://127.0.0.1:8786"
        )
    return address


def make_executor(spec: str, workers: int) -> Executor:
    """The executor an ``--executor`` value names, with ``workers`` slots."""
    if workers < 1:
        raise ConfigError("--workers must be 1 or more")
    address = check_executor(spec)
    if address is not None:
        if plaintext_remote(address):
            warnings.warn(
                f"trials go to the Dask scheduler at {address} over plain TCP: every trial's"
                " config (the recipe) and its weights cross the network in the clear"
                f" ({PLAINTEXT_OPT_IN} is set); use tls:// to encrypt them",
                PlaintextClusterWarning,
                stacklevel=2,
            )
        return DaskExecutor(address, workers)
    if spec in ("local", "auto"):
        return InlineExecutor() if workers == 1 else ProcessExecutor(workers)
    if spec == "inline":
        return InlineExecutor()
    if spec == "processes":
        return ProcessExecutor(workers)
    return DaskExecutor(None, workers)


def slot_devices(
    workers: int, trials_per_gpu: int = 1, device: str = "auto"
) -> tuple[list[str], int | None]:
    """Device for each worker slot and torch threads per trial.

    ``device`` is ``auto`` (CUDA when present, else the CPU), ``cpu``, ``cuda``
    (every GPU) or ``cuda:N`` (that GPU only). On GPUs, slot i runs on GPU
    ``i // trials_per_gpu`` (wrapping around); on the CPU the cores are shared out.

    Raises:
        ConfigError: An unknown device, or CUDA asked for where there is none.
    """
    name = device.strip().lower()
    if name not in ("auto", "cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    gpus = _cuda_devices() if name != "cpu" else 0
    if name.startswith("cuda"):
        if not gpus:
            raise ConfigError(
                f"--device {device} asked for, but CUDA is not available here; use cpu or auto"
            )
        if name.startswith("cuda:"):
            index = name[len("cuda:") :]
            if not index.isdigit() or int(index) >= gpus:
                raise ConfigError(
                    f"unknown device {device!r}: this machine has GPUs cuda:0 to cuda:{gpus - 1}"
                )
            return [f"cuda:{int(index)}"] * workers, None
    if gpus:
        per = max(1, trials_per_gpu)
        return [f"cuda:{(i // per) % gpus}" for i in range(workers)], None
    cores = os.cpu_count() or 1
    return ["cpu"] * workers, max(1, cores // workers)


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
