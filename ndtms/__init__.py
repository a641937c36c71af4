"""NDTMS streams: the platform's foundation (stream core, web, local runtime, observability)
and its entry points (the `ndtms` command, the pages).

The wire contract (`ndtms_contract`) and the publishing client a vendor embeds
(`from ndtms_client import EpisodePublisher`) are the `ndtms-client` distribution in
`clients/python`, installable alone.
"""
