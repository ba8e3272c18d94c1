"""`python -m dlpractice` is the `dlp` command."""
import sys

from .cli import main

sys.exit(main())
