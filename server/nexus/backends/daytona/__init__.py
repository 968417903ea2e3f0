"""The Daytona backend, on the `daytona` SDK (imported lazily: it costs over a second)."""
