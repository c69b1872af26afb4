from django.urls import path

from legacy_monolith.catalog import views

urlpatterns = [
    path("products", views.ProductCollectionView.as_view(), name="api-products"),
    path("products/<str:sku>", views.ProductDetailView.as_view(), name="api-product"),
    path("inventory/<str:sku>", views.InventoryView.as_view(), name="api-inventory"),
    path(
        "inventory/<str:sku>/reserve",
        views.InventoryReserveView.as_view(),
        name="api-inventory-reserve",
    ),
    path("export/products.csv", views.ProductCsvExportView.as_view(), name="api-export-products"),
]
