"""``imagedata listen``: receive images from a PACS or modality (a storage SCP).

Incoming images are filed as ``OUTPUT_DIR/PatientID/StudyInstanceUID/SeriesInstanceUID/``;
each file appears only when complete.  Stop with Ctrl-C, or with ``--max-images`` /
``--idle-timeout``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

from imagedata.cli._common import parser_for, run

EPILOG = """examples:
  imagedata listen --port 11112 --aet IMAGEDATA incoming/
  imagedata listen --port 11112 --aet IMAGEDATA --idle-timeout 60 incoming/
  imagedata listen --port 11112 --host 0.0.0.0 --allow PACS --allow CT1 incoming/

The listener binds to 127.0.0.1 (this machine only) unless --host says otherwise.
The PACS must know the AE title, this host and the port (its list of DICOM
modalities) to send or C-MOVE images here."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``imagedata listen``."""
    parser = parser_for("listen", "Receive DICOM images (C-STORE) and file them.", EPILOG)
    parser.add_argument("output", help="folder to file the images into")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--aet", default="IMAGEDATA", help="our AE title (default IMAGEDATA)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; '' or 0.0.0.0: every "
        "interface)",
    )
    parser.add_argument(
        "--allow",
        action="append",
        metavar="AET",
        help="accept only this calling AE title (repeat for several; default: any)",
    )
    parser.add_argument(
        "--max-associations",
        type=int,
        default=16,
        help="associations served at once; more are rejected (default 16)",
    )
    parser.add_argument("--max-images", type=int, help="stop after this many images")
    parser.add_argument("--idle-timeout", type=float, help="stop after this many idle seconds")
    return parser


def _body(args: argparse.Namespace) -> int:
    from imagedata.transports.listener import Listener

    if not 0 < args.port < 65536:
        from imagedata.cli._common import UsageError

        raise UsageError(f"--port {args.port}: use a port between 1 and 65535")
    if args.max_associations < 1:
        from imagedata.cli._common import UsageError

        raise UsageError(f"--max-associations {args.max_associations}: use 1 or more")
    listener = Listener(
        args.output,
        port=args.port,
        aet=args.aet,
        host=args.host,
        allow=args.allow,
        max_associations=args.max_associations,
    )
    with listener:
        if not args.quiet:
            where = args.host or "*"
            print(f"listening on {where}:{args.port} as {args.aet}; filing into {args.output}")
            sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            listener.serve_forever(idle_timeout=args.idle_timeout, max_images=args.max_images)
    if not args.quiet:
        print(f"received {listener.count} images ({len(listener.failed)} failed)")
    return 1 if listener.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``imagedata listen``; return the exit code."""
    return run(build_parser(), argv, _body)
