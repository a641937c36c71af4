"""The public wire contract shared by every service and the publishing client.

Pydantic models of the events (`episodes`, `findings`, `links`, `journeys`), the topic
catalogue, the pseudonymous client key, the shape checks of an update (`parsing`), the Avro
transcoder and the platform settings. The `.avsc` files under `schemas/` here are the source
of truth of the bytes on the wire; the models mirror them and a unit test keeps the two in
step. It imports nothing of the platform: the `ndtms-client` distribution ships it as it is.
"""

# The contract's version: the AsyncAPI document's `info.version` (a test keeps them equal), and
# the `ndtms-client` distribution's, which reads it from here.
__version__ = "1.0.0"
