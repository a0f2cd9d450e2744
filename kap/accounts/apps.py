from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "kap.accounts"
    label = "accounts"
