"""Daytona escape hatches (PRD §4.2): importing this package registers them."""

from . import previews as previews
from . import snapshots as snapshots
