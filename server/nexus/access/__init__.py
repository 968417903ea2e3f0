"""SSH access: keys, the asyncssh exec path, the managed ssh config and known_hosts."""
