"""The editor sidecar: Nexus over JSON-RPC 2.0 on stdio (LSP base protocol, pygls 2.x).

Thin adapters over ``WorkspaceService`` and ``ConfigManager``; the method contract is in
``docs/sidecar-protocol.md``. Importing this package does not import pygls.
"""
