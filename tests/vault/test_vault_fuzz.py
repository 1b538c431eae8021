"""Random bytes into every parser: only the vault's own errors may come out."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuner.vault import (
    Identity,
    JournalCheckpoint,
    KeyFile,
    Passphrase,
    Recipient,
    ScryptParams,
    SealedJournal,
    Vault,
    VaultError,
    codec,
    generate_identity_file,
    generate_key_file,
    inspect_file,
    load_recipient,
)
from tuner.vault.cli import _load_config
from tuner.vault.cli_keys import read_passphrase_file
from tuner.vault.format import FileKind, parse_header, parse_vault_body, scan_journal

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FAST = ScryptParams(log2_n=10)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Valid vaults and journals of every mode, and a scratch file to write fuzz into."""
    folder = tmp_path_factory.mktemp("fuzz")
    identity = generate_identity_file(folder / "id.key")
    key_file = generate_key_file(folder / "k.key")
    keys = {"passphrase": Passphrase("fuzz"), "key_file": key_file, "recipient": identity}
    files: dict[str, Any] = {"scratch": folder / "scratch", "keys": keys, "folder": folder}
    for mode, key in keys.items():
        vault_path, journal_path = folder / f"{mode}.vault", folder / f"{mode}.journal"
        vault = Vault.create(vault_path, key, kdf=FAST)
        vault.put("a", {"lr": 0.1, "nested": {"x": [1, 2, 3]}})
        vault.put("b", {"lr": 0.2})
        with SealedJournal.create(journal_path, key, kdf=FAST) as journal:
            for n in range(3):
                journal.append({"trial": n})
        files[f"{mode}.vault"] = vault_path.read_bytes()
        files[f"{mode}.journal"] = journal_path.read_bytes()
    return files


def _only_ours(call: Any, *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(VaultError):
        call(*args, **kwargs)


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """A valid file with a few random edits: overwrite, delete, insert, truncate."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "delete", "insert", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "delete" and data:
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at:]
    return bytes(data)


@FUZZ
@given(data=st.binary(max_size=600), kind=st.sampled_from(list(FileKind)))
def test_header_and_body_parsers(data: bytes, kind: FileKind) -> None:
    try:
        header = parse_header(data, kind, "fuzz")
    except VaultError:
        return
    if kind is FileKind.VAULT:
        _only_ours(parse_vault_body, data, header, "fuzz")
    else:
        _only_ours(scan_journal, data, header, "fuzz")


@FUZZ
@given(
    prefix=st.sampled_from([b"", b"\x89HSVAULT\x01", b"\x89HSJOURN\x01", b"\x89HSVAULT\x01\x03"]),
    tail=st.binary(max_size=400),
    mode=st.sampled_from(["passphrase", "key_file", "recipient"]),
)
def test_open_random_files(samples: dict[str, Any], prefix: bytes, tail: bytes, mode: str) -> None:
    path = samples["scratch"]
    path.write_bytes(prefix + tail)
    key = samples["keys"][mode]
    _only_ours(Vault.open, path, key)
    _only_ours(inspect_file, path)
    _only_ours(lambda: SealedJournal.open(path, key, writable=False).read())


@FUZZ
@given(data=st.data(), mode=st.sampled_from(["passphrase", "key_file", "recipient"]))
def test_open_mutated_vaults(samples: dict[str, Any], data: st.DataObject, mode: str) -> None:
    path = samples["scratch"]
    path.write_bytes(data.draw(mutated(samples[f"{mode}.vault"])))
    _only_ours(Vault.open, path, samples["keys"][mode])
    if mode == "recipient":
        _only_ours(Vault.open, path, samples["keys"][mode].recipient)


@FUZZ
@given(data=st.data(), mode=st.sampled_from(["passphrase", "key_file", "recipient"]))
def test_open_mutated_journals(samples: dict[str, Any], data: st.DataObject, mode: str) -> None:
    path = samples["scratch"]
    path.write_bytes(data.draw(mutated(samples[f"{mode}.journal"])))
    key = samples["keys"][mode]
    _only_ours(lambda: SealedJournal.open(path, key, writable=False).read())

    def write_and_repair() -> None:
        with SealedJournal.open(path, key) as journal:
            journal.repair()
            journal.append({"after": "fuzz"})

    _only_ours(write_and_repair)


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=120),
        st.builds(lambda s: "hspub1" + s, st.text(max_size=60)),
        st.builds(lambda s: "hssec1" + s, st.text(max_size=60)),
        st.builds(lambda s: "hskey1" + s, st.text(max_size=60)),
    )
)
def test_key_text_parsers(samples: dict[str, Any], text: str) -> None:
    path = samples["scratch"]
    _only_ours(Recipient.from_string, text)
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _only_ours(KeyFile, path)
    _only_ours(Identity.load, path)
    _only_ours(load_recipient, str(path))
    _only_ours(read_passphrase_file, path)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_key_binary_parsers(samples: dict[str, Any], raw: bytes) -> None:
    path = samples["scratch"]
    path.write_bytes(raw)
    _only_ours(KeyFile, path)
    _only_ours(Identity.load, path)
    _only_ours(load_recipient, str(path))
    _only_ours(read_passphrase_file, path)
    _only_ours(codec.decode, raw, "fuzz")


@FUZZ
@given(raw=st.binary(max_size=300), suffix=st.sampled_from([".json", ".yaml", ".txt"]))
def test_config_loader(samples: dict[str, Any], raw: bytes, suffix: str) -> None:
    path = samples["folder"] / f"config{suffix}"
    path.write_bytes(raw)
    _only_ours(_load_config, str(path))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@FUZZ
@given(value=JSON)
def test_checkpoint_and_document_parsers(value: Any) -> None:
    _only_ours(JournalCheckpoint.from_dict, value)
    _only_ours(codec.check_document, value)
