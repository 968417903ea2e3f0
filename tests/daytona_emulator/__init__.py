"""A local emulator of the Daytona sandbox API, backed by real Docker containers."""

from .app import Emulator
from .config import EmulatorConfig, Quota
from .faults import FaultInjector, HttpFault
from .thread import EmulatorThread

__all__ = ["Emulator", "EmulatorConfig", "EmulatorThread", "FaultInjector", "HttpFault", "Quota"]
