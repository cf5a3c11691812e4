"""karlo-queue's shared library: settings, job model and store, Karlo client, storage."""

__version__ = "0.1.0"
