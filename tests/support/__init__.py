"""Helpers the tests share: talking to the API over HTTP and waiting on conditions."""
