"""Tracking: loggers (console, CSV, ...) and the figures of a run."""
