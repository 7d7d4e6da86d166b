"""Config of the seam recorder (cell.yaml ``sensor.recording:``): what the controller keeps of
each tracked seam so that ``cellctl replay`` can run it again offline
(``cellctl.sensing.recording``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from drivers.codecs.model import StrictModel


class RecordingSettings(StrictModel):
    """Off unless enabled. Frames are the bulk (a PNG each, ~10-40 kB at 640x480); the
    per-frame measurement log is always complete (a few hundred bytes a frame)."""

    enabled: bool = False
    # Relative to the cell config's folder. One sub-folder per tracked seam run.
    folder: str = "recordings"
    # Keep every Nth frame's image (1: all; a replay then reproduces the run exactly).
    every_nth_frame: Annotated[int, Field(ge=1, le=1000)] = 1
    # The whole recording folder stays under this. When it is reached: ``stop`` writes no
    # more frames (the log says so once per seam) until an engineer clears old runs;
    # ``drop_oldest_runs`` deletes the oldest recorded runs (the log names each) to make room.
    budget_mb: Annotated[float, Field(gt=0, le=1_000_000)] = 500.0
    when_full: Literal["stop", "drop_oldest_runs"] = "stop"
    # Frames waiting for the writer thread (each ~300 kB in memory at 640x480); when the disk
    # or the CPU falls behind further, frames are dropped (counted in the run's seam.json).
    write_queue_frames: Annotated[int, Field(ge=1, le=2000)] = 64
    # Whatever the budget, stop when the disk holding the folder has less than this free.
    min_free_disk_mb: Annotated[float, Field(ge=0)] = 200.0
