from django.apps import AppConfig


class TextingConfig(AppConfig):
    name = "texting"
