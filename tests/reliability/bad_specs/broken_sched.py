"""A custom schedule module that fails on import (bad_specs/custom_schedule_import_raises.toml)."""

raise RuntimeError("this module is broken on purpose")
