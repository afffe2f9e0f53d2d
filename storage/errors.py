"""Errors the Store raises; SQLAlchemy's own errors never leave the storage package."""


class StorageError(RuntimeError):
    """A database operation failed; the message says what was attempted and why it failed."""


class NotFound(StorageError):
    """A row asked for by its id (or key) does not exist; each kind of row has its own subclass."""


class RunNotFound(NotFound):
    pass


class EvaluationNotFound(NotFound):
    """No evaluation or playground job has this id."""


class ExperimentNotFound(NotFound):
    pass


class CheckpointNotFound(NotFound):
    """The run has no checkpoint at this step; the message names the steps it has."""


class InvalidTransition(StorageError):
    """A run was asked to move to a status its current status does not allow."""
