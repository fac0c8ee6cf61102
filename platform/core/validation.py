"""Request bodies checked by a DRF serializer, for the API views."""

from typing import Any


def validated(serializer_class: type, data: Any) -> dict[str, Any]:
    """The serializer's validated data; a ValidationError (400) otherwise."""
    body = serializer_class(data=data)
    body.is_valid(raise_exception=True)
    return dict(body.validated_data)
