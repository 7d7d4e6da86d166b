"""The base of every config data type, shared by the drivers, the controller and the simulator."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base of every config data type: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
