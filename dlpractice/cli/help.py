"""The help formatter of every `dlp` command: each option's default said once, where it tells something."""
from __future__ import annotations

import argparse


class Help(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults formatter, except where the help text already says its default ("(default: …)")
    or the default says nothing (None, False of a flag, an empty list): no second "(default: None)"."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "(default" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)
