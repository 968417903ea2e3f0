"""`nexus doctor`: checks that say why something does not work, and the safe fixes."""
