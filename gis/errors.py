"""The project's typed errors.

One root class, :class:`LandrecError`; each subclass also inherits the matching
builtin so callers can catch ``ValueError`` or ``OSError`` as usual.  Every error
carries a ``hint``: what the user can do about it.  Code never branches on an
error's message text.
"""

from __future__ import annotations


class LandrecError(Exception):
    """Root of every expected landrec error.

    ``exit_code`` is what the command line exits with; ``hint`` tells the user
    what to do next.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    @property
    def message(self) -> str:
        """The message without the hint."""
        return str(self.args[0]) if self.args else ""


class InputError(LandrecError, ValueError):
    """The input is wrong: a bad value, a malformed file, an impossible request."""

    exit_code = 2


class CRSError(InputError):
    """A coordinate reference system that cannot be resolved or does not fit."""


class MissingFileError(LandrecError, FileNotFoundError):
    """A file that was named does not exist or cannot be read."""

    exit_code = 2


class OutputExistsError(LandrecError, FileExistsError):
    """The output exists and ``--overwrite`` was not given."""

    exit_code = 2


class FormatError(InputError):
    """A file exists but its content cannot be read as the expected format."""


class GeoreferenceError(InputError):
    """Control points that cannot give a trustworthy transform."""


class DigitizeError(InputError):
    """A source sheet or drawing from which no parcels could be made."""


class TopologyError(InputError):
    """Geometry that breaks the cadastre's topology rules."""


class StoreError(LandrecError, RuntimeError):
    """The store (GeoPackage or PostGIS) cannot be opened or used."""


class NotFoundError(LandrecError, LookupError):
    """A looked-up object (parcel, sheet, version) does not exist."""

    exit_code = 3


class ConflictError(StoreError):
    """An edit lost a race with another edit, or the object has a pending change."""

    exit_code = 4
