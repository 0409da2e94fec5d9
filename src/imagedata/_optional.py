"""Import optional dependencies lazily, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from imagedata.errors import MissingDependencyError


def import_optional(module: str, extra: str, purpose: str = "") -> ModuleType:
    """Import `module`, or raise :class:`MissingDependencyError` naming `extra`.

    Parameters
    ----------
    module
        Dotted module name, e.g. ``"nibabel"``.
    extra
        The imagedata extra that installs it, e.g. ``"nifti"``.
    purpose
        What it is needed for, used in the message.

    Examples
    --------
    >>> np = import_optional("numpy", "core")
    >>> np.__name__
    'numpy'
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        why = f" to {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"the optional package {module!r} is needed{why}; "
            f"install it with: pip install 'imagedata[{extra}]'"
        ) from err
