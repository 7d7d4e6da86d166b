"""The cell's configuration: models, line-aware YAML loading, and checks across files."""

from cellctl.config.errors import ConfigError, ConfigInvalid
from cellctl.config.load import LoadedConfig, load_cell_config, load_procedure
from cellctl.config.models import CellConfig, PartProgram, Procedure, Seam

__all__ = [
    "CellConfig",
    "ConfigError",
    "ConfigInvalid",
    "LoadedConfig",
    "PartProgram",
    "Procedure",
    "Seam",
    "load_cell_config",
    "load_procedure",
]
