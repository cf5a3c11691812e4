"""karloq: the Python SDK of karlo-queue.

    from karloq import Client, GenerateInput

    with Client() as client:                     # KARLOQ_API_URL, KARLOQ_API_KEY
        result = client.run(GenerateInput(prompt="a cat in a spacesuit"), out_dir="imgs")
        print(result.files)

``AsyncClient`` is the same with ``await``; ``karloq.webhooks.verify`` checks webhook requests; the ``karloq``
command line is ``karloq.cli``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from karloq import webhooks
from karloq._ops import PollPolicy, RunResult
from karloq._retry import RetryPolicy
from karloq.async_client import AsyncClient
from karloq.client import Client
from karloq.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    BatchWaitTimeoutError,
    ConflictError,
    ConnectionFailedError,
    InvalidRequestError,
    JobFailedError,
    KarloqError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    ServerError,
    ServiceUnavailableError,
    WaitTimeoutError,
    WebhookVerificationError,
)
from karloq.events import StreamEvent
from karloq.models import (
    Backend,
    BackendLimits,
    Backlog,
    Batch,
    Capacity,
    Delivery,
    DeliveryAttempt,
    ExtendInput,
    FaceRefiner,
    FieldError,
    GenerateInput,
    Image,
    InpaintInput,
    Job,
    JobInput,
    JobKind,
    JobPage,
    JobStatus,
    Margins,
    Plan,
    Priority,
    ProblemDocument,
    Progress,
    QueuePosition,
    Quota,
    RotatedSecret,
    SecretInfo,
    VariationInput,
    WebhookOption,
    WebhookSettings,
)
from karloq.webhooks import WebhookEvent

__all__ = [
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "Backend",
    "BackendLimits",
    "Backlog",
    "BadRequestError",
    "Batch",
    "BatchWaitTimeoutError",
    "Capacity",
    "Client",
    "ConflictError",
    "ConnectionFailedError",
    "Delivery",
    "DeliveryAttempt",
    "ExtendInput",
    "FaceRefiner",
    "FieldError",
    "GenerateInput",
    "Image",
    "InpaintInput",
    "InvalidRequestError",
    "Job",
    "JobFailedError",
    "JobInput",
    "JobKind",
    "JobPage",
    "JobStatus",
    "KarloqError",
    "Margins",
    "NotFoundError",
    "PermissionDeniedError",
    "Plan",
    "PollPolicy",
    "Priority",
    "ProblemDocument",
    "Progress",
    "QueuePosition",
    "Quota",
    "RateLimitError",
    "RequestTooLargeError",
    "RetryPolicy",
    "RotatedSecret",
    "RunResult",
    "SecretInfo",
    "ServerError",
    "ServiceUnavailableError",
    "StreamEvent",
    "VariationInput",
    "WaitTimeoutError",
    "WebhookEvent",
    "WebhookOption",
    "WebhookSettings",
    "WebhookVerificationError",
    "__version__",
    "webhooks",
]
