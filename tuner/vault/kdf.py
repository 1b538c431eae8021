"""scrypt: the passphrase key-derivation function, its parameters and their caps.

The parameters of a passphrase-sealed file live in its authenticated header.
A hostile file could ask for absurd ones (minutes of CPU, gigabytes of
memory), so :meth:`KdfLimits.check` runs on them *before* scrypt does.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from tuner.vault.errors import KdfParamsError

#: Below this cost a passphrase falls to a laptop's brute force; no file is made or read with less.
MIN_LOG2_N = 10


@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost parameters: ``N = 2**log2_n``, block size ``r``, parallelism ``p``.

    The default (N = 2**17, r = 8, p = 1: 128 MiB of memory) takes about half a
    second on a current CPU: a deliberate cost per open, paid by a brute-force
    attacker on every guess. Tests pass ``ScryptParams(log2_n=10)``.

    Attributes:
        log2_n: base-2 logarithm of the CPU/memory cost N.
        r: block size.
        p: parallelisation factor.
    """

    log2_n: int = 17
    r: int = 8
    p: int = 1

    @property
    def n(self) -> int:
        """The cost parameter N itself."""
        return 1 << self.log2_n

    @property
    def memory_bytes(self) -> int:
        """Memory scrypt needs: 128 · r · N bytes."""
        return 128 * self.r * self.n

    @property
    def work(self) -> int:
        """A relative measure of CPU time: N · r · p."""
        return self.n * self.r * self.p

    def describe(self) -> str:
        """A short human description, e.g. ``scrypt N=2^17 r=8 p=1``."""
        return f"scrypt N=2^{self.log2_n} r={self.r} p={self.p}"


DEFAULT_SCRYPT = ScryptParams()


@dataclass(frozen=True)
class KdfLimits:
    """Caps on scrypt parameters accepted when creating or opening a file.

    The defaults allow up to 8 times the default work (a few seconds) and
    1 GiB of memory. Pass wider limits to open a file made on purpose with a
    higher cost.

    Attributes:
        max_log2_n: largest accepted ``log2_n``.
        max_r: largest accepted block size.
        max_p: largest accepted parallelism.
        max_memory_bytes: largest accepted 128 · r · N.
        max_work: largest accepted N · r · p.
    """

    max_log2_n: int = 20
    max_r: int = 32
    max_p: int = 16
    max_memory_bytes: int = 1 << 30
    max_work: int = 8 * DEFAULT_SCRYPT.work

    def check(self, params: ScryptParams, where: str) -> None:
        """Raise :class:`KdfParamsError` unless ``params`` are within the limits.

        Args:
            params: the parameters read from a header or asked for by a caller.
            where: the file the parameters belong to, for the message.

        Raises:
            KdfParamsError: a parameter is out of range.
        """
        problem = None
        if not MIN_LOG2_N <= params.log2_n <= self.max_log2_n:
            problem = f"log2(N)={params.log2_n} outside {MIN_LOG2_N}..{self.max_log2_n}"
        elif not 1 <= params.r <= self.max_r:
            problem = f"r={params.r} outside 1..{self.max_r}"
        elif not 1 <= params.p <= self.max_p:
            problem = f"p={params.p} outside 1..{self.max_p}"
        elif params.memory_bytes > self.max_memory_bytes:
            problem = f"{params.memory_bytes >> 20} MiB of memory is over the cap"
        elif params.work > self.max_work:
            problem = f"N·r·p = 2^{params.work.bit_length() - 1} is over the cap"
        if problem is not None:
            raise KdfParamsError(
                f"{where}: scrypt parameters refused ({problem}); the file is damaged or hostile,"
                " or was made with a deliberately higher cost (open it from Python with wider"
                " KdfLimits)"
            )


DEFAULT_LIMITS = KdfLimits()


def normalize_passphrase(secret: str) -> bytes:
    """The bytes scrypt receives: the passphrase in Unicode NFC, encoded as UTF-8."""
    return unicodedata.normalize("NFC", secret).encode("utf-8")


def scrypt_kek(secret: bytes, salt: bytes, params: ScryptParams) -> bytes:
    """Derive a 32-byte key-encryption key from a passphrase's bytes with scrypt.

    The caller must have checked ``params`` against :class:`KdfLimits`.
    """
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    kdf = Scrypt(salt=salt, length=32, n=params.n, r=params.r, p=params.p)
    return kdf.derive(secret)
