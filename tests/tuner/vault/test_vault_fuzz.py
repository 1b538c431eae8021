"""Random bytes into every parser: only the vault's own errors may come out."""

from __future__ import annotations

import contextlib
from pathlib import Path
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
from tuner.vault.cli_keys import read_passphrase_file
from tuner.vault.documents import load_document
from tuner.vault.format import FileKind, parse_header, parse_vault_body, scan_journal

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FAST = ScryptParams(log2_n=10)
#: Starts of sealed files: vault, journal of format 1 (hyperseal 0.1) and 2, modes.
PREFIXES = [
    b"",
    b"\x89HSVAULT\x01",
    b"\x89HSJOURN\x01",
    b"\x89HSJOURN\x02",
    b"\x89HSJOURN\x02\x02",
    b"\x89HSVAULT\x01\x03",
]


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
    prefix=st.sampled_from(PREFIXES),
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
    _only_ours(load_document, str(path))


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


# -- mutations of valid files: only the documented errors, and never altered data ----------

RECORDS = [{"trial": n, "config": {"lr": 0.01 * (n + 1)}} for n in range(3)]


@st.composite
def edited(draw: st.DrawFn, original: bytes) -> bytes:
    """A valid file mutated, truncated or extended (a partial copy of itself, junk, zeros)."""
    how = draw(st.sampled_from(["mutate", "truncate", "extend", "cut and extend"]))
    if how == "mutate":
        return draw(mutated(original))
    if how == "truncate":
        return original[: draw(st.integers(0, len(original) - 1))]
    if how == "cut and extend":  # a cut dressed up as a crash: zeros or a partial frame after it
        kept = original[: draw(st.integers(0, len(original) - 1))]
        start = draw(st.integers(0, len(original) - 1))
        return kept + draw(st.sampled_from([bytes(64), original[start : start + 40]]))
    tail = draw(
        st.one_of(
            st.binary(min_size=1, max_size=200),
            st.integers(1, 300).map(bytes),
            st.integers(1, len(original)).map(lambda n: original[-n:]),
        )
    )
    return original + tail


@pytest.fixture(scope="module")
def journals(samples: dict[str, Any]) -> dict[str, bytes]:
    """A journal of each mode holding RECORDS."""
    folder = samples["folder"]
    out = {}
    for mode, key in samples["keys"].items():
        path = folder / f"{mode}.records.journal"
        with SealedJournal.create(path, key, kdf=FAST) as journal:
            for record in RECORDS:
                journal.append(record)
        out[mode] = path.read_bytes()
    return out


@FUZZ
@given(data=st.data(), mode=st.sampled_from(["passphrase", "key_file", "recipient"]))
def test_an_edited_journal_reads_whole_or_fails_with_our_error(
    samples: dict[str, Any], journals: dict[str, bytes], data: st.DataObject, mode: str
) -> None:
    """A read that succeeds returns exactly the records written (the journal's end is
    authenticated: no prefix, no other records); a repair drops only what was added after
    the authenticated end."""
    path = samples["scratch"]
    path.write_bytes(data.draw(edited(journals[mode])))
    key = samples["keys"][mode]
    try:
        records = SealedJournal.open(path, key, writable=False).read()
    except VaultError:
        pass
    else:
        assert records == RECORDS
    try:
        with SealedJournal.open(path, key) as journal:
            journal.repair()
            journal.append({"after": "fuzz"})
    except VaultError:
        return
    assert SealedJournal.open(path, key, writable=False).read() == [*RECORDS, {"after": "fuzz"}]


@FUZZ
@given(data=st.data(), mode=st.sampled_from(["passphrase", "key_file", "recipient"]))
def test_an_edited_vault_opens_unaltered_or_fails_with_our_error(
    samples: dict[str, Any], data: st.DataObject, mode: str
) -> None:
    original = samples[f"{mode}.vault"]
    path = samples["scratch"]
    key = samples["keys"][mode]
    path.write_bytes(original)
    expected = {name: Vault.open(path, key).get(name) for name in ("a", "b")}
    path.write_bytes(data.draw(edited(original)))
    try:
        vault = Vault.open(path, key)
        got = {name: vault.get(name) for name in vault.names()}
    except VaultError:
        return
    assert got == expected


