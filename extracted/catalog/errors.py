"""Errors of the catalog service; the HTTP middleware maps each to one error code.

::

    CatalogError
    ├── InvalidProduct (ValueError)      422 invalid_product, details.field
    ├── InvalidParameter (ValueError)    400 invalid_parameter, details.parameter
    └── ProductNotFound (LookupError)    404 product_not_found, details.sku
"""

from __future__ import annotations


class CatalogError(Exception):
    """Root of every error the catalog raises on purpose."""


class InvalidProduct(CatalogError, ValueError):
    """A product field breaks a rule of the model; ``field`` is its JSON path."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidParameter(CatalogError, ValueError):
    """A query parameter cannot be used; ``parameter`` names it."""

    def __init__(self, message: str, *, parameter: str) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter


class ProductNotFound(CatalogError, LookupError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"product {sku} not found")
        self.message = f"product {sku} not found"
        self.sku = sku
