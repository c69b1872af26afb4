from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "legacy_monolith.files"
    label = "files"