@FUZZ
@given(data=st.data(), kind=st.sampled_from(["key", "identity"]))
def test_an_edited_key_or_identity_file_gives_the_same_key_or_our_error(
    samples: dict[str, Any], data: st.DataObject, kind: str
) -> None:
    """A key file with a checksum: an edit gives an error, never another key."""
    folder = samples["folder"]
    source = folder / ("k.key" if kind == "key" else "id.key")
    original = source.read_bytes()
    path = samples["scratch"]
    path.write_bytes(data.draw(edited(original)))
    load = (
        (lambda p: KeyFile(p).material())
        if kind == "key"
        else (lambda p: Identity.load(p).material())
    )
    try:
        got = load(path)
    except VaultError:
        return
    assert got == load(source)
    if kind == "identity":
        with contextlib.suppress(VaultError):
            assert load_recipient(str(path)) == Identity.load(source).recipient


@FUZZ
@given(data=st.data())
def test_an_edited_public_key_gives_the_same_key_or_our_error(
    samples: dict[str, Any], data: st.DataObject
) -> None:
    public = str(Identity.load(samples["folder"] / "id.key").recipient)
    text = data.draw(edited(public.encode("ascii"))).decode("latin-1")
    try:
        got = Recipient.from_string(text)
    except VaultError:
        return
    assert str(got) == public


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A release folder's manifest (as `hyperseal train` writes it) and junk weights."""
    import hashlib
    import json

    from tuner.release import FORMAT, read_manifest

    folder = tmp_path_factory.mktemp("release")
    weights = b"not really safetensors"
    (folder / "weights.safetensors").write_bytes(weights)
    manifest = {
        "format": FORMAT,
        "model": {"arch": "fcos", "backbone": "tiny", "image_size": 64, "classes": ["car"]},
        "weights": "weights.safetensors",
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "parameters": 1,
    }
    text = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    (folder / "manifest.json").write_bytes(text)
    assert read_manifest(folder) == manifest  # the unedited manifest is valid
    return folder, text


@FUZZ
@given(data=st.data())
def test_an_edited_manifest_gives_a_spec_or_a_model_error(
    release: tuple[Path, bytes], data: st.DataObject
) -> None:
    """The manifest parser (tuner.release.read_manifest + ModelSpec.from_dict) and the
    audit's release loader raise only their documented errors on any edit; the loader never
    gets past the checks to build a model from junk weights."""
    from audit.deep.release import load_released_detector
    from audit.errors import AuditError
    from tuner.detectors import ModelSpec
    from tuner.errors import ModelError
    from tuner.release import read_manifest

    folder, original = release
    (folder / "manifest.json").write_bytes(data.draw(edited(original)))
    try:
        manifest = read_manifest(folder)
        spec = ModelSpec.from_dict(manifest.get("model", {}))
    except ModelError:
        pass
    else:
        assert isinstance(spec, ModelSpec) and isinstance(manifest, dict)
    with pytest.raises(AuditError):
        load_released_detector(folder)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_the_run_file_reader_raises_only_our_error(samples: dict[str, Any], raw: bytes) -> None:
    from tuner.engine.checkpoint import read_run_info

    run = samples["folder"] / "fuzz-run"
    run.mkdir(exist_ok=True)
    (run / "run.json").write_bytes(raw)
    _only_ours(read_run_info, run)


def _format_1_journal() -> bytes:
    """The documented journal of hyperseal 0.1 (passphrase, 2 records)."""
    import re

    doc = Path(__file__).resolve().parents[3] / "docs" / "vault-format.md"
    block = re.search(r"```text\n# passphrase-journal-format-1\n(.*?)```", doc.read_text(), re.S)
    assert block is not None
    return bytes.fromhex("".join(block.group(1).split()))


@FUZZ
@given(data=st.data())
def test_migrating_an_edited_format_1_journal_gives_its_records_or_our_error(
    samples: dict[str, Any], data: st.DataObject
) -> None:
    from tuner.vault import migrate_journal

    key = Passphrase("correct horse battery staple")
    path = samples["scratch"]
    path.write_bytes(data.draw(edited(_format_1_journal())))
    try:
        migrate_journal(path, key)
    except VaultError:
        return
    records = SealedJournal.open(path, key, writable=False).read()
    assert records == [{"trial": 0, "map": 0.25}, {"trial": 1, "map": 0.5}][: len(records)]
