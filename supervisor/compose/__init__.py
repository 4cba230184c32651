"""Resolve compose files and the environment exactly as Docker Compose v2 does."""
