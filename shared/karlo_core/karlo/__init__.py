"""Kakao Karlo: its published limits, wire shapes and an HTTP client."""
