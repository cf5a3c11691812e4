"""Karlo's quotas (images per rolling minute, calendar day and calendar month), enforced in Redis."""
