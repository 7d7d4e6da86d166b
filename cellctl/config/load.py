"""Loading a cell config and everything it references, with every error collected.

``load_cell_config(path)`` reads ``cell.yaml``, the part programs it lists and the procedures
those name, validates each file against its model and then the checks that span files. It
raises ``ConfigInvalid`` with every error found, each naming file, line and field; it never stops
at the first one, and it never writes anything.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cellctl.config import qualification
from cellctl.config.certificates import certificate_problem
from cellctl.config.errors import ConfigError, ConfigInvalid, show_value, validation_errors
from cellctl.config.models import (
    PART_TEMPERATURE_INPUT,
    CellConfig,
    PartProgram,
    Procedure,
    Seam,
    TrackingSource,
    pass_table_problems,
    rescan_problems,
)
from cellctl.config.touch_models import TouchSearches
from cellctl.config.yaml_lines import Location, YamlDocument, load_yaml
from drivers.codecs.power_source_protocol import ARC_SENSING_INPUTS
from drivers.codecs.robot_job import ROBOT_TOUCH_INPUTS, ROBOT_TOUCH_OUTPUTS
from drivers.codecs.seam_path import PathError, SeamPath, arc_about, lookahead_offsets
from drivers.codecs.serial_text import SERIAL_ACK_OUTPUT, SERIAL_INPUTS
from drivers.codecs.settings import PowerSourceLimits, RobotLimits
from drivers.robot.owned import ROBOT_JOB_INPUTS, ROBOT_JOB_OUTPUTS

Model = TypeVar("Model", bound=BaseModel)


@dataclass
class LoadedConfig:
    """A validated cell config with its procedures and part programs, and the exact files."""

    path: Path
    cell: CellConfig
    procedures: dict[str, Procedure]
    parts: dict[str, PartProgram]  # by part name
    part_files: dict[str, Path]  # part name -> file
    files: dict[str, str] = field(default_factory=dict)  # path relative to cell.yaml -> text

    @property
    def active_part(self) -> PartProgram:
        """The part program Start welds."""
        name = self.cell.controller.cycle.active_part
        return self.parts[name] if name else next(iter(self.parts.values()))

    def resolve(self, relative: str) -> Path:
        """A path from the config, relative to the cell config's folder unless absolute."""
        path = Path(relative)
        return path if path.is_absolute() else (self.path.parent / path).resolve()

    @property
    def digest(self) -> str:
        """SHA-256 over every file's path and text: the identity of this config version."""
        sha = hashlib.sha256()
        for name in sorted(self.files):
            sha.update(name.encode() + b"\0" + self.files[name].encode() + b"\0")
        return sha.hexdigest()


@dataclass
class _File:
    path: Path
    document: YamlDocument
    text: str


def _read(path: Path, errors: list[ConfigError]) -> _File | None:
    try:
        document = load_yaml(path)
    except (OSError, UnicodeDecodeError) as error:
        errors.append(ConfigError(path, 1, (), f"cannot read: {error}"))
        return None
    for problem in document.problems:
        errors.append(ConfigError(path, problem.line, problem.location, problem.message))
    if document.problems:
        return None
    if not isinstance(document.data, dict):
        errors.append(
            ConfigError(
                path, 1, (), f"expected a mapping of key: value, got {show_value(document.data)}"
            )
        )
        return None
    return _File(path, document, document.text)


def _validate(model: type[Model], file: _File, errors: list[ConfigError]) -> Model | None:
    try:
        return model.model_validate(file.document.data)
    except ValidationError as error:
        errors.extend(validation_errors(error, file.document, file.path, model))
        return None


def _error(file: _File, location: Location, message: str) -> ConfigError:
    return ConfigError(file.path, file.document.line_of(location), location, message)


def load_procedure(path: Path) -> Procedure:
    """One procedure file on its own (``cellctl config check`` on a single WPS)."""
    errors: list[ConfigError] = []
    file = _read(path, errors)
    procedure = _validate(Procedure, file, errors) if file else None
    if errors or procedure is None:
        raise ConfigInvalid(errors)
    return procedure


