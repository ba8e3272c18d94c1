"""The one exception type for mistakes a user can fix; the CLI prints it and exits with code 2."""


class UserError(Exception):
    """A problem the user caused and can fix: wrong path, bad config value, corrupt file.

    The message names the thing and says how to fix it; the CLI shows it without a traceback.
    """
