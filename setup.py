"""The compiled pieces (issue 16), built by ``pip install`` (``make venv``) where the machine
has a C compiler:

- the controller's stripe extraction's inner loops (``cellctl.sensing.vision._stripe``);
- the simulated sensor's pixel passes (``sim.devices._sensor_render``): the simulator shares
  no code with the controller, so they are a module of their own.

Optional: without a compiler the install goes on, and each uses its numpy passes, only slower:
the vision's give the same results bit for bit, the simulator's the same frames within a gray
level (tests/test_vision.py holds them to it)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "cellctl.sensing.vision._stripe",
            ["cellctl/sensing/vision/_stripe.c"],
            extra_compile_args=["-O2", "-std=c99"],
            optional=True,
        ),
        Extension(
            "sim.devices._sensor_render",
            ["sim/devices/_sensor_render.c"],
            # -O3: the glare's saturating add is vectorised (at -O2 it took six times as long).
            extra_compile_args=["-O3", "-std=c99"],
            optional=True,
        ),
    ]
)