def load_cell_config(path: Path) -> LoadedConfig:
    """Load and check ``path`` (a cell.yaml) and everything it references."""
    path = Path(path)
    errors: list[ConfigError] = []
    cell_file = _read(path, errors)
    if cell_file is None:
        raise ConfigInvalid(errors)
    cell = _validate(CellConfig, cell_file, errors)
    base = path.parent
    files: dict[str, str] = {path.name: cell_file.text}

    # The laser sensor's calibration file, when the sensor is on (cellctl calibrate writes it).
    if cell is not None and cell.sensor.enabled:
        calibration = Path(cell.sensor.calibration_file)
        calibration = calibration if calibration.is_absolute() else base / calibration
        if not calibration.is_file():
            errors.append(
                _error(
                    cell_file,
                    ("sensor", "calibration_file"),
                    f"sensor calibration not found: {calibration} (run `cellctl calibrate`)",
                )
            )

    # The OPC UA server's certificate and key, when the config names them.
    if cell is not None and cell.opcua.enabled and cell.opcua.certificate is not None:
        errors += _check_certificate(cell, cell_file, base)
    if cell is not None and cell.sparkplug.enabled:
        for key in ("tls_ca_file", "tls_certificate", "tls_private_key"):
            named = getattr(cell.sparkplug, key)
            if named is None:
                continue
            errors += _readable_file(cell_file, ("sparkplug", key), base / named)
    if cell is not None and cell.opcua.enabled and cell.opcua.trusted_clients is not None:
        trusted = base / cell.opcua.trusted_clients
        if not trusted.is_dir():
            errors.append(
                _error(cell_file, ("opcua", "trusted_clients"), f"no such folder: {trusted}")
            )

    # Part programs: validate every listed file even when the cell file has errors elsewhere.
    raw_parts = cell_file.document.data.get("parts")
    part_paths = raw_parts if isinstance(raw_parts, list) else []
    raw_procedures_dir = cell_file.document.data.get("procedures_dir", "procedures")
    procedures_dir = base / (raw_procedures_dir if isinstance(raw_procedures_dir, str) else "")

    parts: dict[str, PartProgram] = {}
    part_files: dict[str, Path] = {}
    part_sources: dict[str, _File] = {}
    for index, relative in enumerate(part_paths):
        if not isinstance(relative, str):
            continue  # the model check above has reported it
        if Path(relative).is_absolute() or ".." in Path(relative).parts:
            # The config names its own files: a part program outside its folder would be
            # read (and its text stored with every part) from wherever the name points.
            errors.append(
                _error(
                    cell_file,
                    ("parts", index),
                    f'part program "{relative}" must be a path inside the config folder '
                    f"{base} (not absolute, no ..)",
                )
            )
            continue
        part_path = base / relative
        if not part_path.is_file():
            errors.append(
                _error(cell_file, ("parts", index), f"part program file not found: {part_path}")
            )
            continue
        part_file = _read(part_path, errors)
        if part_file is None:
            continue
        files[relative] = part_file.text
        part = _validate(PartProgram, part_file, errors)
        if part is None:
            continue
        if part.name in parts:
            errors.append(
                _error(
                    part_file,
                    ("name",),
                    f'part name "{part.name}" is also used by {part_files[part.name]}',
                )
            )
            continue
        parts[part.name] = part
        part_files[part.name] = part_path
        part_sources[part.name] = part_file

    # Procedures: each one named by a seam, loaded once.
    procedures: dict[str, Procedure] = {}
    procedure_sources: dict[str, _File] = {}
    missing: set[str] = set()  # no such file: reported at every seam that names it
    invalid: set[str] = set()  # file has errors: reported once, in the file itself
    for part_name, part in parts.items():
        part_file = part_sources[part_name]
        for seam_index, seam in enumerate(part.seams):
            for pass_index, pass_field, problem in pass_table_problems(seam):
                location = ("seams", seam_index, "passes", pass_index, pass_field)
                errors.append(_error(part_file, location, problem))
            for rescan_field, problem in rescan_problems(seam):
                location = ("seams", seam_index, "rescan")
                if rescan_field != "rescan":
                    location = (*location, rescan_field)
                errors.append(_error(part_file, location, problem))
            for name, where in _seam_procedures(seam_index, seam):
                if name in procedures or name in invalid:
                    continue
                proc_path = procedures_dir / f"{name}.yaml"
                if name in missing or not proc_path.is_file():
                    missing.add(name)
                    errors.append(_missing_procedure(part_file, where, name, procedures_dir))
                    continue
                proc_file = _read(proc_path, errors)
                if proc_file is None:
                    invalid.add(name)
                    continue
                files[str(proc_path.relative_to(base))] = proc_file.text
                procedure = _validate(Procedure, proc_file, errors)
                if procedure is None:
                    invalid.add(name)
                    continue
                if procedure.name != name:
                    errors.append(
                        _error(
                            proc_file,
                            ("name",),
                            f'name "{procedure.name}" differs from its file name "{name}"; '
                            "seams find a procedure by its file name",
                        )
                    )
                procedures[name] = procedure
                procedure_sources[name] = proc_file

    # The checks against the devices need only the robot and power source sections: run them
    # even when another part of the cell file is wrong, so that one pass lists every error.
    robot_limits = _section(RobotLimits, cell_file, ("robot", "limits"))
    power_limits = _section(PowerSourceLimits, cell_file, ("power_source", "limits"), {})
    if robot_limits is not None and power_limits is not None:
        errors += _check_against_cell(
            robot_limits, power_limits, parts, part_sources, procedures, procedure_sources
        )

    if cell is not None:
        errors += _check_thermometer(cell, procedures, procedure_sources)
        errors += _check_pass_tracking(cell, parts, part_sources, procedures)
        errors += _check_reversed_weaves(parts, part_sources, procedures)
        errors += _check_lookahead(cell, base, parts, part_sources)
    if cell is not None and cell.robot.owns_motion:
        errors += _check_robot_jobs(cell, cell_file, parts, part_sources)
    errors += _check_qualification(parts, part_sources, procedures, procedure_sources)

    if cell is not None and "plc" in cell.traceability.serial.sources:
        registers = cell.plc.registers
        missing = [n for n in SERIAL_INPUTS if n not in registers.inputs]
        missing += [SERIAL_ACK_OUTPUT] if SERIAL_ACK_OUTPUT not in registers.outputs else []
        if missing:
            errors.append(
                _error(
                    cell_file,
                    ("traceability", "serial", "sources"),
                    f"serials from the plc need its register map to have {', '.join(missing)} "
                    "(drivers/codecs/serial_text.py; addresses 30-47 in, 130 out)",
                )
            )
    if cell is not None and parts:
        for number, program in cell.traceability.work_orders.part_numbers.items():
            if program not in parts:
                errors.append(
                    _error(
                        cell_file,
                        ("traceability", "work_orders", "part_numbers", number),
                        f'"{program}" is not one of the part programs ({", ".join(sorted(parts))})',
                    )
                )
        active = cell.controller.cycle.active_part
        if active is not None and active not in parts:
            errors.append(
                _error(
                    cell_file,
                    ("controller", "cycle", "active_part"),
                    f'"{active}" is not one of the part programs ({", ".join(sorted(parts))})',
                )
            )

    if errors:
        raise ConfigInvalid(_sorted(errors))
    assert cell is not None
    return LoadedConfig(path, cell, procedures, parts, part_files, files)


