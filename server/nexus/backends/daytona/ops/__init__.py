"""Daytona escape hatches (PRD §4.2): importing this package registers them."""

from . import files as files
from . import lsp as lsp
from . import previews as previews
from . import processes as processes
from . import snapshots as snapshots
