"""soundsentry: anomalous sound detection for machines, from normal recordings only."""

from soundsentry.errors import AudioError, ConfigError, DataError, LayoutError, SoundSentryError
from soundsentry.types import Clip, Domain, Label, Split

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "Clip",
    "ConfigError",
    "DataError",
    "Domain",
    "Label",
    "LayoutError",
    "SoundSentryError",
    "Split",
    "__version__",
]
