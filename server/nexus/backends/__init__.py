"""Workspace backends. Each one imports its SDK lazily."""
