"""Generators for files under ``deploy/`` that must stay in step with a source of truth."""
