"""taskclf engine: formats, validation, the one feature builder and the per-bucket pipeline.

The engine is shared by the agent (online) and the trainer (offline). It imports numpy,
pydantic, platformdirs, the LightGBM C library (through ctypes) and the stdlib only.
"""

__version__ = "0.1.0"
