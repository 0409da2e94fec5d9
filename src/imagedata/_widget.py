"""An interactive notebook widget for 3D/4D browsing: NiiVue (``imagedata[widget]``).

:func:`widget` hands the series to `ipyniivue <https://github.com/niivue/ipyniivue>`_
as an in-memory NIfTI image (no file, no network: the NiiVue JavaScript ships inside
the ipyniivue wheel).  NiiVue shows the volume in three planes (or one), scrolls with
the mouse, windows by right-drag and steps through 4D frames.  Without ipyniivue the
notebook display (``Series._repr_html_``) and the matplotlib viewer still work.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def nifti_bytes(si: Any) -> bytes:
    """The series as an uncompressed NIfTI-1 file in memory (embedded imagedata header left out)."""
    from imagedata.formats.nifti import to_nibabel

    img = to_nibabel(si, embed_header=False)
    data: bytes = img.to_bytes()
    return data


def widget(
    si: Any,
    *,
    window: Sequence[float] | None = None,
    colormap: str = "gray",
    name: str | None = None,
) -> Any:
    """A NiiVue notebook widget showing `si` (display it by ending a cell with it).

    Parameters
    ----------
    si
        The series (3D, or 4D with one tag axis: NiiVue steps through the frames).
    window
        (center, width); default NiiVue's robust range.
    colormap
        A NiiVue colour map name (``gray``, ``hot``, ``viridis`` ...).
    name
        The volume's name (default: the series description, else ``series``).

    Raises
    ------
    MissingDependencyError
        Without ipyniivue (``pip install 'imagedata[widget]'``) or nibabel.
    """
    from imagedata._optional import import_optional

    niivue = import_optional("ipyniivue", "widget", "show the interactive notebook widget")
    import_optional("nibabel", "widget", "hand the series to NiiVue as NIfTI")
    options: dict[str, Any] = {"colormap": colormap}
    if window is not None:
        center, width = (float(v) for v in window)
        if not width > 0:
            raise ValueError(f"window width must be positive, got {width}")
        options["cal_min"], options["cal_max"] = center - width / 2.0, center + width / 2.0
    if name is None:
        try:
            name = str(si.header.template.get("SeriesDescription", "") or "series")
        except Exception:
            name = "series"
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "series"
    nv = niivue.NiiVue()
    nv.load_volumes([{"data": nifti_bytes(si), "name": f"{safe}.nii", **options}])
    logger.info("NiiVue widget of %s, shape %s", name, tuple(np.shape(si)))
    return nv
