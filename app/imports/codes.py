"""Sheet codes: short, human-readable, with a check character, recorded per print run.

A code is eight characters of Crockford's base 32 (digits and capitals without I, L, O, U,
so nothing reads as another) and a ninth, the check character of Luhn's mod N algorithm
over the same alphabet: any single mistyped character and any swap of two neighbours is
caught. Printed as `ABCD-EFGH-J`; read back whatever the case, hyphens or spaces, with the
letters people confuse (O, I, L) read as the digits they look like.

A response's id is derived from its unit and sheet code (`response_id`), so the same sheet
imported twice is the same response, by the ingest path's own idempotency."""

import secrets
import uuid
from collections.abc import Iterable

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_CONFUSED = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})
BODY_LENGTH = 8
# Names the ids of paper responses: uuid5(NAMESPACE, "<unit id>:sheet:<code>").
NAMESPACE = uuid.UUID("0f6c3d1e-5b0a-4c65-9e41-2d6f1f3a7b90")


def check_character(body: str) -> str:
    """Luhn mod 32 over ALPHABET."""
    factor, total, n = 2, 0, len(ALPHABET)
    for char in reversed(body):
        addend = factor * _VALUE[char]
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return ALPHABET[(n - total % n) % n]


def new_code() -> str:
    """A random code, normalised (no hyphens): 40 random bits and the check character."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return body + check_character(body)


def printed(code: str) -> str:
    """ABCDEFGHJ → ABCD-EFGH-J."""
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def normalised(text: str) -> str | None:
    """The code written in `text`, normalised; None when it is not one (wrong length, a
    character outside the alphabet, or a check character that does not match)."""
    code = text.strip().upper().translate(_CONFUSED)
    if len(code) != BODY_LENGTH + 1 or any(c not in _VALUE for c in code):
        return None
    if check_character(code[:BODY_LENGTH]) != code[BODY_LENGTH]:
        return None
    return code


def response_id(unit_id: int, code: str) -> uuid.UUID:
    """The id of the response transcribed from this sheet of this unit."""
    return uuid.uuid5(NAMESPACE, f"{unit_id}:sheet:{code}")


def row_response_id(unit_id: int, content_sha256: str, row_number: int) -> uuid.UUID:
    """The id of a response from a file without sheet codes: its content and row number."""
    return uuid.uuid5(NAMESPACE, f"{unit_id}:file:{content_sha256}:{row_number}")


def unique_codes(count: int, taken: Iterable[str] = ()) -> list[str]:
    """`count` new codes, none of them in `taken` nor repeated."""
    seen = set(taken)
    codes: list[str] = []
    while len(codes) < count:
        code = new_code()
        if code not in seen:
            seen.add(code)
            codes.append(code)
    return codes
