"""Continuity of care after prison (PHOF 2.16) over the public link records: the 21-day window,
the indicator and its companion report. Pure rules of plain data and an explicit day; the
linker judges by them, the journey service and the commands count by them."""
