"""Linker: prison releases and community engagement within 21 days, as the data arrives."""
