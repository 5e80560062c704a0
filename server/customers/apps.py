from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "server.customers"
    label = "customers"
