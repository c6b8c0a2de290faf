"""`msgen up`'s local dashboard: services, logs, traces, sagas, messaging, an API explorer, the service graph."""

from msgen.dashboard.collect import Target
from msgen.dashboard.server import Dashboard

__all__ = ["Dashboard", "Target"]
