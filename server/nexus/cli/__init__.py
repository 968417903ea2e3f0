"""The `nexus` command line: a thin adapter over the service layer."""
