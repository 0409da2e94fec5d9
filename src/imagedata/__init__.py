"""imagedata: medical image series as one numpy array type that keeps geometry and header.

``import imagedata`` is light: it imports neither numpy nor pydicom until an
attribute such as :class:`imagedata.Series` is used.

Examples
--------
>>> from imagedata.series import Series
>>> import numpy as np
>>> Series(np.zeros((3, 4, 5))).spacing.tolist()
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

__version__ = "4.0.0.dev0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from imagedata.collections import Cohort, Patient, Study
    from imagedata.loadsave import read, write
    from imagedata.series import Series

_LAZY = {
    "Series": "imagedata.series",
    "read": "imagedata.loadsave",
    "write": "imagedata.loadsave",
    "Study": "imagedata.collections",
    "Patient": "imagedata.collections",
    "Cohort": "imagedata.collections",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imagedata' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = ["Cohort", "Patient", "Series", "Study", "__version__", "read", "write"]
