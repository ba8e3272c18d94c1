"""The one exception type for mistakes a user can fix (the CLI prints it and exits with code 2), and the
one "did you mean" every message that names an unknown thing uses."""
from __future__ import annotations

import difflib
from typing import Iterable


class UserError(Exception):
    """A problem the user caused and can fix: wrong path, bad config value, corrupt file.

    The message names the thing and says how to fix it; the CLI shows it without a traceback.
    """


def did_you_mean(word: str, known: Iterable[str], n: int = 1) -> str:
    """' (did you mean 'x'?)' naming the closest of `known` ('x', 'y', ... for n > 1); '' when none is close."""
    close = difflib.get_close_matches(str(word), list(known), n=n)
    quoted = ", ".join(f"'{c}'" for c in close)
    return f" (did you mean {quoted}?)" if close else ""


def one_line(message: object) -> str:
    """A message as the one line every refusal is: its lines folded together."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())

