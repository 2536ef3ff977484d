"""Report notebooks and their rendering: arrive with their issue."""
