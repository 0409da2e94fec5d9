"""Types of the C element walk (see _cwalk.c and :func:`imagedata._fastscan.parse`)."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

def meta(data: bytes) -> tuple[int, str, str, int]: ...
def walk(
    data: bytes, pos: int, explicit: bool, values: dict[str, Any]
) -> tuple[int, int, int, int, list[int]]: ...
def digest(data: bytes, cuts: list[int]) -> int: ...
def configure(
    wanted: Sequence[tuple[int, str, int]],
    skip: Iterable[int],
    groups: Iterable[int],
    creators: dict[tuple[int, str], list[tuple[int, str, int]]],
    abort: Iterable[int],
) -> None: ...
def groups(data: bytes, pos: int, length: int) -> tuple[list[dict[str, Any]], int]: ...
def groups_configure(
    sequences: Sequence[tuple[int, str]],
    values: Sequence[tuple[int, str, bytes]],
    number: Callable[[str], Any],
    short: type[Exception],
    unhandled: type[Exception],
) -> None: ...
def raw_elements(
    data: bytes, pos: int, cut_start: int, cut_end: int, meta: bool
) -> tuple[dict[Any, Any], int]: ...
def raw_configure(tag: Callable[[int], Any], element: Callable[..., Any]) -> None: ...
