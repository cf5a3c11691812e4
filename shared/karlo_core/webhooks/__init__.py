"""Webhooks: signed job events delivered from an outbox, off the generation path.

events    event names and the job statuses they mark
signing   Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature) with whsec_ secrets
secrets   per-tenant signing secrets and their rotation with a grace period
schedule  the retry timetable, jitter and Retry-After
outbox    delivery records, the due schedule, dead letters, disabled endpoints, tenant defaults
sender    one HTTP attempt and what it means (delivered, retry, gone, failed)
delivery  one delivery run: render, sign, send through the SSRF guard, record
factory   building these from settings, once per process
"""
