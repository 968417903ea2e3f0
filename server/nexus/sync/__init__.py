"""File sync through Mutagen: finding the binary, Nexus's own daemon, and the sessions it runs."""
