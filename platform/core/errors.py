"""Domain errors and the one DRF handler that renders them.

Services raise ApplicationError subclasses; the API turns them into
`{"message": ..., "extra": {...}}` with the subclass's status code."""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class Forbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT


class Locked(ApplicationError):
    status_code = status.HTTP_423_LOCKED


class ServiceUnavailable(ApplicationError):
    """A service the platform depends on (job queue, image store) is down."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "extra": exc.extra}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = exceptions.ValidationError(detail=detail)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DataError) and "NUL (0x00)" in str(exc):
        # Found by the schema fuzzer: a NUL in a lookup value (a slug, a filter)
        # reaches the database driver, which refuses it. Client input, not a bug.
        exc = exceptions.ParseError("Text must not contain NUL characters.")
    return exception_handler(exc, context)
