"""Errors the Store raises; SQLAlchemy's own errors never leave the storage package."""


class StorageError(RuntimeError):
    """A database operation failed; the message says what was attempted and why it failed."""


class RunNotFound(StorageError):
    pass


class InvalidTransition(StorageError):
    """A run was asked to move to a status its current status does not allow."""