def _check_pass_tracking(
    cell: CellConfig,
    parts: dict[str, PartProgram],
    part_sources: dict[str, _File],
    procedures: dict[str, Procedure],
) -> list[ConfigError]:
    """Each pass's ``tracking`` possible in this cell: arc sensing needs a weave in the pass's
    procedure and the power source's arc-sensing inputs; the laser tracks only a root pass,
    of a seam whose sensing tracks, in a cell with its sensor enabled."""
    errors: list[ConfigError] = []
    arc_inputs = [n for n in ARC_SENSING_INPUTS if n not in cell.power_source.registers.inputs]
    for part_name, part in parts.items():
        part_file = part_sources[part_name]
        for seam_index, seam in enumerate(part.seams):
            for pass_index, weld_pass in enumerate(seam.passes):
                where = ("seams", seam_index, "passes", pass_index, "tracking")
                source = weld_pass.tracking
                if source is TrackingSource.ARC:
                    name = seam.pass_procedure(pass_index)
                    procedure = procedures.get(name)
                    if (
                        procedure is not None
                        and not procedure.weave.shape(procedure.travel_speed_mm_per_s).weaving
                    ):
                        errors.append(
                            _error(
                                part_file,
                                where,
                                f'arc tracking needs a weave, and procedure "{name}" of this '
                                "pass has none (weave.pattern)",
                            )
                        )
                    if arc_inputs:
                        errors.append(
                            _error(
                                part_file,
                                where,
                                "arc tracking needs the power source's arc-sensing inputs; "
                                f"power_source.registers.inputs lacks {', '.join(arc_inputs)}",
                            )
                        )
                elif source is TrackingSource.LASER:
                    if pass_index > 0:
                        problem = (
                            "the laser tracks only the root pass (a later pass cannot be "
                            "seen in the filling groove): use arc or none"
                        )
                    elif not seam.sensing.tracking:
                        problem = "laser tracking, yet the seam's sensing.tracking is false"
                    elif not cell.sensor.enabled:
                        problem = "laser tracking, yet the cell's sensor is not enabled"
                    else:
                        continue
                    errors.append(_error(part_file, where, problem))
    return errors


