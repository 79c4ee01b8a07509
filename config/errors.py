"""Errors of the configuration leaf."""

from __future__ import annotations


class SettingsError(ValueError):
    """A setting in the environment or `.env` is unknown or invalid; the message names each one on one line."""
