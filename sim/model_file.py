"""Reading a simulator data file (a scenario, a true part) into its pydantic model, with every
problem named by file and field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_model(path: Path, model: type[ModelT], error: type[Exception]) -> ModelT:
    """``model`` from the YAML file ``path``; ``error`` with one line per problem, each
    ``<path>: <field>: <message>``, if it cannot be read or does not fit."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return model.model_validate(data)
    except (OSError, yaml.YAMLError) as problem:
        raise error(f"{path}: {problem}") from problem
    except ValidationError as invalid:
        lines = [
            f"{path}: {'.'.join(str(part) for part in problem['loc']) or '(top)'}: {problem['msg']}"
            for problem in invalid.errors()
        ]
        raise error("\n".join(lines)) from invalid
