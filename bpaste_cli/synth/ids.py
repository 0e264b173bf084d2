"""Deterministic ids drawn from a seeded RNG: UUIDs and base62 tokens like the ones agent logs carry."""

from __future__ import annotations

import random
import string

_B62 = (string.ascii_letters + string.digits).encode()
B62_TABLE = bytes(_B62[i % 62] for i in range(256))  # byte -> base62 letter (a slight bias is harmless)


class Ids:
    """Deterministic ids for one session's records (seeded by the session id, so stable per file)."""

    def __init__(self, session_id: str, salt: str) -> None:
        self.rng = random.Random(f"{salt}:{session_id}")

    def uuid(self) -> str:
        return uuid4(self.rng)

    def token(self, n: int) -> str:
        return token(self.rng, n)


def uuid4(rng: random.Random) -> str:
    """A random (version 4) UUID drawn from `rng`."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def token(rng: random.Random, n: int) -> str:
    """`n` base62 characters drawn from `rng`, like the ids in agent logs."""
    return rng.randbytes(n).translate(B62_TABLE).decode()
