"""NDTMS streams: the `ndtms` command, the shared wire contract and the local runtime."""
