"""Benchmarks for tinygrad_attn: workloads, reference implementations and the runner."""
