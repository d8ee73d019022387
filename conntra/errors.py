"""The exceptions conntra raises.

Every error is a :class:`ConntraError`; each subclass also derives from the
builtin a caller would naturally catch (``ValueError``, ``OSError``, ...), so
``except ValueError`` keeps working for code that does not know conntra.
"""

from __future__ import annotations


class ConntraError(Exception):
    """Base class of every error raised by conntra."""


class InputError(ConntraError, ValueError):
    """An argument has the wrong shape, dtype or values (NaN, out of range)."""


class ShapeError(InputError):
    """An array has the wrong number of dimensions or the wrong extent."""


class DTypeError(ConntraError, TypeError):
    """An array has a dtype conntra does not accept where it was passed."""


class LabelError(InputError):
    """Labels are not integers in ``0 .. n_classes - 1``."""


class ModelFormatError(ConntraError, ValueError):
    """A model file cannot be read (base class of the file errors below)."""


class NotAModelError(ModelFormatError):
    """The file does not start with the conntra magic bytes."""


class ModelVersionError(ModelFormatError):
    """The file was written by a format version this build does not read."""


class TruncatedModelError(ModelFormatError):
    """The file ends before the lengths in its header say it should."""


class CorruptModelError(ModelFormatError):
    """The checksum does not match, or the content is inconsistent."""


class DataError(ConntraError, ValueError):
    """A dataset file exists but its content is wrong (bad hash, bad header)."""


class DataNotFoundError(ConntraError, FileNotFoundError):
    """A dataset file is missing from every place it was looked for."""


class ComparisonResultError(ConntraError, ValueError):
    """A saved comparison result (``conntra compare --json``) cannot be read
    or does not have the layout docs/figures.md describes."""


class IdentifierError(ConntraError, ValueError):
    """A user-supplied C identifier (a prefix) is not a valid C identifier."""


class ToolchainError(ConntraError, RuntimeError):
    """A compiler or emulator needed for a command is missing or failed."""


class NativeError(ConntraError, RuntimeError):
    """The C core returned a status code; ``status`` holds it."""

    def __init__(self, message: str, status: int = -1):
        super().__init__(message)
        self.status = status


class NativeInputError(NativeError, ValueError):
    """The C core rejected its arguments (shape, range, scratch size)."""


class NativeMemoryError(NativeError, MemoryError):
    """The C core could not allocate memory it owns (trainer state)."""


class CheckpointError(ConntraError, ValueError):
    """A training checkpoint cannot be read or does not match the run resuming it."""


class OutputPathError(ConntraError, OSError):
    """An output directory or file cannot be created or written."""


class MissingDependencyError(ConntraError, ImportError):
    """An optional dependency (an extra such as ``conntra[sklearn]``) is not installed."""


class EnvironmentConfigError(ConntraError, ValueError):
    """A CONNTRA_* environment variable (CONNTRA_KERNELS, CONNTRA_NUM_THREADS,
    CONNTRA_FORCE_SCALAR) holds a value that is not allowed; the message names it."""


class UsageError(InputError):
    """A command-line option or setting has an invalid value (the command
    line exits with status 2 for it, as for any other usage error)."""


class DownloadError(ConntraError, OSError):
    """A dataset file could not be downloaded from any of the places tried."""


class MetadataError(InputError):
    """A model's free-form metadata is not plain JSON data (docs/format.md, 3.3)."""


class ModelReadError(ConntraError, OSError):
    """A model file cannot be opened or read (a directory, no permission)."""


class ModelNotFoundError(ModelReadError, FileNotFoundError):
    """No file exists at the path given to ``conntra.load``."""


class DistributedError(ConntraError, RuntimeError):
    """A data-parallel run cannot go on: its ranks were launched inconsistently
    (another batch split, other data, another conntra) or one of them failed.
    Raised on every rank together (``collective``)."""

    collective = True
