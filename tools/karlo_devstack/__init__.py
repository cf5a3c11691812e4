"""Starts karlo-queue's processes on one machine (for `make run`, the tests and the benchmarks), and a webhook
receiver to try webhooks with (``python -m karlo_devstack.receiver``)."""
