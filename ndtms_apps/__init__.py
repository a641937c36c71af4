"""The entry points people run, on top of every layer: the `ndtms` command (`cli`), the pages
the journey service serves (`pages`: /ops, the review desk, the rule document) and the made-up
feeds of the demo, the tests and the benchmarks (`feeds`). They may use any service; nothing
below imports them (tests/unit/test_layers.py)."""
