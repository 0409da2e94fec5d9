"""Types of the C element walk (see _cwalk.c and :func:`imagedata._fastscan.parse`)."""

from collections.abc import Iterable, Sequence
from typing import Any

def walk(
    data: bytes, pos: int, explicit: bool, values: dict[str, Any]
) -> tuple[int, int, int, int, list[tuple[int, bytes | None, int, int]], list[int]]: ...
def configure(
    wanted: Sequence[tuple[int, str, int]],
    skip: Iterable[int],
    private_keys: Iterable[int],
    abort: Iterable[int],
) -> None: ...
