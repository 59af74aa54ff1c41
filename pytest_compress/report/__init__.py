"""Reporting: rows are built once from results; renderers only format them."""
