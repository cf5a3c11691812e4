"""A local stand-in for Kakao's Karlo REST API: same paths, limits and errors, deterministic images."""
