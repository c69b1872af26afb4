from django.urls import path

from legacy_monolith.files import views

urlpatterns = [
    path("files", views.FileUploadView.as_view(), name="api-files"),
    path("files/<int:file_id>", views.FileDownloadView.as_view(), name="api-file"),
    path("blob", views.BlobView.as_view(), name="api-blob"),
]
