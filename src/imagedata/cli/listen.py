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
  imagedata listen --port 11112 --aet IMAGEDATA --host 127.0.0.1 --idle-timeout 60 incoming/

The PACS must know the AE title, this host and the port (its list of DICOM
modalities) to send or C-MOVE images here."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``imagedata listen``."""
    parser = parser_for("listen", "Receive DICOM images (C-STORE) and file them.", EPILOG)
    parser.add_argument("output", help="folder to file the images into")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--aet", default="IMAGEDATA", help="our AE title (default IMAGEDATA)")
    parser.add_argument(
        "--host", default="", help="address to bind (default: every interface; 127.0.0.1: local)"
    )
    parser.add_argument("--max-images", type=int, help="stop after this many images")
    parser.add_argument("--idle-timeout", type=float, help="stop after this many idle seconds")
    return parser


def _body(args: argparse.Namespace) -> int:
    from imagedata.transports.listener import Listener

    if not 0 < args.port < 65536:
        from imagedata.cli._common import UsageError

        raise UsageError(f"--port {args.port}: use a port between 1 and 65535")
    listener = Listener(args.output, port=args.port, aet=args.aet, host=args.host)
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