def _check_reversed_weaves(
    parts: dict[str, PartProgram],
    part_sources: dict[str, _File],
    procedures: dict[str, Procedure],
) -> list[ConfigError]:
    """A reversed pass runs its procedure's weave mirrored (``WeaveShape.mirrored``): the
    mirror must be a weave the robot can run too (an ``l`` weave's plane angle below 0 has
    none)."""
    errors: list[ConfigError] = []
    for part_name, part in parts.items():
        for seam_index, seam in enumerate(part.seams):
            for pass_index, weld_pass in enumerate(seam.passes):
                procedure = procedures.get(seam.pass_procedure(pass_index))
                if not weld_pass.reversed or procedure is None:
                    continue
                mirrored = procedure.weave.shape(procedure.travel_speed_mm_per_s).mirrored()
                errors += [
                    _error(
                        part_sources[part_name],
                        ("seams", seam_index, "passes", pass_index, "reversed"),
                        f'a reversed pass runs the weave of procedure "{procedure.name}" '
                        f"mirrored, and mirrored it cannot run: {problem}",
                    )
                    for problem in mirrored.problems()
                ]
    return errors


def _seam_procedures(seam_index: int, seam: Seam) -> list[tuple[str, Location]]:
    """The procedures a seam names, each with where: its own, and its passes'."""
    named: list[tuple[str, Location]] = [(seam.procedure, ("seams", seam_index, "procedure"))]
    for pass_index, weld_pass in enumerate(seam.passes):
        if weld_pass.procedure is not None:
            location = ("seams", seam_index, "passes", pass_index, "procedure")
            named.append((weld_pass.procedure, location))
    return named


def _check_certificate(cell: CellConfig, cell_file: _File, base: Path) -> list[ConfigError]:
    """Each file there and readable, a certificate and a key of one pair."""
    opcua = cell.opcua
    assert opcua.certificate is not None
    assert opcua.private_key is not None
    paths = {
        "certificate": base / opcua.certificate,
        "private_key": base / opcua.private_key,
    }
    errors = [
        error
        for key, path in paths.items()
        for error in _readable_file(cell_file, ("opcua", key), path)
    ]
    if not errors:
        problem = certificate_problem(paths["certificate"], paths["private_key"])
        if problem is not None:
            errors.append(_error(cell_file, ("opcua", "certificate"), problem))
    return errors


def _readable_file(cell_file: _File, where: Location, path: Path) -> list[ConfigError]:
    """A file the config names: there, and readable (else the error at its key)."""
    if not path.is_file():
        return [_error(cell_file, where, f"file not found: {path}")]
    if not os.access(path, os.R_OK):
        return [_error(cell_file, where, f"cannot be read: {path}")]
    return []


def _missing_procedure(part_file: _File, where: Location, name: str, folder: Path) -> ConfigError:
    known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
    hint = f" (known: {', '.join(known)})" if known else ""
    return _error(
        part_file,
        where,
        f'procedure "{name}" not found: no file {folder / (name + ".yaml")}{hint}',
    )


def _section(
    model: type[Model], file: _File, keys: tuple[str, ...], default: object = None
) -> Model | None:
    """One section of the cell file validated on its own (its errors are already reported)."""
    data: object = file.document.data
    for key in keys:
        data = data.get(key, default) if isinstance(data, dict) else None
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


# A joint is measured from its faces either side: this much of each must be in the sensor's view.
JOINT_FACES_IN_VIEW_MM = 3.0


