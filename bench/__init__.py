"""Benchmarks (`make bench`): ratios against a raw-Kafka baseline measured in the same run."""
