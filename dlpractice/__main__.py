"""`python -m dlpractice` is the `dlp` command."""
import sys

from .cli import entry

sys.exit(entry())
