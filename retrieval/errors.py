"""Errors of the retrieval layer (index and ingest problems), in a leaf module so that every layer
above can catch them without importing the store."""

from __future__ import annotations


class IndexError_(RuntimeError):
    """Base class for index problems (named so as not to shadow the builtin IndexError)."""


class IndexMissingError(IndexError_):
    """There is no index yet."""


class IndexCorruptError(IndexError_):
    """An index file is missing or unreadable."""


class ModelMismatchError(IndexError_):
    """The index was built with another embedding model than the one configured."""


class IngestError(ValueError):
    """A file that cannot be indexed; the message says why in one line."""


class UnsupportedFileError(IngestError):
    """The file type is not an article format newsbot reads."""


class StoreUnavailableError(IndexError_):
    """The configured database cannot be reached, or its client libraries are not installed."""


class IndexBusyError(IndexError_):
    """Another process holds the index's writer lock and the caller chose not to wait."""


class DataDirError(IndexError_):
    """The data folder cannot hold the index: it is a file, read-only, not ours to write, or full.
    The message names the folder and what to do."""


class DiskFullError(DataDirError):
    """The disk holding the data folder filled up while writing; the previous index is unchanged."""
