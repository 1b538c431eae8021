"""Benchmark the vault: open time at the default scrypt cost, and journal append cost.

Run from the repository root::

    python -m benchmarks.vault [--records 1000] [--repeat 3]

Targets (issue 3): opening a passphrase vault at the default KDF setting
takes 0.2 to 1 s (a deliberate cost per guess), and appending a journal
record costs under 1 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tuner.vault import (
    DEFAULT_SCRYPT,
    Identity,
    KeySource,
    Passphrase,
    SealedJournal,
    Vault,
    generate_key_file,
)

TRIAL = {
    "trial": 0,
    "config": {
        "lr": 0.0123,
        "momentum": 0.9,
        "weight_decay": 0.0005,
        "batch_size": 8,
        "optimizer": "sgd",
        "warmup_epochs": 2,
    },
    "map_per_epoch": [0.12, 0.21, 0.27, 0.31],
    "fitness": 0.31,
    "status": "ok",
    "seconds": 412.5,
}


def _timed(call: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def _append_cost(path: Path, key: KeySource, records: int, fsync: bool) -> float:
    """Mean seconds per append over ``records`` appends."""
    with SealedJournal.create(path, key, fsync=fsync) as journal:
        start = time.perf_counter()
        for n in range(records):
            journal.append({**TRIAL, "trial": n})
        return (time.perf_counter() - start) / records


def _verdict(ok: bool) -> str:
    return "ok" if ok else "OFF TARGET"


def main() -> None:
    """Run the benchmark and print one line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000, help="journal records to append")
    parser.add_argument("--repeat", type=int, default=3, help="vault opens to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        passphrase = Passphrase("benchmark passphrase")
        vault_path = folder / "best.vault"
        Vault.create(vault_path, passphrase).put("best", TRIAL)
        opens = _timed(lambda: Vault.open(vault_path, passphrase), args.repeat)
        median_open = statistics.median(opens)
        print(f"vault open, passphrase, {DEFAULT_SCRYPT.describe()}:")
        print(
            f"  median {median_open:.3f} s  (min {min(opens):.3f}, max {max(opens):.3f}, "
            f"n={args.repeat})  target 0.2-1 s: {_verdict(0.2 <= median_open <= 1.0)}"
        )

        key_file = generate_key_file(folder / "bench.key")
        key_vault = folder / "key.vault"
        Vault.create(key_vault, key_file).put("best", TRIAL)
        key_open = statistics.median(_timed(lambda: Vault.open(key_vault, key_file), 20))
        print(f"vault open, key file: median {key_open * 1e3:.2f} ms")

        opened = Vault.open(vault_path, passphrase)
        put = statistics.median(_timed(lambda: opened.put("best", TRIAL), 20))
        print(f"vault put (lock, re-read, atomic rewrite, fsync): median {put * 1e3:.2f} ms")

        identity = Identity.generate()
        print(f"journal append, {args.records} records of ~{len(str(TRIAL))} bytes JSON:")
        print("  seal + write (fsync=False): the journal's own cost")
        for label, key in [
            ("key file", key_file),
            ("passphrase", passphrase),
            ("public key (recipient, one X25519 per record)", identity.recipient),
        ]:
            path = folder / f"nosync-{label.split()[0]}.journal"
            cost = _append_cost(path, key, args.records, fsync=False)
            print(
                f"    {label}: {cost * 1e3:.3f} ms/record  target < 1 ms: {_verdict(cost < 1e-3)}"
            )
        print("  with fsync after every record (the default): bound by the disk's fsync latency")
        for label, key in [("key file", key_file), ("public key", identity.recipient)]:
            path = folder / f"sync-{label.split()[0]}.journal"
            cost = _append_cost(path, key, args.records, fsync=True)
            print(f"    {label}: {cost * 1e3:.3f} ms/record")

        reader = SealedJournal.open(
            folder / "nosync-passphrase.journal", passphrase, writable=False
        )
        start = time.perf_counter()
        count = len(reader.read())
        per_record = (time.perf_counter() - start) / count
        print(f"journal read (authenticate all): {per_record * 1e6:.1f} us/record")


if __name__ == "__main__":
    main()
