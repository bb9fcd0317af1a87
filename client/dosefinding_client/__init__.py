"""Python client of the dose-finding decision service (``dosefinding.v1``)."""

from .client import DoseFindingClient, ServiceError
from .designs import design_from_stages

__all__ = ["DoseFindingClient", "ServiceError", "design_from_stages"]
