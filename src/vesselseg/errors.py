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
