"""NRRD (``.nrrd``, ``.nhdr`` + data file) through SimpleITK.

Geometry as for MetaImage (GEOMETRY.md): ``space: left-posterior-superior``,
``space origin`` = S_0 and ``space directions`` = the unit vectors (X, Y, t/|t|)
times the spacing (dc, dr, |t|), in ITK index order (column, row, slice).

A 4D series is written as a 3D image with one vector component per tag value
(NRRD ``kinds: vector domain domain domain``, the layout of diffusion NRRD files):
SimpleITK writes a 4D scalar image to NRRD with the wrong axis marked as the vector
axis, so imagedata never writes 4D NRRD that way.  The tag axis name and values go
in the ``imagedata_tag_axis`` and ``imagedata_tag_values`` keys and the DICOM header
in ``imagedata_header`` (see :mod:`.itk`).  A diffusion series with gradient
directions (a ``dti`` axis) also gets the keys of the NRRD DWI convention used by
3D Slicer (``modality:=DWMRI``, ``DWMRI_b-value``, ``DWMRI_gradient_NNNN``, directions
in LPS), and such keys are read back as a ``dti`` axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imagedata.formats import _paths, itk

if TYPE_CHECKING:
    from imagedata.archives import Member
    from imagedata.header import Header, SeriesLike

EXTENSIONS = (".nrrd", ".nhdr")
DEFAULT_EXTENSION = ".nrrd"


class NrrdFormat:
    """The 'nrrd' format: ``.nrrd`` (default) and detached ``.nhdr`` + ``.raw``/``.raw.gz``.

    Write options: ``overwrite`` (bool), ``compress`` (bool, default False: gzip
    encoding), ``embed_header`` (bool, default True).
    """

    name = "nrrd"
    extensions: tuple[str, ...] = EXTENSIONS
    extra: str | None = "itk"

    def sniff(self, name: str, head: bytes) -> bool:
        """NRRD files start with the magic ``NRRD000`` and a version digit."""
        return head.startswith(b"NRRD000")

    def read(
        self, members: Sequence[Member], *, input_order: str, headers_only: bool, **options: Any
    ) -> tuple[np.ndarray, Header]:
        """Read one NRRD file."""
        if options:
            raise TypeError(f"unexpected options for NRRD input: {sorted(options)}")
        member = itk.single_member(members, EXTENSIONS, "NRRD")
        return itk.read_file(
            member, "nrrd", EXTENSIONS, input_order=input_order, headers_only=headers_only
        )

    def write(self, si: SeriesLike, destination: Path, **options: Any) -> list[str]:
        """Write `si` as NRRD at `destination` (a ``.nrrd``/``.nhdr`` file or a folder)."""
        opts = dict(options)
        overwrite, compress, embed = itk.pop_write_options(opts, "NRRD")
        target = _paths.target_file(destination, EXTENSIONS, DEFAULT_EXTENSION)
        img = itk.make_image(si, str(target), vector_tags=True, embed_header=embed)
        for axis in si.header.tag_axes:
            for key, value in itk.dwmri_keys(axis).items():
                img.SetMetaData(key, value)
        data_files: list[str] = []
        if target.name.lower().endswith(".nhdr"):
            data_files = [_paths.stem(target, EXTENSIONS) + (".raw.gz" if compress else ".raw")]
        return itk.write_file(img, target, data_files, overwrite=overwrite, compress=compress)


plugin = NrrdFormat()

__all__ = ["NrrdFormat", "plugin"]
