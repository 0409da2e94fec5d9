"""`import imagedata` stays light: no optional library is imported."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("nibabel", "SimpleITK", "pynetdicom", "matplotlib", "scipy", "dicomweb_client", "h5py")


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_imagedata_imports_no_optional_library() -> None:
    loaded = _modules_after("import imagedata")
    assert not [m for m in HEAVY if m in loaded]
    # the top-level package does not even need numpy or pydicom until used
    assert "pydicom" not in loaded


def test_series_and_registry_import_no_optional_library() -> None:
    loaded = _modules_after(
        "from imagedata.series import Series; import imagedata.formats; import imagedata.cli"
    )
    assert not [m for m in HEAVY if m in loaded]


def test_lazy_attributes() -> None:
    import imagedata

    assert imagedata.Series.__name__ == "Series"
    assert callable(imagedata.read)
    try:
        imagedata.NoSuchThing  # noqa: B018
    except AttributeError as err:
        assert "NoSuchThing" in str(err)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
