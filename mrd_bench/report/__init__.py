"""Reports: difficulty bins, plots, markdown."""
