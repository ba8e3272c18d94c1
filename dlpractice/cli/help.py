"""The help formatter of every `dlp` command: each option's default said once, where it tells something."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import fields

from ..config import _SECTION_TYPES
from ..fields import range_text


class Help(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults formatter, except where the help text already says its default ("(default: …)")
    or the default says nothing (None, False of a flag, an empty list): no second "(default: None)"."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "(default" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def describe_defaults() -> str:
    """Every setting with its default and reason, for --help."""
    lines = []
    for s, cls in _SECTION_TYPES.items():
        for f in fields(cls):
            d = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            m = f.metadata
            allowed = (f"in {range_text(m)}; " if range_text(m) else "") + \
                (f"at most {m['max_len']} characters; " if m.get("max_len") else "") + \
                (f"one of {', '.join(map(str, m['choices']))}; " if m.get("choices") else "")
            lines.append(f"  {s}.{f.name} = {d!r}  # {allowed}{m['help']}")
    return "\n".join(lines)
