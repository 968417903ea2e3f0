"""Usage arithmetic: resource-hours and cost estimates from the recorded status transitions."""
