"""Benchmarks behind `newsbot bench` (top floor, beside `bot/`: only the CLI's bench command imports it),
for retrieval quality on XQuAD, answer latency, indexing throughput and vector search at scale.

Each suite is a function that takes settings and options and returns plain JSON-able dicts; `report`
turns them into results.json, results.md and the latency plot. Nothing here asserts a timing: the
targets are reported next to the figures, and the test suite only checks that each suite runs.
"""
