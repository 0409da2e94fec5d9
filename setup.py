"""Build the optional C walker of the DICOM header pass (imagedata._cwalk).

Everything else is configured in pyproject.toml.  The extension is optional: where no C
compiler is found, the install goes on and imagedata uses the pure-Python walker
(same results, slower; ``imagedata._fastscan.ACCELERATED`` tells which is in use).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "imagedata._cwalk",
            [
                "src/imagedata/_cwalk.c",
                "src/imagedata/_cwalk_fastenh.c",
                "src/imagedata/_cwalk_csa.c",
            ],
            depends=["src/imagedata/_cwalk_bytes.h"],
            optional=True,
        ),
    ]
)
