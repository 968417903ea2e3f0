"""Use cases over the domain, backends, access layer and store; the CLI and sidecar call only this."""
