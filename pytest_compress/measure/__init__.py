"""Measurement: size (bytes shipped), metric (per-example outcomes), latency (interleaved A/B)."""
