"""Workers never hold secrets, and trials cross the network to a cluster encrypted.

A passphrase given in the environment is taken out of it once read, so trial workers
(the local pool, a Dask local cluster) start without it; a remote scheduler is reached over
TLS with the certificates of Dask's own configuration, and plain TCP to another machine is
refused unless the user opts in.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import threading
import warnings
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tuner import secret_env
from tuner.errors import ConfigError
from tuner.main import app
from tuner.search import executors
from tuner.search.executors import (
    PlaintextClusterWarning,
    SecretOnWorkerWarning,
    check_executor,
    make_executor,
)
from tuner.search.fitness import Fitness
from tuner.search.pruning import PruneRule
from tuner.search.trial import TrialContext, TrialTask
from tuner.vault.cli_keys import passphrase_from_env

SECRET = "worker-must-never-see-this"
RECIPE = "zebra-recipe-choice-4412"  # a searched value, as a string stands out on the wire


@pytest.fixture(autouse=True)
def _no_remembered_secret() -> Iterator[None]:
    secret_env.forget()
    yield
    secret_env.forget()


class EnvSpy:
    """An objective that reports the process it ran in and the environment it started with."""

    def __call__(self, params: dict[str, Any], trial: TrialContext) -> dict[str, float]:
        try:
            started_with = Path("/proc/self/environ").read_bytes()
        except OSError:  # not Linux: the Python view is all there is
            started_with = b""
        trial.artifacts.update(pid=os.getpid(), environ=dict(os.environ), proc=started_with)
        return {"mAP": 0.5}


class Echo:
    """An objective that sends a searched value back (as weights come back)."""

    def __call__(self, params: dict[str, Any], trial: TrialContext) -> dict[str, float]:
        trial.artifacts["echo"] = f"trained with {params['optimizer']}"
        return {"mAP": 0.5}


def _task(**params: Any) -> TrialTask:
    return TrialTask(0, params, Fitness.parse("mAP"), PruneRule())


def _run_one(spec: str, objective: Any, **params: Any) -> Any:
    executor = make_executor(spec, 1)
    try:
        handle = executor.submit(objective, _task(**params))
        result = executor.result(handle)
    finally:
        executor.shutdown()
    assert result.status == "ok", result.error
    return result


# -- secrets in the environment ----------------------------------------------------------


def test_a_passphrase_read_from_the_environment_leaves_it_but_serves_the_whole_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HYPERSEAL_PASSPHRASE", SECRET)
    first = passphrase_from_env()
    assert "HYPERSEAL_PASSPHRASE" not in os.environ
    again = passphrase_from_env()  # a second file opened in the same command
    assert first is not None and again is not None
    assert first.encoded() == again.encoded() == SECRET.encode()
    secret_env.forget()  # the command is over
    assert passphrase_from_env() is None


def test_a_passphrase_does_not_outlive_its_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    vault = tmp_path / "v"
    monkeypatch.setenv("HYPERSEAL_PASSPHRASE", SECRET)
    created = runner.invoke(app, ["vault", "init", str(vault), "--kdf-log2n", "10"])
    assert created.exit_code == 0, created.output
    assert "HYPERSEAL_PASSPHRASE" not in os.environ
    later = runner.invoke(app, ["vault", "list", str(vault)], input="")
    assert later.exit_code != 0 and "no passphrase given" in later.stderr


@pytest.mark.parametrize("spec", ["processes", "dask-local", "inline"])
def test_trial_workers_start_without_the_passphrase(
    spec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if spec == "dask-local":
        pytest.importorskip("distributed")
    monkeypatch.setenv("HYPERSEAL_PASSPHRASE", SECRET)
    monkeypatch.setenv("HYPERSEAL_NEW_PASSPHRASE", SECRET + "-new")
    spy = _run_one(spec, EnvSpy()).artifacts
    if spec == "inline":  # one worker: the trial runs here, and what it starts inherits
        assert spy["pid"] == os.getpid()  # this environment
        assert not [name for name in secret_env.SECRET_VARIABLES if name in spy["environ"]]
        return
    assert spy["pid"] != os.getpid()  # it ran in a worker process
    # (booleans only: a failure must not print the machine's environment)
    held = [name for name in secret_env.SECRET_VARIABLES if name in spy["environ"]]
    assert held == []
    started_with_it = SECRET.encode() in spy["proc"]  # what the process was started with
    assert not started_with_it, "the worker process was started with the passphrase"
    if os.path.exists("/proc/self/environ"):
        read_it = b"PATH=" in spy["proc"]
        assert read_it, "the spy could not read the worker's starting environment"
    assert secret_env.take("HYPERSEAL_PASSPHRASE") == SECRET  # the driver still has it


def test_a_worker_of_an_existing_cluster_holding_a_passphrase_is_named_in_a_warning() -> None:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        env={"HYPERSEAL_PASSPHRASE": SECRET},
    )
    try:
        with pytest.warns(SecretOnWorkerWarning, match="HYPERSEAL_PASSPHRASE") as caught:
            make_executor(cluster.scheduler_address, 1).shutdown()
        assert SECRET not in str(caught[0].message)
    finally:
        cluster.close()


def test_the_cli_shows_a_warning_of_hyperseal_as_one_line() -> None:
    from tuner.cli_support import new_app

    cli = new_app("test")

    @cli.command()
    def go() -> None:
        warnings.warn("trials cross the network in the clear", PlaintextClusterWarning, 1)

    @cli.command()
    def other() -> None:
        pass

    result = CliRunner().invoke(cli, ["go"])
    assert result.exit_code == 0
    assert result.stderr == "warning: trials cross the network in the clear\n"


# -- the cluster's wire ------------------------------------------------------------------


def test_plain_tcp_to_another_machine_is_refused_unless_opted_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(executors.PLAINTEXT_OPT_IN, raising=False)
    for spec in ("tcp://10.1.2.3:8786", "dask://scheduler.example:8786"):
        with pytest.raises(ConfigError, match=r"in the clear.*tls://"):
            check_executor(spec)
    assert check_executor("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"  # this machine
    assert check_executor("dask://localhost:8786") == "tcp://localhost:8786"
    assert check_executor("tls://10.1.2.3:8786") == "tls://10.1.2.3:8786"

    monkeypatch.setenv(executors.PLAINTEXT_OPT_IN, "1")
    monkeypatch.setattr(executors, "DaskExecutor", lambda address, workers: address)
    with pytest.warns(PlaintextClusterWarning, match="in the clear"):
        assert make_executor("tcp://10.1.2.3:8786", 1) == "tcp://10.1.2.3:8786"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # this machine: nothing to warn about
        make_executor("tcp://127.0.0.1:8786", 1)


def test_tune_refuses_plain_tcp_to_another_machine_in_one_line(
    hyperseal_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(executors.PLAINTEXT_OPT_IN, raising=False)
    run_dir = hyperseal_env / "run"
    args = ["tune", "--executor", "tcp://10.1.2.3:8786", "--budget", "2", "--out", str(run_dir)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert result.stderr.count("\n") == 1 and "in the clear" in result.stderr
    assert not run_dir.exists()


def test_tls_without_certificates_in_dask_config_is_one_clear_error() -> None:
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    unset = dict.fromkeys(executors.TLS_SETTINGS)
    with (
        dask.config.set(unset),
        pytest.raises(ConfigError, match=r"distributed\.comm\.tls\.ca-file"),
    ):
        make_executor("tls://127.0.0.1:1", 1)


def _certificates(folder: Path) -> dict[str, str]:
    """A CA and a certificate it signs for 127.0.0.1 (server and client use): PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def key_file(key: ec.EllipticCurvePrivateKey, path: Path) -> str:
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.write_bytes(pem)
        path.chmod(0o600)
        return str(path)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("hyperseal test CA"))
        .issuer_name(name("hyperseal test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return {
        "ca": str(folder / "ca.pem"),
        "cert": str(folder / "cert.pem"),
        "key": key_file(key, folder / "key.pem"),
    }


class Tap:
    """A loopback TCP relay to ``port`` that keeps every byte the client sends and gets."""

    def __init__(self, port: int) -> None:
        self.seen = bytearray()
        self._lock = threading.Lock()
        self._target = port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                with self._lock:
                    self.seen += data
                sink.sendall(data)
        except OSError:
            return
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._server.close()


def _through_a_tap(protocol: str, security: Any) -> tuple[Any, bytes]:
    """Run one Echo trial on a loopback cluster speaking ``protocol``, reached through a
    :class:`Tap`; the result and the bytes that crossed."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol=protocol,
        security=security,
        host="127.0.0.1",
        dashboard_address=None,
    )
    tap = Tap(int(cluster.scheduler_address.rsplit(":", 1)[1]))
    try:
        result = _run_one(f"{protocol}127.0.0.1:{tap.port}", Echo(), optimizer=RECIPE)
    finally:
        tap.close()
        cluster.close()
    return result, bytes(tap.seen)


def test_trials_reach_a_tls_scheduler_encrypted(tmp_path: Path) -> None:
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    files = _certificates(tmp_path)
    cluster_security = distributed.Security(
        tls_ca_file=files["ca"],
        require_encryption=True,
        tls_scheduler_cert=files["cert"],
        tls_scheduler_key=files["key"],
        tls_worker_cert=files["cert"],
        tls_worker_key=files["key"],
        tls_client_cert=files["cert"],
        tls_client_key=files["key"],
    )
    client_config = dict(
        zip(executors.TLS_SETTINGS, (files["ca"], files["cert"], files["key"]), strict=True)
    )

    # Plain TCP (on this machine, where it is allowed): the recipe is readable on the wire.
    result, wire = _through_a_tap("tcp://", None)
    assert result.artifacts["echo"] == f"trained with {RECIPE}"
    assert RECIPE.encode() in wire

    # TLS with the certificates of Dask's configuration: the same trial, nothing readable.
    with dask.config.set(client_config):
        result, wire = _through_a_tap("tls://", cluster_security)
    assert result.artifacts["echo"] == f"trained with {RECIPE}"
    assert len(wire) > 1000 and RECIPE.encode() not in wire
    assert wire[:1] == b"\x16"  # a TLS handshake record opens the connection


def test_a_scheduler_whose_certificate_another_ca_signed_is_refused(tmp_path: Path) -> None:
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    theirs, ours = _certificates(tmp_path / "a"), _certificates(tmp_path / "b")
    security = distributed.Security(
        tls_ca_file=theirs["ca"],
        require_encryption=True,
        tls_scheduler_cert=theirs["cert"],
        tls_scheduler_key=theirs["key"],
        tls_worker_cert=theirs["cert"],
        tls_worker_key=theirs["key"],
        tls_client_cert=theirs["cert"],
        tls_client_key=theirs["key"],
    )
    cluster = distributed.LocalCluster(
        n_workers=1,
        processes=False,
        protocol="tls://",
        security=security,
        host="127.0.0.1",
        dashboard_address=None,
    )
    paths = (ours["ca"], ours["cert"], ours["key"])
    try:
        with (
            dask.config.set(dict(zip(executors.TLS_SETTINGS, paths, strict=True))),
            pytest.raises(ConfigError, match=r"cannot reach.*signed by your CA"),
        ):
            make_executor(cluster.scheduler_address, 1)
    finally:
        cluster.close()


def test_python_callers_may_pass_their_own_security(tmp_path: Path) -> None:
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    files = _certificates(tmp_path)
    both = {"cert": files["cert"], "key": files["key"]}
    cluster_security = distributed.Security(
        tls_ca_file=files["ca"],
        require_encryption=True,
        **{
            f"tls_{role}_{part}": path
            for role in ("scheduler", "worker", "client")
            for part, path in both.items()
        },
    )
    cluster = distributed.LocalCluster(
        n_workers=1,
        processes=False,
        protocol="tls://",
        security=cluster_security,
        host="127.0.0.1",
        dashboard_address=None,
    )
    try:
        with dask.config.set(dict.fromkeys(executors.TLS_SETTINGS)):  # none configured
            executor = executors.DaskExecutor(cluster.scheduler_address, 1, cluster_security)
        try:
            result = executor.result(executor.submit(Echo(), _task(optimizer=RECIPE)))
        finally:
            executor.shutdown()
        assert result.artifacts["echo"] == f"trained with {RECIPE}"
    finally:
        cluster.close()
