import pytest

from notifications.gateways import memory


@pytest.fixture(autouse=True)
def _sms_to_memory(settings):
    """Every test sends SMS to the in-memory provider and starts with an empty list."""
    settings.SMS_PROVIDER = "memory"
    settings.SMS_SIGNATURE = "品牌"
    settings.DISPATCH_REPLAN_DEBOUNCE_SECONDS = 0
    settings.DISPATCH_REPLAN_SECONDS = 1.0
    memory.reset()
    yield
    memory.reset()
