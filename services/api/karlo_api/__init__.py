"""karlo-queue's HTTP API: accepts jobs, shows them, and serves locally stored images."""
