"""Starts karlo-queue's processes on one machine: for `make run`, the tests and the benchmarks."""
