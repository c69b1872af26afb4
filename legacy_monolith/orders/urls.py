from django.urls import path

from legacy_monolith.orders import views

urlpatterns = [
    path("orders", views.OrderCollectionView.as_view(), name="api-orders"),
    path("orders/<str:order_no>", views.OrderDetailView.as_view(), name="api-order"),
    path("orders/<str:order_no>/cancel", views.OrderCancelView.as_view(), name="api-order-cancel"),
]
