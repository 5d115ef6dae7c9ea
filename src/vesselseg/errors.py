"""Exceptions that the command line turns into one clear line and a non-zero exit."""


class VesselsegError(Exception):
    """A problem the user can fix (bad path, unreadable file, bad config...).

    The CLI prints ``error: <message>`` and exits with status 2; it never shows a traceback for
    these. Messages name the offending file or key.
    """


class InputError(VesselsegError):
    """An input file or folder is missing, unreadable or malformed."""


class ConfigError(VesselsegError):
    """A configuration file or ``--set`` override is invalid."""


class TrainingError(VesselsegError):
    """Training cannot go on (the loss became NaN or infinite)."""


class OutputError(InputError):
    """An output could not be written (disk full, permissions, an existing file kept).

    ``errno`` is the operating system's code when there is one (``errno.ENOSPC``: disk full).
    """

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno

    @property
    def disk_full(self) -> bool:
        import errno as _errno

        return self.errno in (_errno.ENOSPC, _errno.EDQUOT)
