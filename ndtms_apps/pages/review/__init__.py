"""The probable-match review desk, shared by `ndtms matches` and the journey API (an entry point:
the journey service hosts its HTTP routes, `http`).

The queue is `ndtms.links.candidates` (compacted): the latest record per key, a tombstone
removing it. The CLI reads it once to its end; the journey service follows it in a thread.
Side by side, the only place attributors are shown, reads the linker's record of the two
episodes from its state changelog. A decision is audited first, then written to
`ndtms.links.decisions` and acknowledged; the linker then republishes the candidate with it.
"""