def _check_lookahead(
    cell: CellConfig, base: Path, parts: dict[str, PartProgram], part_sources: dict[str, _File]
) -> list[ConfigError]:
    """A tracked curved seam whose laser line (``sensor.lookahead_mm`` ahead of the torch,
    across its travel) leaves the seam for longer than tracking may coast
    (``sensor.tracking.coast_mm``: then it faults, F151): on an arc or a blend tighter than
    the look-ahead it never crosses it; round a gentler one, or a blended corner, it crosses
    it off its centre by more than the sensor sees (its calibrated field, less the joint's
    faces). Reported at the segment the torch is on where that stretch begins, with what to
    change."""
    if not cell.sensor.enabled:
        return []
    lookahead = cell.sensor.lookahead_mm
    calibration = Path(cell.sensor.calibration_file)
    field = calibrated_field_mm(calibration if calibration.is_absolute() else base / calibration)
    if field is None:
        return []  # a missing or broken calibration is reported on its own
    half_view = min(abs(field[0]), abs(field[1])) - JOINT_FACES_IN_VIEW_MM
    errors: list[ConfigError] = []
    for part_name, part in parts.items():
        for seam_index, seam in enumerate(part.seams):
            if seam.path is None or not (seam.sensing.tracking or seam.sensing.seam_finding):
                continue
            try:
                path = seam.path.build()
            except PathError:
                continue  # reported with the robot's limits
            if not path.curved:
                continue
            offsets = lookahead_offsets(path, lookahead, LOOKAHEAD_STEP_MM)
            stretch = _longest_out_of_view(offsets, half_view)
            if stretch is None or stretch[1] - stretch[0] <= cell.sensor.tracking.coast_mm:
                continue
            start, end, worst = stretch
            where = ("seams", seam_index, "path", "segments", _segment_at(seam, path, start))
            seen = (
                "does not cross the seam at all (the path turns away tighter than the look-ahead)"
                if worst is None
                else f"crosses the seam up to {worst:.1f} mm off its centre, where the sensor "
                f"sees {half_view:.1f} mm either side (its field less "
                f"{JOINT_FACES_IN_VIEW_MM:g} mm for the joint's faces)"
            )
            coast = cell.sensor.tracking.coast_mm
            problem = (
                f"from {start:.0f} to {end:.0f} mm along the seam the sensor's laser line, "
                f"{lookahead:g} mm ahead of the torch (sensor.lookahead_mm), {seen}: longer "
                f"than tracking may coast (sensor.tracking.coast_mm {coast:g})"
            )
            errors.append(
                _error(
                    part_sources[part_name],
                    where,
                    f"{problem}; give the arc a larger radius, or the sensor a shorter look-ahead",
                )
            )
    return errors


LOOKAHEAD_STEP_MM = 1.0  # the torch's positions the look-ahead is checked from


def _longest_out_of_view(
    offsets: list[tuple[float, float | None]], half_view_mm: float
) -> tuple[float, float, float | None] | None:
    """The longest stretch of torch positions from which the seam lies out of the sensor's
    view: (start, end, the furthest offset seen in it, None if the line misses the seam)."""
    best: tuple[float, float, float | None] | None = None
    run: list[tuple[float, float | None]] = []
    for s, offset in [*offsets, (math.inf, 0.0)]:
        if offset is None or abs(offset) > half_view_mm:
            run.append((s, offset))
            continue
        if run:
            seen = [abs(o) for _, o in run if o is not None]
            worst = None if len(seen) < len(run) else max(seen)
            if best is None or run[-1][0] - run[0][0] > best[1] - best[0]:
                best = (run[0][0], run[-1][0], worst)
            run = []
    return best


