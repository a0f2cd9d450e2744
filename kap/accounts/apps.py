from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "kap.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from kap.accounts.middleware import stamp_login

        user_logged_in.connect(stamp_login, dispatch_uid="kap-stamp-login")
