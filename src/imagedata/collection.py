"""imagedata 3.x module name of :mod:`imagedata.collections` (Study, Patient, Cohort).

Examples
--------
>>> from imagedata.collection import Study
>>> Study.__module__
'imagedata.collections'
"""

from __future__ import annotations

from imagedata.collections import Cohort, Patient, Study, read_all

__all__ = ["Cohort", "Patient", "Study", "read_all"]
