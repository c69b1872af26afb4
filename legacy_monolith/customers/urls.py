from django.urls import path

from legacy_monolith.customers import views

urlpatterns = [
    path("customers/<int:cust_id>", views.CustomerDetailView.as_view(), name="api-customer"),
]
