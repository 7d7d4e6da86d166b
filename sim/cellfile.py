"""The simulator's own reading of a cell config: just the device sections it needs.

The simulator may not import the controller's config loader (it plays the hardware, which knows
nothing of cellctl), so it reads the YAML itself and validates each device section with the
drivers' settings types, which both ends share.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from drivers.codecs.settings import PlcSettings, PowerSourceSettings, RobotSettings


class CellFileError(Exception):
    pass


@dataclass(frozen=True)
class CellDevices:
    name: str
    plc: PlcSettings
    power_source: PowerSourceSettings
    robot: RobotSettings
    sensor: dict
    # The barcode scanner's port (``traceability.scanner.port``), when the cell has one.
    scanner_port: str | None = None
    # For the simulated sensor's true part: the part program on the fixture.
    config_path: Path | None = None
    active_part_file: Path | None = None
    procedures_dir: Path = Path("procedures")  # where the part program's procedures are
    # The torch's service: where the TCP checker stands (sim.devices.touch), the station.
    torch_service: dict | None = None
    # A robot that owns its motion restarts a held seam this far back along it, over the
    # bead (its arc package's backtrack, set to the controller's ``arc.restart_overlap_mm``).
    restart_overlap_mm: float = 10.0


def load_cell_devices(path: str | Path) -> CellDevices:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CellFileError(f"{path}: {error}") from error
    if not isinstance(data, dict):
        raise CellFileError(f"{path}: expected a mapping at the top")
    sections = {}
    for key, model in (
        ("plc", PlcSettings),
        ("power_source", PowerSourceSettings),
        ("robot", RobotSettings),
    ):
        try:
            sections[key] = model.model_validate(data.get(key))
        except ValidationError as error:
            raise CellFileError(
                f"{path}: section {key} is invalid (run `cellctl config check {path}`):\n{error}"
            ) from error
    name = str((data.get("cell") or {}).get("name", "cell"))
    return CellDevices(
        name=name,
        sensor=dict(data.get("sensor") or {}),
        scanner_port=((data.get("traceability") or {}).get("scanner") or {}).get("port"),
        config_path=path,
        active_part_file=_active_part_file(path, data),
        procedures_dir=path.parent / str(data.get("procedures_dir") or "procedures"),
        torch_service=dict(data.get("torch_service") or {}),
        restart_overlap_mm=float(
            ((data.get("controller") or {}).get("arc") or {}).get("restart_overlap_mm", 10.0)
        ),
        **sections,
    )


def _active_part_file(path: Path, data: dict) -> Path | None:
    """The part program the cell welds (``controller.cycle.active_part``, else the first)."""
    parts = [path.parent / p for p in data.get("parts") or []]
    wanted = ((data.get("controller") or {}).get("cycle") or {}).get("active_part")
    for part in parts:
        if wanted is None:
            return part
        try:
            name = (yaml.safe_load(part.read_text(encoding="utf-8")) or {}).get("name")
        except (OSError, yaml.YAMLError):
            continue
        if name == wanted:
            return part
    return parts[0] if parts else None
