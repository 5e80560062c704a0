from django.apps import AppConfig
from django.db.models.signals import post_save, pre_save


class AccountsConfig(AppConfig):
    name = "server.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.contrib.auth.models import User

        from server.accounts import signals

        pre_save.connect(signals.user_note_credential_change, sender=User, dispatch_uid="accounts.user_note_change")
        post_save.connect(
            signals.user_revoke_tokens_after_change, sender=User, dispatch_uid="accounts.user_revoke_tokens"
        )
