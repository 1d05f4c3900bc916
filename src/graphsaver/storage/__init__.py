"""Storage engines: each runs the core's operations against one kind of database."""
