"""``nexus lsp``: an editor's language-server traffic relayed to a server that sees the workspace.

framing: LSP's Content-Length framing; uris: local <-> workspace URI rewriting; ssh_link: a
language server run over an SSH exec channel; proxy: the relay loop between editor and server.
"""
