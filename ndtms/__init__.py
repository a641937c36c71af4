"""NDTMS streams: the platform's foundation (stream core, web, local runtime, observability, the
NDTMS rules, the erasure ledger, the continuity rule). It knows no service and no entry point.

The wire contract (`ndtms_contract`) and the publishing client a vendor embeds
(`from ndtms_client import EpisodePublisher`) are the `ndtms-client` distribution in
`clients/python`, installable alone; the entry points (the `ndtms` command, the pages, the
made-up feeds) are `ndtms_apps`.
"""
