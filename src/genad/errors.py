"""Errors a user can cause. The CLI prints them in one line and exits 2."""


class GenadError(Exception):
    """Base class: something the user can fix; the message says what to do."""


class DataError(GenadError):
    """A data path, file or image that cannot be used as given."""


class ConfigError(GenadError):
    """An unknown name, an option out of range, or options that do not fit together."""


class NotFittedError(GenadError):
    """A detector was used before `fit` (or `load`)."""


class TrainingError(GenadError):
    """Training diverged (NaN/inf loss) or cannot continue."""
