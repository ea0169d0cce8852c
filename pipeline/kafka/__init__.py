"""Kafka plumbing: the embedded broker, the faust app with a safe producer, raw clients."""
