"""The one exception type for mistakes a user can fix; the CLI prints it as a single line."""


class LitmlpError(Exception):
    """A bad config value, file or argument. The message names it and says what to do."""
