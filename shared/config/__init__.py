"""Config: one YAML file per role (edge, hub), one frozen model per subsystem.

Unknown keys are rejected and every error names the file and the key path.
Secrets never live in the files: they come from the environment.
"""

from shared.config.base import ConfigModel, load_config

__all__ = ["ConfigModel", "load_config"]