def calibrated_field_mm(path: Path) -> tuple[float, float] | None:
    """How far the sensor sees across the seam at its tool point: the sensor-frame x of the
    line (x, 0, 0) where it leaves the image's first and last column, from the calibration
    file's pinhole (its lens distortion, a few hundredths of a pixel at the edges, left out);
    None if the file cannot be read (its own check reports it)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        camera = data["camera"]
        fx, cx, width = float(camera["fx"]), float(camera["cx"]), int(camera["width_px"])
        rotation = [[float(v) for v in row] for row in data["camera_rotation"]]
        position = [float(v) for v in data["camera_position_mm"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        return None
    # The camera's coordinates of (x, 0, 0): R (p - C), so u = fx (a x + b) / (c x + d) + cx.
    a, c = rotation[0][0], rotation[2][0]
    b = -sum(rotation[0][k] * position[k] for k in range(3))
    d = -sum(rotation[2][k] * position[k] for k in range(3))
    edges = []
    for column in (0.0, width - 1.0):
        denominator = fx * a - (column - cx) * c
        if abs(denominator) < 1e-9:
            return None
        edges.append(((column - cx) * d - fx * b) / denominator)
    return edges[0], edges[1]


def _segment_at(seam: Seam, path: SeamPath, s_mm: float) -> int:
    """The index of the part program's segment the path is on ``s_mm`` along it."""
    assert seam.path is not None
    at = seam.path.start
    ends = []
    for segment in seam.path.segments:
        spec = segment.model_dump(exclude_none=True)
        kind, values = next(iter(spec.items()))
        if kind == "line":
            at = values["to"]
        elif "to" in values:
            at = values["to"]
        else:
            at = arc_about(at, values["centre"], values["sweep_deg"]).end
        ends.append(path.length_mm if path.closed else path.locate(at)[0])
    for index, end in enumerate(ends):
        if s_mm <= end + 1e-6:
            return index
    return len(ends) - 1


def _check_against_cell(
    limits: RobotLimits,
    source: PowerSourceLimits,
    parts: dict[str, PartProgram],
    part_sources: dict[str, _File],
    procedures: dict[str, Procedure],
    procedure_sources: dict[str, _File],
) -> list[ConfigError]:
    """Checks that need the cell's devices: workspace, speed and setpoint limits."""
    errors: list[ConfigError] = []
    workspace = limits.workspace_mm
    for part_name, part in parts.items():
        part_file = part_sources[part_name]
        for seam_index, seam in enumerate(part.seams):
            if seam.path is not None:
                try:
                    built = seam.path.build(limits.min_arc_radius_mm)
                except PathError as error:
                    errors.append(
                        _error(part_file, ("seams", seam_index, "path", *error.where), str(error))
                    )
                    continue
                where_points = [(("seams", seam_index, "path"), p) for p in built.sampled(5.0)]
            else:
                assert seam.path_mm is not None
                where_points = [
                    (("seams", seam_index, "path_mm", i), p) for i, p in enumerate(seam.path_mm)
                ]
            for where, point in where_points:
                if not workspace.contains(point):
                    errors.append(
                        _error(
                            part_file,
                            where,
                            f"point {[round(c, 1) for c in point]} mm is outside the robot's "
                            f"workspace (x {workspace.x.min:g}..{workspace.x.max:g}, "
                            f"y {workspace.y.min:g}..{workspace.y.max:g}, "
                            f"z {workspace.z.min:g}..{workspace.z.max:g} mm)",
                        )
                    )
                    if seam.path is not None:
                        break  # one error per curved path, not one per sampled point
            start = where_points[0][1]
            approach = (start[0], start[1], start[2] + seam.approach_clearance_mm)
            if workspace.contains(start) and not workspace.contains(approach):
                errors.append(
                    _error(
                        part_file,
                        ("seams", seam_index, "approach_clearance_mm"),
                        f"approach point {list(approach)} mm is outside the robot's workspace",
                    )
                )
            for name, where in _seam_procedures(seam_index, seam):
                procedure = procedures.get(name)
                if procedure and procedure.travel_speed_mm_per_s > limits.max_speed_mm_per_s:
                    errors.append(
                        _error(
                            part_file,
                            where,
                            f'procedure "{name}" travels at '
                            f"{procedure.travel_speed_mm_per_s:g} mm/s, above the robot's "
                            f"max_speed_mm_per_s {limits.max_speed_mm_per_s:g}",
                        )
                    )
    for part_name, part in parts.items():
        errors.extend(_check_touch_searches(part, part_sources[part_name], limits))
    for name, procedure in procedures.items():
        proc_file = procedure_sources[name]
        errors.extend(_check_weave(procedure, proc_file, limits))
        for field_name, limit_name, limit in (
            ("current_a", "max_current_a", source.max_current_a),
            ("voltage_v", "max_voltage_v", source.max_voltage_v),
            ("wire_feed_m_per_min", "max_wire_feed_m_per_min", source.max_wire_feed_m_per_min),
        ):
            value = getattr(procedure, field_name)
            if value > limit:
                errors.append(
                    _error(
                        proc_file,
                        (field_name,),
                        f"{value:g} is above the power source's {limit_name} {limit:g}",
                    )
                )
    return errors


