"""The catalog's unit of work: the chassis's transaction around the product repository.

Leaving the ``with`` block without ``commit()`` rolls back. Synchronous: the HTTP layer runs
each use case in a worker thread.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from extracted.catalog.adapters.repository import ProductRepository, SqlAlchemyProductRepository
from extracted.chassis import unit_of_work as chassis


class UnitOfWork(chassis.UnitOfWork):
    products: ProductRepository


class SqlAlchemyUnitOfWork(chassis.SqlAlchemyUnitOfWork, UnitOfWork):
    def open_repositories(self, session: Session) -> None:
        self.products = SqlAlchemyProductRepository(session)
