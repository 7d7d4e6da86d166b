"""A procedure's settings against the ranges its qualification (WPQR, ISO 15614-1) covers.

A WPS may be used only inside the ranges of the procedure qualification record it cites
(ISO 15607, 15609-1): a setpoint or a monitoring band that reaches outside them would let the
cell weld, and record as good, a seam that no qualification covers. The config check
(``cellctl.config.load``) reports each problem here at its file, line and field.
"""

from __future__ import annotations

from cellctl.config.models import Procedure, Seam
from cellctl.config.yaml_lines import Location

# The quantities a WPS sets and monitors that its qualification bounds (setpoint, band).
QUALIFIED_SETTINGS = ("current_a", "voltage_v", "travel_speed_mm_per_s")


def procedure_problems(procedure: Procedure) -> list[tuple[Location, str]]:
    """(where in the procedure file, what) for every setting outside its qualified range."""
    qualified = procedure.qualified
    if qualified is None:
        return []
    problems: list[tuple[Location, str]] = []
    for field in QUALIFIED_SETTINGS:
        allowed = getattr(qualified, field)
        value = getattr(procedure, field)
        if not allowed.contains(value):
            problems.append(
                (
                    (field,),
                    f"{value:g} lies outside the range qualified by {procedure.wpqr} "
                    f"({allowed.min:g}..{allowed.max:g})",
                )
            )
        band = getattr(procedure.bands, field)
        if band is not None and (band.min < allowed.min or band.max > allowed.max):
            problems.append(
                (
                    ("bands", field),
                    f"band {band.min:g}..{band.max:g} reaches outside the range qualified by "
                    f"{procedure.wpqr} ({allowed.min:g}..{allowed.max:g}): a seam in band "
                    "could be unqualified",
                )
            )
    heat_input = procedure.nominal_heat_input_kj_per_mm
    allowed = qualified.heat_input_kj_per_mm
    if not allowed.contains(heat_input):
        problems.append(
            (
                ("qualified", "heat_input_kj_per_mm"),
                f"the setpoints give a heat input of {heat_input:.3f} kJ/mm (0.8 x "
                f"{procedure.voltage_v:g} V x {procedure.current_a:g} A / "
                f"{procedure.travel_speed_mm_per_s:g} mm/s), outside the qualified "
                f"{allowed.min:g}..{allowed.max:g} kJ/mm",
            )
        )
    return problems


def thickness_problem(seam: Seam, procedure: Procedure) -> str | None:
    """What is wrong with welding ``seam``'s plates with ``procedure`` (None: nothing)."""
    if procedure.qualified is None or seam.plate_thickness_mm is None:
        return None
    allowed = procedure.qualified.plate_thickness_mm
    if allowed.contains(seam.plate_thickness_mm):
        return None
    return (
        f"plate {seam.plate_thickness_mm:g} mm lies outside the thickness range "
        f"{allowed.min:g}..{allowed.max:g} mm that procedure {procedure.name!r} is qualified "
        f"for ({procedure.wpqr})"
    )