def _check_robot_jobs(
    cell: CellConfig,
    cell_file: _File,
    parts: dict[str, PartProgram],
    part_sources: dict[str, _File],
) -> list[ConfigError]:
    """A robot that owns its motion: every seam names a job the robot has, and the PLC's map
    carries the job's signals (``drivers.robot.owned``)."""
    errors: list[ConfigError] = []
    interface = cell.robot.interface
    for part_name, part in parts.items():
        part_file = part_sources[part_name]
        for seam_index, seam in enumerate(part.seams):
            if seam.robot_job is None:
                errors.append(
                    _error(
                        part_file,
                        ("seams", seam_index),
                        f'seam "{seam.name}" needs robot_job: the robot ({interface}) runs its '
                        "own job for every seam",
                    )
                )
            elif seam.robot_job not in cell.robot.jobs:
                known = ", ".join(sorted(cell.robot.jobs)) or "none"
                errors.append(
                    _error(
                        part_file,
                        ("seams", seam_index, "robot_job"),
                        f'robot job "{seam.robot_job}" has no number in robot.jobs of '
                        f"{cell_file.path.name} (known: {known})",
                    )
                )
            if seam.sensing.seam_finding.by_touch and seam.sensing.seam_finding.by_laser:
                # (cellctl.weld.owned_search finds by the laser or by the job's touches,
                # not by both one after the other.)
                errors.append(
                    _error(
                        part_file,
                        ("seams", seam_index, "sensing", "seam_finding"),
                        f'seam "{seam.name}": seam_finding {seam.sensing.seam_finding} needs '
                        f"robot.interface serial: touch then laser through the robot's own "
                        f"job ({interface}) is not built; choose touch or laser",
                    )
                )
        if part.touch_frame is not None:
            untouched = [s.name for s in part.seams if not s.sensing.seam_finding.by_touch]
            if untouched:
                # (The frame's searches run in the job of a seam found by touch: a seam found
                # otherwise would be welded without the frame.)
                errors.append(
                    _error(
                        part_file,
                        ("touch_frame",),
                        f"touch_frame on robot.interface {interface} is found by the jobs of "
                        f"seams found by touch; seam_finding of {', '.join(untouched)} is not "
                        "touch",
                    )
                )
    touching = [
        name
        for name, part in parts.items()
        if part.touch_frame is not None
        or any(seam.sensing.seam_finding.by_touch for seam in part.seams)
    ]
    registers = cell.plc.registers
    for kind, names, table in (
        ("inputs", ROBOT_JOB_INPUTS, registers.inputs),
        ("outputs", ROBOT_JOB_OUTPUTS, registers.outputs),
        # Touch sensing through the job (cellctl.weld.owned_touch), where a part touches.
        ("inputs", ROBOT_TOUCH_INPUTS if touching else (), registers.inputs),
        ("outputs", ROBOT_TOUCH_OUTPUTS if touching else (), registers.outputs),
    ):
        absent = [name for name in names if name not in table]
        if absent:
            errors.append(
                _error(
                    cell_file,
                    ("plc", "registers", kind),
                    f"robot.interface {interface} needs the robot job's signals; "
                    f"{kind} lack {', '.join(absent)}",
                )
            )
    return errors


def _check_qualification(
    parts: dict[str, PartProgram],
    part_sources: dict[str, _File],
    procedures: dict[str, Procedure],
    procedure_sources: dict[str, _File],
) -> list[ConfigError]:
    """Each procedure's settings inside its qualified ranges (in its file), and each seam's
    plate thickness inside the range of every procedure it welds with (in the part program)."""
    errors = [
        _error(procedure_sources[name], where, message)
        for name, procedure in procedures.items()
        for where, message in qualification.procedure_problems(procedure)
    ]
    for part_name, part in parts.items():
        for seam_index, seam in enumerate(part.seams):
            for name, _where in _seam_procedures(seam_index, seam):
                procedure = procedures.get(name)
                problem = procedure and qualification.thickness_problem(seam, procedure)
                if problem:
                    location = ("seams", seam_index, "plate_thickness_mm")
                    errors.append(_error(part_sources[part_name], location, problem))
    return errors


