"""The ``imagedata`` command: ``imagedata SUBCOMMAND ...``.

Each subcommand is a module of this package with ``main(argv=None) -> int``, so
tests call it directly.  Modules are imported only when their subcommand runs.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

#: Subcommand -> (module, one-line help).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "convert": ("imagedata.cli.convert", "convert series between formats"),
    "info": ("imagedata.cli.info", "show the patient/study/series tree of inputs"),
    "show": ("imagedata.cli.show", "look at a series (viewer, or a PNG montage)"),
    "stats": ("imagedata.cli.stats", "voxel statistics per series"),
    "calc": ("imagedata.cli.calc", "voxel-wise arithmetic over series"),
    "ls": ("imagedata.cli.ls", "list patients/studies/series on a PACS or in a catalogue"),
    "index": ("imagedata.cli.index", "catalogue DICOM folders/archives in SQLite"),
    "listen": ("imagedata.cli.listen", "receive images from a PACS (storage SCP)"),
    "anonymize": ("imagedata.cli.anonymize", "de-identify DICOM files (PS3.15 Basic Profile)"),
}


def _usage() -> str:
    lines = ["usage: imagedata SUBCOMMAND [options]", "", "subcommands:"]
    lines += [f"  {name:<9} {text}" for name, (_, text) in SUBCOMMANDS.items()]
    lines += ["", "Run 'imagedata SUBCOMMAND --help' for the options of each."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a subcommand; exit code 2 for usage errors."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    if args[0] == "--version":
        from imagedata import __version__

        print(f"imagedata {__version__}")
        return 0
    entry = SUBCOMMANDS.get(args[0])
    if entry is None:
        print(f"imagedata: unknown subcommand {args[0]!r}\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(entry[0])
    return int(module.main(args[1:]))
