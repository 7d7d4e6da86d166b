"""The one compiled piece: the stripe extraction's inner loops (issue 16), built by
``pip install`` (``make venv``) with the C compiler every machine of the project has."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "cellctl.sensing.vision._stripe",
            ["cellctl/sensing/vision/_stripe.c"],
            extra_compile_args=["-O2", "-std=c99"],
        )
    ]
)
