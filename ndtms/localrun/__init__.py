"""The local runtime: a real Kafka broker and schema registry run as processes of this machine."""
