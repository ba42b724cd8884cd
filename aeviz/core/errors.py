"""Exceptions raised at aeviz's boundaries.

Each message says what was wrong, what was expected and what to do; the app
shows it verbatim in an ``st.error`` and the CLI prints it without a traceback.
"""


class AevizError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""


class DataError(AevizError, ValueError):
    """A dataset or uploaded file is missing, malformed or too large."""


class CheckpointError(AevizError, ValueError):
    """A checkpoint folder or file is refused (wrong format, corrupt, mismatched)."""


class ConfigError(AevizError, ValueError):
    """A model/training configuration or a user-supplied name is invalid."""


class ProjectionError(AevizError, ValueError):
    """Latent codes or projection parameters cannot be mapped."""


class TrainingDiverged(AevizError, RuntimeError):
    """Training produced a NaN/inf loss; the model keeps its last good weights."""

    def __init__(self, message: str, epoch: int = -1, step: int = -1):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
