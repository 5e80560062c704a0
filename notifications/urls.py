from django.urls import path  # noqa: F401

app_name = "notifications"

# The SMS providers' webhooks (delivery reports, replies).
urlpatterns: list = []
