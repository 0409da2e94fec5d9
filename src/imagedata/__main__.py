"""``python -m imagedata``: the command line."""

import sys

from imagedata.cli import main

sys.exit(main())