def _check_touch_searches(
    part: PartProgram, part_file: _File, limits: RobotLimits
) -> list[ConfigError]:
    """Every touch search starts, and would end, inside the robot's workspace."""
    workspace = limits.workspace_mm
    groups: list[tuple[Location, TouchSearches]] = []
    if part.touch_frame is not None:
        groups.append((("touch_frame",), part.touch_frame))
    for seam_index, seam in enumerate(part.seams):
        if seam.sensing.touch is not None:
            groups.append((("seams", seam_index, "sensing", "touch"), seam.sensing.touch))
    errors = []
    for where, group in groups:
        for index, search in enumerate(group.searches):
            ends = (("start_mm", search.start_mm), ("distance_mm", search.end_mm))
            for field_name, point in ends:
                if not workspace.contains(point):
                    what = "starts" if field_name == "start_mm" else "would end"
                    errors.append(
                        _error(
                            part_file,
                            (*where, "searches", index, field_name),
                            f"search {search.name!r} {what} at {[round(c, 1) for c in point]} "
                            f"mm, outside the robot's workspace (x {workspace.x.min:g}.."
                            f"{workspace.x.max:g}, y {workspace.y.min:g}..{workspace.y.max:g}, "
                            f"z {workspace.z.min:g}..{workspace.z.max:g} mm)",
                        )
                    )
    return errors


def _check_thermometer(
    cell: CellConfig, procedures: dict[str, Procedure], procedure_sources: dict[str, _File]
) -> list[ConfigError]:
    """A procedure with preheat and interpass limits needs the part's temperature: the PLC's
    input ``part_temperature_c``. Without it the limits would be validated and then ignored."""
    if PART_TEMPERATURE_INPUT in cell.plc.registers.inputs:
        return []
    return [
        _error(
            procedure_sources[name],
            ("temperature",),
            f"preheat and interpass limits need the part's temperature, but the PLC's register "
            f"map has no input {PART_TEMPERATURE_INPUT!r} (a pyrometer or contact sensor)",
        )
        for name, procedure in procedures.items()
        if procedure.temperature is not None
    ]


def _check_weave(procedure: Procedure, file: _File, limits: RobotLimits) -> list[ConfigError]:
    """The weave against the travel speed and what the robot can weave."""
    weave = procedure.weave
    if not weave.weaving:
        return []
    errors: list[ConfigError] = []
    speed = procedure.travel_speed_mm_per_s
    shape = weave.shape(speed)
    for field_name in ("amplitude_mm", "amplitude_left_mm", "amplitude_right_mm"):
        value = getattr(weave, field_name)
        if value is not None and value > limits.max_weave_amplitude_mm:
            errors.append(
                _error(
                    file,
                    ("weave", field_name),
                    f"{value:g} mm is above the robot's max_weave_amplitude_mm "
                    f"{limits.max_weave_amplitude_mm:g}",
                )
            )
    dwell_mm = shape.dwell_left_mm + shape.dwell_right_mm
    if weave.pitch_mm is not None and dwell_mm >= 0.9 * shape.pitch_mm:
        errors.append(
            _error(
                file,
                ("weave", "dwell_left_ms" if weave.dwell_left_ms else "dwell_right_ms"),
                f"the dwells ({weave.dwell_left_ms + weave.dwell_right_ms} ms, {dwell_mm:.2f} mm "
                f"at {speed:g} mm/s) leave too little of the {shape.pitch_mm:g} mm pitch to move",
            )
        )
    elif not shape.problems(limits.max_weave_amplitude_mm):
        peak = shape.peak_speed_ratio() * speed
        if peak > limits.max_weave_speed_mm_per_s:
            errors.append(
                _error(
                    file,
                    ("weave", "frequency_hz" if weave.frequency_hz is not None else "pitch_mm"),
                    f"the torch would swing across the seam at {peak:.0f} mm/s, above the "
                    f"robot's max_weave_speed_mm_per_s {limits.max_weave_speed_mm_per_s:g}: "
                    "a lower frequency (longer pitch) or a smaller amplitude",
                )
            )
    return errors


def _sorted(errors: list[ConfigError]) -> list[ConfigError]:
    return sorted(errors, key=lambda e: (str(e.file), e.line))
