"""The preview proxy: a local HTTP endpoint on 127.0.0.1 that reaches a port of a workspace.

Two upstreams: a TCP relay over the workspace's SSH connection (``ssh_tunnel``, ``relay``), and
an HTTP/1.1 reverse proxy to a backend's preview URL that adds the URL's token itself
(``http_proxy``). ``server`` listens; ``state`` keeps the records of background previews.
Nothing here knows which backend it serves: ``nexus.service.preview`` chooses.
"""
