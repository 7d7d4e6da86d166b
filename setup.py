"""The one compiled piece: the stripe extraction's inner loops (issue 16), built by
``pip install`` (``make venv``) where the machine has a C compiler. Optional: without one the
install goes on, and the vision uses its numpy passes, which give the same results bit for
bit (tests/test_vision.py holds them to it), only slower."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "cellctl.sensing.vision._stripe",
            ["cellctl/sensing/vision/_stripe.c"],
            extra_compile_args=["-O2", "-std=c99"],
            optional=True,
        )
    ]
)
