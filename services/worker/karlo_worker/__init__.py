"""karlo-queue's Celery workers: run generation jobs against Karlo and store their images."""
