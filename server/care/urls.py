from django.urls import path  # noqa: F401

app_name = "care"

# Pages of this app in the staff console (templates extend "console/base.html").
urlpatterns: list = []
