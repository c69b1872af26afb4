from django.urls import path

from legacy_monolith.account import views

urlpatterns = [
    path("", views.home, name="home"),
    path("account/login", views.login_view, name="login"),
    path("account/logout", views.logout_view, name="logout"),
    path("account/", views.account_home, name="account"),
]
