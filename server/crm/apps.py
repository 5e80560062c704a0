from django.apps import AppConfig


class CrmConfig(AppConfig):
    """The customer record over time: maintenance reminders, dormant customers, export and import,
    data protection (audit, erasure, retention)."""

    name = "server.crm"
    label = "crm"
