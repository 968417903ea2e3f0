"""Nexus: isolated workspaces on pluggable backends, reached over SSH."""

__version__ = "0.1.0"
