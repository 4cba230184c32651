"""Validate, audit and launch an AT Protocol AppView indexing stack."""

__version__ = "0.1.0"
