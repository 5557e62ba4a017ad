"""Python client for the Fabriek REST API: `FabriekClient(server, token)`."""

from fabriek.client.errors import FabriekApiError
from fabriek.client.http import API_PREFIX, DEFAULT_SERVER, FabriekClient
from fabriek.client.models import ChainReport, CutoffReleased, Health, Page

__all__ = [
    "API_PREFIX",
    "DEFAULT_SERVER",
    "ChainReport",
    "CutoffReleased",
    "FabriekApiError",
    "FabriekClient",
    "Health",
    "Page",
]
