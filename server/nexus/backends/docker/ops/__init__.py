"""Docker escape hatches (PRD §4.2): importing this package registers them."""
