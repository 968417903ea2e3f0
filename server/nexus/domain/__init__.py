"""Domain models and contracts: no I/O, no third-party SDKs."""
