"""User-facing errors.

Every mistake a user can make (bad audio, unknown file names, bad configs) raises a subclass of
:class:`SoundSentryError` whose message is one line: what was expected, what was found, how to fix it.
The CLI prints that line and exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations


class SoundSentryError(Exception):
    """Base class for errors caused by user input; the CLI prints them as one line."""


class AudioError(SoundSentryError, ValueError):
    """An audio file cannot be used (corrupt, empty, NaN, wrong rate, too short ...)."""


class LayoutError(SoundSentryError, ValueError):
    """A data folder or file name does not follow a known layout."""


class ConfigError(SoundSentryError, ValueError):
    """A recipe, option or registry name is invalid."""


class DataError(SoundSentryError, ValueError):
    """A manifest, scores file or other intermediate file is invalid or inconsistent."""
